/**
 * The canary against a busy simulator (issue 19): it measures its slot wait from the final chunk, matches the
 * loaded runner's context so it never forces a reload, keeps keep-warm's keep_alive, and a canary abandoned at
 * its deadline leaves the queue. Durations and the queue follow ../shared/reference/ollama-cloudflare.md
 * section D; /api/ps `context_length` follows Ollama's api.md "List Running Models".
 */
import type { Agent } from 'undici';
import { parseConfig, type NodeConfig } from '../../src/config';
import { judgeCanary } from '../../src/core/busy';
import { createProbeAgent, probeCanary, type ProbeSettings } from '../../src/probes';
import { startLoad, startSimulator, type LoadGenerator, type Simulator } from '../../src/simulator';
import { waitFor } from '../helpers/wait';

let sim: Simulator | undefined;
let agent: Agent | undefined;
let load: LoadGenerator | undefined;
afterEach(async () => {
  await load?.stop();
  load = undefined;
  await sim?.close();
  sim = undefined;
  await agent?.close();
  agent = undefined;
});

function setup(url: string, canary: Record<string, unknown> = {}, api: 'ollama' | 'openai' = 'ollama'): { node: NodeConfig; settings: ProbeSettings } {
  const c = parseConfig({ nodes: [{ name: 'primary', url, api, model: 'llama3.2' }, { name: 'fallback', url: 'http://127.0.0.1:9' }], probes: { canary: { timeout: '10s', ...canary } } }, {});
  return { node: c.nodes[0] as NodeConfig, settings: c.probes };
}

/** What liveness told the daemon: an Ollama server (the canary reads /api/ps only then). */
const OLLAMA = { flavor: 'ollama' as const, knobRejected: false };

const speed = { slowTtft: 5_000, slowTotal: 20_000, queueAllowance: 45_000, livenessFreshMs: 13_000 };

describe('canary on a busy node', () => {
  test('queued behind a 1.5 s draft: ok, the wait measured from the durations, judged busy not slow', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    agent = createProbeAgent(setup(s.url).settings);
    load = startLoad({ url: s.url, model: 'llama3.2', draftMs: 1_500 });
    await waitFor('a draft generating', () => s.slots.running === 1);
    const { node, settings } = setup(s.url);
    const r = await probeCanary(node, settings, { dispatcher: agent }, OLLAMA);
    expect(r.reason).toBe('ok');
    expect(r.ttftMs).toBeGreaterThan(300);
    const judged = judgeCanary(r, undefined, speed);
    expect(judged.queueMs).toBeGreaterThan(300);
    // The work after the wait was quick: the first token minus the wait is small.
    expect((r.ttftMs ?? 0) - (judged.queueMs ?? 0)).toBeLessThan(500);
    expect(judged.detail).toMatch(/waited .* for a generation slot \(busy, not slow\)/);
  });

  test('matches the loaded runner’s context (/api/ps context_length) when numCtx is not configured', async () => {
    const s = (sim = await startSimulator({ tokenDelayMs: 1 }));
    const { node, settings } = setup(s.url, { keepAlive: '45m' });
    agent = createProbeAgent(settings);
    // Nothing loaded: no num_ctx (Ollama's default, as before).
    expect((await probeCanary(node, settings, { dispatcher: agent }, OLLAMA)).reason).toBe('ok');
    expect((s.lastRequestBody('/api/chat') as { options: Record<string, unknown> }).options.num_ctx).toBeUndefined();
    // Now loaded: the same context as the runner.
    const ps = (await (await fetch(`${s.url}/api/ps`)).json()) as { models: Array<{ context_length: number }> };
    const ctx = ps.models[0]?.context_length;
    expect(ctx).toBeGreaterThan(0);
    expect((await probeCanary(node, settings, { dispatcher: agent }, OLLAMA)).reason).toBe('ok');
    // keep_alive is what keep-warm asks for (probes.canary.keepAlive), nothing else.
    expect(s.lastRequestBody('/api/chat')).toMatchObject({ keep_alive: '45m', options: { num_ctx: ctx } });
    // numCtx configured wins: no /api/ps read at all.
    const before = s.requestsTo('/api/ps');
    const fixed = setup(s.url, { numCtx: 8192 });
    expect((await probeCanary(fixed.node, fixed.settings, { dispatcher: agent }, OLLAMA)).reason).toBe('ok');
    expect(s.requestsTo('/api/ps')).toBe(before);
    expect(s.lastRequestBody('/api/chat')).toMatchObject({ options: { num_ctx: 8192 } });
  });

  test('a /v1 node known to be Ollama gets the native canary (durations), with no keep_alive, like the apps’ /v1 requests', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    load = startLoad({ url: s.url, model: 'llama3.2', draftMs: 1_000 });
    await waitFor('a draft generating', () => s.slots.running === 1);
    const { node, settings } = setup(s.url, {}, 'openai');
    agent = createProbeAgent(settings);
    const before = s.requestsTo('/v1/chat/completions');
    const r = await probeCanary(node, settings, { dispatcher: agent }, OLLAMA);
    expect(r).toMatchObject({ ok: true, thinking: { knob: 'think' } });
    expect(s.requestsTo('/v1/chat/completions')).toBe(before);
    expect(judgeCanary(r, undefined, speed).queueMs).toBeGreaterThan(200);
    // Unknown server: /v1 as configured, and no wait measured.
    const unknown = await probeCanary(node, settings, { dispatcher: agent });
    expect(unknown.ok).toBe(true);
    expect(s.requestsTo('/v1/chat/completions')).toBe(before + 1);
    expect(judgeCanary(unknown, undefined, speed).queueMs).toBeUndefined();
    // With the apps gone, the last /api/chat body is the canary's own: no keep_alive.
    await load?.stop();
    expect((await probeCanary(node, settings, { dispatcher: agent }, OLLAMA)).ok).toBe(true);
    expect(s.lastRequestBody('/api/chat')).not.toHaveProperty('keep_alive');
  });

  test('a canary abandoned at its deadline is cancelled and leaves the queue', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    load = startLoad({ url: s.url, model: 'llama3.2', draftMs: 30_000 });
    await waitFor('a draft generating', () => s.slots.running === 1);
    const { node, settings } = setup(s.url, { timeout: '1s' });
    agent = createProbeAgent(settings);
    const r = await probeCanary(node, settings, { dispatcher: agent }, OLLAMA);
    expect(r.reason).toBe('timeout');
    expect(r.ttftMs).toBeUndefined();
    // Closed, so Ollama's semaphore wait ends: nothing of the monitor's is left queued behind the draft.
    await waitFor('the canary gone from the queue', () => s.slots.queued === 0, 3_000);
    // Liveness passed meanwhile: judged a stall.
    expect(judgeCanary(r, { ok: true, at: r.startedAt + 500 }, speed).reason).toBe('stalled');
  });
});
