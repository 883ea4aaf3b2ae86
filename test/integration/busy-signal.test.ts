/**
 * llama.cpp's and vLLM's busy signals read beside the canary, against the simulator (issue 19). The simulator's
 * /slots and /metrics follow llama.cpp's tools/server/README.md ("GET /slots", "GET /metrics") and vLLM's
 * "Production Metrics" docs, as summed up in ../shared/reference/ollama-cloudflare.md section D.
 */
import type { Agent } from 'undici';
import { parseConfig, type NodeConfig } from '../../src/config';
import { judgeCanary, judgeSpeed, nextQueueView, NO_QUEUE } from '../../src/core/busy';
import type { Flavor } from '../../src/core/flavor';
import { createProbeAgent, probeCanary, type ProbeSettings } from '../../src/probes';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator';
import { waitFor } from '../helpers/wait';

let sim: Simulator | undefined;
let agent: Agent | undefined;
let app: AbortController | undefined;
let appDone: Promise<unknown> | undefined;
afterEach(async () => {
  app?.abort();
  await appDone;
  app = undefined;
  await sim?.close();
  sim = undefined;
  await agent?.close();
  agent = undefined;
});

function setup(url: string): { node: NodeConfig; settings: ProbeSettings } {
  const c = parseConfig({ nodes: [{ name: 'primary', url, api: 'openai', model: 'qwen3:8b' }, { name: 'fallback', url: 'http://127.0.0.1:9' }], probes: { canary: { timeout: '10s' } } }, {});
  return { node: c.nodes[0] as NodeConfig, settings: c.probes };
}

const policy = { slowTtft: 5_000, slowTotal: 20_000, queueAllowance: 45_000, livenessFreshMs: 13_000 };

/** An app's streamed /v1 draft of `draftMs` holding the only slot (the simulator's x-simulator-draft-ms). */
function startDraft(url: string, draftMs: number): void {
  app = new AbortController();
  const signal = app.signal;
  appDone = (async () => {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', 'x-simulator-draft-ms': String(draftMs) },
      body: JSON.stringify({ model: 'qwen3:8b', stream: true, messages: [{ role: 'user', content: 'write a report' }] }),
    });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) void chunk;
  })().catch(() => undefined);
}

async function canaryOn(flavor: Flavor, opts: SimulatorOptions, busy: boolean) {
  const s = (sim = await startSimulator({ flavor: flavor as SimulatorOptions['flavor'], models: ['qwen3:8b'], parallel: 1, tokenDelayMs: 5, ...opts }));
  const { node, settings } = setup(s.url);
  agent = createProbeAgent(settings);
  if (busy) {
    startDraft(s.url, 1_500);
    await waitFor('the app generating', () => s.slots.running === 1);
  }
  const r = await probeCanary(node, settings, { dispatcher: agent }, { flavor, knobRejected: false });
  return judgeCanary(r, undefined, policy);
}

describe('busy signal read beside the canary', () => {
  test.each<[string, Flavor, SimulatorOptions, string]>([
    ['llama.cpp /slots', 'llamacpp', {}, 'slots'],
    ['llama.cpp /metrics (--no-slots --metrics)', 'llamacpp', { busyEndpoints: { slots: false, metrics: true } }, 'metrics'],
    ['vLLM /metrics', 'vllm', {}, 'metrics'],
  ])('%s: an app holds the only slot → the signal is found, busy read, the wait measured, the node busy not slow', async (_name, flavor, opts, signal) => {
    const r = await canaryOn(flavor, opts, true);
    expect(r.reason).toBe('ok');
    expect(r.busySignal).toMatchObject({ signal, busy: true });
    expect(r.queueMs).toBeGreaterThan(300);
    expect(r.detail).toMatch(/waited .* for a generation slot \(busy, not slow\)/);
    // Published the same way as Ollama's wait: nodes[].queue, /metrics, the status page read this view.
    expect(nextQueueView(NO_QUEUE, r, policy)).toMatchObject({ busy: true, waitMs: r.queueMs });
  });

  test.each<[string, Flavor, SimulatorOptions, string]>([
    ['llama.cpp /slots', 'llamacpp', {}, 'slots'],
    ['vLLM /metrics', 'vllm', {}, 'metrics'],
  ])('%s, no app: the signal is found and the node is not busy', async (_name, flavor, opts, signal) => {
    const r = await canaryOn(flavor, opts, false);
    expect(r.reason).toBe('ok');
    expect(r.busySignal).toMatchObject({ signal, busy: false });
    expect(r.queueMs).toBeUndefined();
    expect(nextQueueView(NO_QUEUE, r, policy).busy).toBe(false);
  });

  test.each<[string, Flavor, SimulatorOptions, string]>([
    ['llama.cpp /slots', 'llamacpp', {}, 'slots'],
    ['llama.cpp /metrics', 'llamacpp', { busyEndpoints: { slots: false, metrics: true } }, 'metrics'],
    ['vLLM /metrics', 'vllm', {}, 'metrics'],
  ])('%s, no app, a slow node: its own slot is not a queue, the slow first token is judged slow', async (_name, flavor, opts, signal) => {
    // 400 ms of "prompt evaluation", then tokens 400 ms apart: the first token comes after ~800 ms of work.
    const r = await canaryOn(flavor, { ...opts, tokenDelayMs: 400 }, false);
    expect(r.reason).toBe('ok');
    expect(r.busySignal).toMatchObject({ signal, busy: false });
    expect(r.queueMs).toBeUndefined();
    expect(judgeSpeed(r, { ...policy, slowTtft: 500 }).slow).toBe(true);
  });

  test('llama.cpp with --no-slots and without --metrics: no signal, never busy, the canary unharmed', async () => {
    const r = await canaryOn('llamacpp', { busyEndpoints: { slots: false, metrics: false } }, true);
    expect(r.reason).toBe('ok');
    expect(r.busySignal).toMatchObject({ signal: 'none', busy: false });
    // It did wait behind the app, but nothing measured that: no wait is made up.
    expect(r.ttftMs).toBeGreaterThan(300);
    expect(r.queueMs).toBeUndefined();
  });
});
