/**
 * Busy is not down on llama.cpp and vLLM (issue 19), end to end: the real daemon against simulated servers with
 * one generation slot that an app keeps busy with streamed /v1 drafts. The daemon reads llama.cpp's GET /slots
 * and vLLM's GET /metrics (llama.cpp tools/server/README.md, vLLM "Production Metrics";
 * ../shared/reference/ollama-cloudflare.md section D): the canaries' waits are published as busy, within the
 * allowance, and neither node is judged slow although slowTtft is far below the wait.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import type { PublishedState } from '../../src/state/types';
import { sleep } from '../helpers/wait';

jest.setTimeout(120_000);

/** An app writing `draftMs` drafts one after another through /v1 (the simulator's x-simulator-draft-ms). */
function startApp(url: string, draftMs: number): { stop(): Promise<void> } {
  const ctl = new AbortController();
  const loop = (async () => {
    while (!ctl.signal.aborted) {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        signal: ctl.signal,
        headers: { 'content-type': 'application/json', 'x-simulator-draft-ms': String(draftMs) },
        body: JSON.stringify({ model: 'qwen3:8b', stream: true, messages: [{ role: 'user', content: 'write a report' }] }),
      });
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) void chunk;
    }
  })().catch(() => undefined);
  return {
    stop: async () => {
      ctl.abort();
      await loop;
    },
  };
}

describe('llama.cpp and vLLM busy signals (real daemon)', () => {
  let dir: string;
  let llama: Simulator;
  let vllm: Simulator;
  let daemon: DaemonProcess | undefined;
  const apps: Array<{ stop(): Promise<void> }> = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-busy-signal-'));
    llama = await startSimulator({ flavor: 'llamacpp', models: ['qwen3:8b'], parallel: 1 });
    vllm = await startSimulator({ flavor: 'vllm', models: ['qwen3:8b'], parallel: 1 });
  });
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.stop();
    await daemon?.kill9();
    daemon = undefined;
    await llama.close();
    await vllm.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an app holds the only slot on both: each canary waits, both stay up and are published busy with the wait', async () => {
    apps.push(startApp(llama.url, 3_000), startApp(vllm.url, 3_000));
    const stateFile = join(dir, 'state.json');
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      `instance: e2e
nodes:
  - { name: primary, url: "${llama.url}", api: openai, model: qwen3:8b }
  - { name: fallback, url: "${vllm.url}", api: openai, model: qwen3:8b }
probes: { liveness: { interval: 1s }, canary: { interval: 2s, timeout: 10s, queueAllowance: 8s } }
decision: { slowTtft: 1s }
selfCheck: { witnesses: ["tcp://127.0.0.1:${llama.port}"] }
stateFile: state.json
database: sentinel.db
log: { level: info }
`,
    );
    daemon = spawnDaemon(['run', '--config', config]);
    const queue = (s: PublishedState, name: string) => s.nodes.find((n) => n.name === name)?.queue;
    const first = await waitForState(stateFile, (s) => queue(s, 'primary')?.busy === true && queue(s, 'fallback')?.busy === true, 60_000, 250);
    expect(queue(first, 'primary')?.waitMs).toBeGreaterThan(300);
    expect(queue(first, 'fallback')?.waitMs).toBeGreaterThan(300);
    // Several more canaries: waits far over slowTtft never make either node slow.
    const seen: PublishedState[] = [];
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      const s = readState(stateFile);
      if (s) seen.push(s);
      await sleep(250);
    }
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((s) => statusOf(s, 'primary') !== 'up' || statusOf(s, 'fallback') !== 'up').map((s) => [statusOf(s, 'primary'), statusOf(s, 'fallback')])).toEqual([]);
    expect(seen.every((s) => s.preferred.name === 'primary')).toBe(true);
  });
});
