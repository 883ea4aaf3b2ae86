import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(60_000);

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { env: { PATH: process.env.PATH, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('llm-sentinel check and status (the real CLI)', () => {
  let nodes: TwoNodes;
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-check-', { fallback: { models: ['qwen3:1.7b'] } });
    ({ dir, primary, fallback } = nodes);
    env = { OLLAMA_PRIMARY_URL: primary.url, OLLAMA_FALLBACK_URL: fallback.url, STATE_DIRECTORY: dir };
  });
  afterEach(async () => {
    await nodes.close();
  });

  test('check: a table of verdicts, reasons, servers and thinking control; a node without a model uses its only one', async () => {
    await primary.setFault('cf_tunnel_down');
    const r = await cli(['check'], env);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^NODE\s+VERDICT\s+REASON\s+SERVER\s+MODEL\s+THINKING\s+TTFT\s+TOK\/S\s+LOAD\s+DETAIL/m);
    expect(r.out).toMatch(/^primary\s+down\s+cloudflare_tunnel_down\s/m);
    // No model configured and none named by OLLAMA_MODEL: the fallback's only model is found, never a built-in name.
    expect(r.out).toMatch(/^fallback\s+up\s+ok\s+ollama 0\.12\.6\s+qwen3:1\.7b \(found\)\s+think:false, 8 tok\s/m);
    expect(r.out).toMatch(/^fallback: busy signal: final-chunk durations — slot wait from the final chunk's durations/m);
    // No witnesses configured: said once, on stderr.
    expect(r.err.match(/no selfCheck\.witnesses/g)).toHaveLength(1);
  });

  test('no model configured and a node with several, none loaded: check, validate and run refuse (78) listing them', async () => {
    const many = await startSimulator({ models: ['llama3.2', 'qwen3:8b', 'mistral:7b'] });
    try {
      const e = { ...env, OLLAMA_PRIMARY_URL: many.url };
      for (const cmd of [['check'], ['validate'], ['run']]) {
        const r = await cli(cmd, e);
        expect([cmd[0], r.code]).toEqual([cmd[0], 78]);
        expect(r.err).toMatch(/nodes\[0\]\.model: primary: no model configured, none loaded and 3 installed \(llama3\.2:latest, qwen3:8b, mistral:7b\)|nodes\[0\] primary: no model configured, none loaded and 3 installed/);
      }
      // Once one is loaded, it is the one.
      await fetch(`${many.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'mistral:7b', keep_alive: '5m' }) });
      const ok = await cli(['validate'], e);
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(/primary: no model configured; using mistral:7b/);
    } finally {
      await many.close();
    }
  });

  test('check on vLLM that refuses the thinking knob and llama.cpp: the server, the knob dropped after a 400, keep-warm skipped', async () => {
    const vllm = await startSimulator({ flavor: 'vllm', models: ['qwen3:8b'], rejectThinkingKnob: true });
    const llama = await startSimulator({ flavor: 'llamacpp', models: ['qwen3:8b'] });
    try {
      const config = join(dir, 'openai.yaml');
      writeFileSync(
        config,
        `nodes:\n  - { name: primary, url: "${vllm.url}", api: openai }\n  - { name: fallback, url: "${llama.url}", api: openai }\nselfCheck: { witnesses: ["tcp://127.0.0.1:${vllm.port}"] }\n`,
      );
      const r = await cli(['check', '--json', '--config', config], { STATE_DIRECTORY: dir });
      expect(r.code).toBe(0);
      const nodes = JSON.parse(r.out) as Array<Record<string, unknown>>;
      expect(nodes[0]).toMatchObject({ model: 'qwen3:8b', modelDiscovered: true, status: 'up', server: { flavor: 'vllm' }, thinking: { knob: 'none', knobRejected: true, noThink: true, maxTokens: 64 }, keepWarm: null });
      expect(nodes[1]).toMatchObject({ status: 'up', server: { flavor: 'llamacpp' }, thinking: { knob: 'chat_template_kwargs', knobRejected: false, maxTokens: 8 } });
      // Which busy signal each node gives (docs/busy.md): vLLM its /metrics, llama.cpp its /slots (on by default);
      // idle servers, so read but not busy.
      expect(nodes[0]).toMatchObject({ busySignal: { signal: 'metrics', given: '/metrics', measured: true, text: expect.stringMatching(/num_requests_waiting/) as unknown, queueMs: null, reading: { busy: false } } });
      expect(nodes[1]).toMatchObject({ busySignal: { signal: 'slots', given: '/slots', measured: true, queueMs: null, reading: { busy: false, processing: 0 } } });
      expect(r.err).toMatch(/nodes\[0\] primary: vllm has no model load API: keep-warm is skipped/);
      expect(r.err).toMatch(/nodes\[1\] fallback: llamacpp has no model load API/);
      expect(r.err).not.toMatch(/witnesses/);
    } finally {
      await vllm.close();
      await llama.close();
    }
  });

  test('check names the busy signal of llama.cpp nodes: /metrics with --no-slots --metrics, none with neither', async () => {
    const withMetrics = await startSimulator({ flavor: 'llamacpp', models: ['qwen3:8b'], busyEndpoints: { slots: false, metrics: true } });
    const bare = await startSimulator({ flavor: 'llamacpp', models: ['qwen3:8b'], busyEndpoints: { slots: false, metrics: false } });
    try {
      const config = join(dir, 'llama.yaml');
      writeFileSync(config, `nodes:\n  - { name: primary, url: "${withMetrics.url}", api: openai }\n  - { name: fallback, url: "${bare.url}", api: openai }\nselfCheck: { witnesses: ["tcp://127.0.0.1:${bare.port}"] }\n`);
      const r = await cli(['check', '--config', config], { STATE_DIRECTORY: dir });
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^primary: busy signal: \/metrics — llama\.cpp: .*; read: 0 processing, 0 waiting$/m);
      expect(r.out).toMatch(/^fallback: busy signal: none \(start with --metrics or keep slots on\)$/m);
    } finally {
      await withMetrics.close();
      await bare.close();
    }
  });

  test('check --json: exit 0 with a healthy node, 1 with none', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'probes: { liveness: { timeout: 500ms }, canary: { timeout: 1s } }\n');
    const ok = await cli(['check', '--json', '--config', config], { ...env, OLLAMA_MODEL: 'qwen3:1.7b' });
    expect(ok.code).toBe(0);
    const fine = JSON.parse(ok.out) as Array<{ name: string; status: string; canary: { ok: boolean; ttftMs: number } }>;
    expect(fine.find((n) => n.name === 'fallback')).toMatchObject({ status: 'up', canary: { ok: true } });
    await primary.setFault('refuse');
    await fallback.setFault('hang');
    const r = await cli(['check', '--json', '--config', config], { ...env, OLLAMA_MODEL: 'qwen3:1.7b' });
    expect(r.code).toBe(1);
    const nodes = JSON.parse(r.out) as Array<{ name: string; status: string; reason: string }>;
    expect(nodes.map((n) => [n.name, n.status, n.reason])).toEqual([
      ['primary', 'down', 'refused'],
      ['fallback', 'down', 'timeout'],
    ]);
  });

  test('status: says plainly when the monitor looks dead; exit 1 when stale or missing', async () => {
    const missing = await cli(['status'], env);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no state file at .*state\.json \(ENOENT\): is the monitor running\?/);

    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const node = (name: string, priority: number, status: string) => ({
      name, url: `http://127.0.0.1:${11434 + priority}`, model: 'm', api: 'ollama', priority, status, since: old, statusReason: status === 'down' ? 'refused' : 'ok',
      lastCheckAt: old, lastOkAt: old, consecutiveFailures: 0, consecutiveSuccesses: 3,
      lastError: status === 'down' ? { reason: 'refused', message: 'connection refused', at: old } : null,
      latency: { ttftMs: 180, totalMs: 420, tokensPerSec: 38.5, loadMs: 0 },
    });
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({
        schemaVersion: 1, updatedAt: old, staleAfterMs: 30000,
        monitor: { instance: 'oracle-1', version: '0.1.0', pid: 1, startedAt: old },
        preferred: { name: 'fallback', url: 'http://127.0.0.1:11435', model: 'm', api: 'ollama' }, allDown: false,
        nodes: [node('primary', 0, 'down'), node('fallback', 1, 'up')],
      }),
    );
    const stale = await cli(['status'], env);
    expect(stale.code).toBe(1);
    expect(stale.out).toMatch(/WARNING: the monitor looks dead: the state was last written 10m0\ds ago \(stale after \d/);
    expect(stale.out).toMatch(/^Preferred: fallback/m);
    expect(stale.out).toMatch(/^primary\s+DOWN\s+10m0\ds ago/m);
    expect(stale.out).toMatch(/refused 10m0\ds ago: connection refused/);
    const json = await cli(['status', '--json'], env);
    expect(JSON.parse(json.out)).toMatchObject({ stale: true, state: { preferred: { name: 'fallback' } } });
  });
});
