import type { Agent } from 'undici';
import { parseConfig, type NodeConfig } from '../../src/config';
import { ServerKnowledge } from '../../src/daemon/knowledge';
import { createProbeAgent, probeCanary, probeLiveness } from '../../src/probes';
import { startSimulator, type SimFlavor, type Simulator } from '../../src/simulator';

/**
 * A thinking model (qwen3, deepseek-r1) behind every server flavour and API, as each documents it:
 * - Ollama ≥ 0.9: `think:false` (docs/api.md), `/v1` `reasoning_effort:"none"` (openai/openai.go);
 * - Ollama < 0.9: neither exists, thinking comes inline as <think>…</think>;
 * - llama.cpp llama-server (tools/server/README.md) and vLLM ("Reasoning Outputs"):
 *   `chat_template_kwargs: { enable_thinking: false }`, reasoning in reasoning_content / reasoning.
 * The canary must judge the node `ok` within its token budget: ≤ 8 where a knob works, ≤ 64 otherwise.
 */

const sims: Simulator[] = [];
let agent: Agent;

function node(url: string, api: 'ollama' | 'openai', model: string | undefined, canary: Record<string, unknown> = {}): { node: NodeConfig; settings: ReturnType<typeof parseConfig>['probes'] } {
  const c = parseConfig({ nodes: [{ name: 'primary', url, api, ...(model ? { model } : {}) }, { name: 'fallback', url: 'http://127.0.0.1:9', model: 'x' }], probes: { canary: { timeout: 5000, ...canary } } }, {});
  return { node: c.nodes[0] as NodeConfig, settings: c.probes };
}

async function sim(flavor: SimFlavor, models: string[], extra: { rejectThinkingKnob?: boolean } = {}): Promise<Simulator> {
  const s = await startSimulator({ flavor, models, tokenDelayMs: 1, ...extra });
  sims.push(s);
  return s;
}

/** Liveness first (it says which server this is), then the canary with what was learnt, as the daemon does. */
async function probeBoth(url: string, api: 'ollama' | 'openai', model: string | undefined, canary: Record<string, unknown> = {}) {
  const { node: configured, settings } = node(url, api, model, canary);
  const known = new ServerKnowledge();
  const liveness = await probeLiveness(configured, settings, { dispatcher: agent });
  known.learn(liveness);
  const resolved = known.resolve(configured);
  const result = await probeCanary(resolved, settings, { dispatcher: agent }, known.view('primary'));
  known.learn(result);
  return { liveness, canary: result, known: known.get('primary') };
}

beforeAll(() => {
  agent = createProbeAgent(node('http://127.0.0.1:9', 'ollama', 'x').settings);
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await agent.close();
});

