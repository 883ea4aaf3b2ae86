import { parseConfig, type Config, type NodeConfig } from '../../src/config';
import { policyOf } from '../../src/config/policy';
import { judgeStall } from '../../src/core/busy';
import { isColdStart } from '../../src/core/decide';
import { Warmth } from '../../src/daemon/keep-warm';
import type { ProbeResult } from '../../src/probes/types';
import { createProbeAgent, probeCanary } from '../../src/probes';
import type { WarmthLoad } from '../../src/probes/keep-warm';
import { request } from '../../src/undici';
import { startSimulator, type Simulator } from '../../src/simulator';
import { systemClock, type Clock } from '../../src/util/clock';
import { captureLogger } from '../helpers/log';

// The daemon's keep-warm and canary choice against a real simulator (docs/keep-warm.md, docs/simulator.md "Memory").
const GB = 1e9;
const OLLAMA = { flavor: 'ollama' as const, knobRejected: false };

describe('Warmth against a simulated node', () => {
  let sim: Simulator;
  let config: Config;
  let agent: ReturnType<typeof createProbeAgent>;
  const recorded: WarmthLoad[] = [];
  const log = captureLogger('info');
  const setup = async (models: string[], primary: Record<string, unknown>) => {
    sim = await startSimulator({ models, memoryBytes: 6 * GB, modelSizes: { 'llama3.2': 4 * GB, 'qwen3:8b': 5 * GB }, loadMs: 50 });
    config = parseConfig({ nodes: [{ name: 'primary', url: sim.url, ...primary }, { name: 'fallback', url: 'http://127.0.0.1:9', model: 'llama3.2' }] }, {});
    agent = createProbeAgent(config.probes);
    return new Warmth({ config: () => config, clock: systemClock, logger: log.logger, dispatcher: () => agent, record: (_n, l) => void recorded.push(l), onLoad: () => undefined });
  };
  afterEach(async () => {
    recorded.length = 0;
    log.lines.length = 0;
    await agent.close();
    await sim.close();
  });
  const node = () => config.nodes[0] as NodeConfig;
  const appAsks = async () => {
    const res = await request(`${sim.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'hi', stream: false }), dispatcher: agent });
    await res.body.text();
  };
  const signal = new AbortController().signal;

  test('a listed model that is not installed: one warning naming it, never a load request', async () => {
    const w = await setup(['llama3.2'], { model: 'llama3.2', models: ['llama3.2', 'qwen3:80b'] });
    for (let i = 0; i < 3; i++) await w.run(node(), OLLAMA, signal);
    expect(sim.loads.map((l) => l.model)).toEqual(['llama3.2:latest']);
    expect(log.lines.filter((l) => l.includes('qwen3:80b is listed in nodes[].models but not installed'))).toHaveLength(1);
    expect(w.get('primary').notInstalled).toEqual(['qwen3:80b']);
    expect(recorded.map((l) => `${l.model} ${l.why}`)).toEqual(['llama3.2 first_load']);
  });

  test('the canary picks the model the apps have resident; keep-warm does not load beside it', async () => {
    const w = await setup(['llama3.2', 'qwen3:8b'], { model: 'qwen3:8b' });
    await appAsks();
    const pick = await w.pickCanary(node(), OLLAMA, signal);
    expect(pick).toEqual({ node: expect.objectContaining({ model: 'llama3.2:latest' }), resident: true });
    await w.run(node(), OLLAMA, signal);
    expect(sim.loads).toEqual([]);
    expect(sim.modelLoads.map((l) => l.model)).toEqual(['llama3.2:latest']);
    expect(log.lines.some((l) => l.includes('no_room') || l.includes('evicted'))).toBe(false);
  });

  test('a canary on a model seen resident just before is no cold start, however long its load_duration', async () => {
    // Ollama's load_duration runs from the handler's entry until a runner is obtained, so it includes the
    // scheduler's queue (another model loading, a busy runner draining): reference section D.
    const w = await setup(['llama3.2'], { model: 'llama3.2' });
    await appAsks();
    const pick = await w.pickCanary(node(), OLLAMA, signal);
    expect(pick.loads).toBeUndefined();
    const probed: ProbeResult = { node: 'primary', kind: 'canary', ok: true, reason: 'ok', startedAt: Date.now(), durationMs: 6_000, ttftMs: 5_900, totalMs: 6_000, loadMs: 5_500 };
    const result = await w.afterCanary(pick, 'llama3.2', probed, signal);
    expect(result.loadCause).toBe('resident');
    expect(isColdStart(result, policyOf(config))).toBe(false);
    // Control: without a look that saw the model (/api/ps unreadable), the load time alone judges, as before.
    const unseen = await w.afterCanary({ node: pick.node }, 'llama3.2', probed, signal);
    expect(isColdStart(unseen, policyOf(config))).toBe(true);
    // A look that failed leaves an older picture: it vouches for nothing.
    const stale = await w.pickCanary({ ...node(), url: 'http://127.0.0.1:9' }, OLLAMA, signal);
    expect(stale.resident).toBeUndefined();
  });

  test('a canary that timed out while loading its model is a slow load, not a stalled runner', async () => {
    const w = await setup(['llama3.2'], { model: 'llama3.2' });
    const pick = await w.pickCanary(node(), OLLAMA, signal);
    expect(pick.loads).toBe('first_load');
    const timedOut: ProbeResult = { node: 'primary', kind: 'canary', ok: false, reason: 'timeout', startedAt: 1_000, durationMs: 75_000, detail: 'no first token within 1m 15s (deadline)' };
    const result = await w.afterCanary(pick, 'llama3.2', timedOut, signal);
    expect(result.loadCause).toBe('first_load');
    const judged = judgeStall(result, { ok: true, at: 70_000 }, { livenessFreshMs: 13_000 });
    expect(judged.reason).toBe('timeout');
    expect(judged.detail).toContain('its model was loading (first load), not stalled');
  });

  test("api: openai on Ollama: the canary's load is claimed for Ollama's default keep_alive (it sends none), so an app's use of the model is seen and the model guarded", async () => {
    await setup(['llama3.2', 'qwen3:8b'], { api: 'openai', model: 'llama3.2', models: ['qwen3:8b'] });
    // The monitor's clock 10 minutes behind the node's: the claim then ends before the app's keep_alive does
    // when (and only when) it is as long as the keep_alive the canary's request really had (5 minutes).
    const behind: Clock = { now: () => Date.now() - 600_000, mono: () => performance.now() };
    const w = new Warmth({ config: () => config, clock: behind, logger: log.logger, dispatcher: () => agent, record: (_n, l) => void recorded.push(l), onLoad: () => undefined });
    const pick = await w.pickCanary(node(), OLLAMA, signal);
    expect(pick).toMatchObject({ loads: 'first_load', claimed: true });
    const probed = await probeCanary(pick.node, config.probes, { dispatcher: agent }, OLLAMA);
    expect(probed.ok).toBe(true);
    expect(sim.lastRequestBody('/api/chat')).not.toHaveProperty('keep_alive');
    await w.afterCanary(pick, 'llama3.2', probed, signal);
    // An app uses the model through /v1 (Ollama's default keep_alive again).
    const res = await request(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }), dispatcher: agent });
    await res.body.text();
    // Keep-warm may not load qwen3:8b beside the apps' llama3.2 (fit unknown): loading it would evict theirs.
    await w.run(node(), OLLAMA, signal);
    expect(sim.loads.map((l) => l.model)).not.toContain('qwen3:8b');
    expect(w.get('primary')).toMatchObject({ monitorEvictions: 0, appModelsEvicted: 0 });
  });

  test('an app model resident and a listed model of unknown fit: not tried (no eviction to find out)', async () => {
    const w = await setup(['llama3.2', 'qwen3:8b'], { model: 'llama3.2', models: ['llama3.2', 'qwen3:8b'] });
    await appAsks();
    // The app's llama3.2 is resident (not the monitor's): qwen3:8b's fit is unknown, so it is not tried.
    await w.run(node(), OLLAMA, signal);
    expect(sim.loads).toEqual([]);
    expect(w.get('primary')).toMatchObject({ monitorEvictions: 0, appModelsEvicted: 0, conflict: null });
  });
});