describe('a thinking model on every flavour and API is up, within the token budget', () => {
  const cases: Array<[SimFlavor, 'ollama' | 'openai', string, string, number]> = [
    // flavour, api, expected knob, expected server, token ceiling
    ['ollama', 'ollama', 'think', 'ollama', 8],
    // A /v1 node known to be Ollama gets the native canary (durations tell a queue from slowness: docs/busy.md).
    ['ollama', 'openai', 'think', 'ollama', 8],
    ['ollama-legacy', 'ollama', 'none', 'ollama-legacy', 64],
    ['ollama-legacy', 'openai', 'none', 'ollama-legacy', 64],
    ['llamacpp', 'openai', 'chat_template_kwargs', 'llamacpp', 8],
    ['vllm', 'openai', 'chat_template_kwargs', 'vllm', 8],
  ];
  test.each(cases)('%s via api:%s → knob %s', async (flavor, api, knob, server, ceiling) => {
    const s = await sim(flavor, ['qwen3:8b']);
    const r = await probeBoth(s.url, api, 'qwen3:8b');
    expect(r.liveness).toMatchObject({ ok: true, server: { flavor: server } });
    expect(r.canary).toMatchObject({ ok: true, reason: 'ok', thinking: { knob, knobRejected: false } });
    expect(r.canary.evalCount).toBeGreaterThan(0);
    expect(r.canary.evalCount).toBeLessThanOrEqual(ceiling);
    expect(r.canary.answer).toBe('PONG');
  });

  test('legacy Ollama: the inline <think> block is stripped and qwen3 is switched off with /no_think', async () => {
    const s = await sim('ollama-legacy', ['qwen3:8b']);
    const r = await probeBoth(s.url, 'ollama', 'qwen3:8b');
    const sent = s.lastRequestBody('/api/chat') as { messages: Array<{ content: string }>; options: { num_predict: number }; think?: unknown };
    expect(sent.messages[0]?.content).toMatch(/\/no_think$/);
    expect(sent.options.num_predict).toBe(64);
    expect(sent.think).toBeUndefined();
    expect(r.canary).toMatchObject({ ok: true, answer: 'PONG', thinking: { thought: true } });
  });

  test('a model without a soft switch (deepseek-r1) on legacy Ollama still fits in the 64-token budget', async () => {
    const s = await sim('ollama-legacy', ['deepseek-r1:8b']);
    const r = await probeBoth(s.url, 'ollama', 'deepseek-r1:8b');
    expect(r.canary).toMatchObject({ ok: true, answer: 'PONG' });
    expect(r.canary.evalCount).toBeLessThanOrEqual(64);
  });

  test('cut off inside the thinking block → thinking_budget with a hint, not wrong_answer', async () => {
    const s = await sim('ollama-legacy', ['deepseek-r1:8b']);
    const r = await probeBoth(s.url, 'ollama', 'deepseek-r1:8b', { thinkingBudget: 12 });
    expect(r.canary).toMatchObject({ ok: false, reason: 'thinking_budget' });
    expect(r.canary.detail).toMatch(/raise probes\.canary\.thinkingBudget/);
  });

  test('a knob the server ignores (thinking anyway) → thinking_budget once, then /no_think and the larger budget', async () => {
    // Legacy Ollama ignores think:false; told it is a current Ollama, the canary trusts the knob at first.
    const s = await sim('ollama-legacy', ['deepseek-r1:8b']);
    const { node: n, settings } = node(s.url, 'ollama', 'deepseek-r1:8b');
    const known = new ServerKnowledge();
    known.learn({ node: 'primary', kind: 'liveness', ok: true, reason: 'ok', startedAt: 0, durationMs: 1, server: { flavor: 'ollama', version: '0.12.6' } });
    const first = await probeCanary(n, settings, { dispatcher: agent }, known.view('primary'));
    expect(first).toMatchObject({ ok: false, reason: 'thinking_budget', evalCount: 8 });
    expect(first.detail).toMatch(/ignored the knob/);
    known.learn(first);
    expect(known.get('primary').thinksAnyway).toBe(true);
    const next = await probeCanary(n, settings, { dispatcher: agent }, known.view('primary'));
    expect(next).toMatchObject({ ok: true, answer: 'PONG', thinking: { knob: 'think' } });
    expect(next.evalCount).toBeLessThanOrEqual(64);
    expect(s.lastRequestBody('/api/chat')).toMatchObject({ think: false, options: { num_predict: 64 } });
  });

  test('knob answered 400 (an older strict vLLM) → retried once without it; the node remembers', async () => {
    const s = await sim('vllm', ['qwen3:8b'], { rejectThinkingKnob: true });
    const r = await probeBoth(s.url, 'openai', 'qwen3:8b');
    expect(r.canary).toMatchObject({ ok: true, thinking: { knob: 'none', knobRejected: true } });
    expect(r.canary.evalCount).toBeLessThanOrEqual(64);
    expect(r.known.knobRejected).toBe(true);
    expect(s.requestsTo('/v1/chat/completions')).toBe(2);
    // The next canary goes without the knob at once.
    const { node: n, settings } = node(s.url, 'openai', 'qwen3:8b');
    const again = await probeCanary(n, settings, { dispatcher: agent }, { flavor: 'vllm', knobRejected: true });
    expect(again.ok).toBe(true);
    expect(s.requestsTo('/v1/chat/completions')).toBe(3);
    expect(s.lastRequestBody('/v1/chat/completions')).not.toHaveProperty('chat_template_kwargs');
  });
});

describe('model discovery with no model configured', () => {
  test('the loaded model, else the only installed one; never a built-in name', async () => {
    const only = await sim('ollama', ['qwen3:8b']);
    const a = await probeBoth(only.url, 'ollama', undefined);
    expect(a.liveness).toMatchObject({ ok: true, model: 'qwen3:8b' });
    expect(a.canary).toMatchObject({ ok: true });
    expect(only.lastRequestBody('/api/chat')).toMatchObject({ model: 'qwen3:8b' });

    const two = await sim('ollama', ['llama3.2', 'qwen3:8b']);
    await fetch(`${two.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'qwen3:8b', keep_alive: '5m' }) });
    const b = await probeBoth(two.url, 'ollama', undefined);
    expect(b.liveness).toMatchObject({ ok: true, model: 'qwen3:8b' });
  });

  test('several installed, none loaded → model_missing listing them', async () => {
    const s = await sim('ollama', ['llama3.2', 'qwen3:8b']);
    const { node: n, settings } = node(s.url, 'ollama', undefined);
    const r = await probeLiveness(n, settings, { dispatcher: agent });
    expect(r).toMatchObject({ ok: false, reason: 'model_missing', installed: ['llama3.2:latest', 'qwen3:8b'] });
    expect(r.detail).toMatch(/llama3\.2:latest, qwen3:8b/);
    expect(r.detail).toMatch(/nodes\[\]\.model or OLLAMA_MODEL/);
  });

  test('nodes[].models naming a missing model → model_missing with the installed list', async () => {
    const s = await sim('ollama', ['llama3.2']);
    const c = parseConfig({ nodes: [{ name: 'primary', url: s.url, model: 'llama3.2', models: ['llama3.2', 'mistral:7b'] }, { name: 'fallback', url: 'http://127.0.0.1:9', model: 'x' }] }, {});
    const r = await probeLiveness(c.nodes[0] as NodeConfig, c.probes, { dispatcher: agent });
    expect(r).toMatchObject({ ok: false, reason: 'model_missing' });
    expect(r.detail).toMatch(/model mistral:7b not installed \(have: llama3\.2:latest\)/);
  });
});
