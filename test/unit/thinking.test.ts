import { describePlan, detectFlavor, knobFor, planThinking, type Flavor } from '../../src/core/flavor';
import { chooseModel } from '../../src/core/model-choice';
import { judgeAnswer, splitInline } from '../../src/core/thinking';

describe('judgeAnswer: thinking stripped before matching, a cut-off thought told apart', () => {
  const rows: Array<[string, { content: string; reasoning?: string; evalCount?: number; maxTokens?: number }, ReturnType<typeof judgeAnswer>]> = [
    ['plain answer', { content: 'PONG' }, { kind: 'answer', text: 'PONG', thought: false }],
    ['separate reasoning, then answer', { content: 'PONG', reasoning: 'The user wants…' }, { kind: 'answer', text: 'PONG', thought: true }],
    ['inline block, then answer', { content: '<think>\nhmm\n</think>\n\nPONG' }, { kind: 'answer', text: 'PONG', thought: true }],
    ['empty inline block (qwen3 /no_think)', { content: '<think>\n\n</think>\n\nPONG' }, { kind: 'answer', text: 'PONG', thought: true }],
    ['template put <think> in the prompt: only </think> comes', { content: 'reasoning here</think>PONG' }, { kind: 'answer', text: 'PONG', thought: true }],
    ['inline block left open at the end', { content: '<think>The user wants a', evalCount: 8, maxTokens: 8 }, { kind: 'thinking_budget', thoughtChars: 16 }],
    ['separate reasoning only, budget used up', { content: '', reasoning: 'The user', evalCount: 8, maxTokens: 8 }, { kind: 'thinking_budget', thoughtChars: 8 }],
    ['separate reasoning only, budget not used up', { content: '', reasoning: 'x', evalCount: 3, maxTokens: 8 }, { kind: 'empty', thought: true }],
    ['nothing at all', { content: '  ', evalCount: 1, maxTokens: 8 }, { kind: 'empty', thought: false }],
    ['a wrong answer after thinking is still an answer', { content: '<think>x</think>I am sorry' }, { kind: 'answer', text: 'I am sorry', thought: true }],
  ];
  test.each(rows)('%s', (_name, f, want) => {
    expect(judgeAnswer({ content: f.content, reasoning: f.reasoning ?? '', evalCount: f.evalCount, maxTokens: f.maxTokens ?? 8 })).toEqual(want);
  });

  test('splitInline keeps text around several blocks', () => {
    expect(splitInline('a<think>x</think>b<think>y</think>c')).toEqual({ answer: 'abc', thought: 'xy', open: false, blocks: 2 });
  });
});

describe('detectFlavor from what the server says', () => {
  const rows: Array<[string, Parameters<typeof detectFlavor>[0], Flavor]> = [
    ['Ollama 0.12.6', { ollamaVersion: '0.12.6' }, 'ollama'],
    ['Ollama 0.9.0 (first with think)', { ollamaVersion: '0.9.0' }, 'ollama'],
    ['Ollama 0.6.8', { ollamaVersion: '0.6.8' }, 'ollama-legacy'],
    ['Ollama dev build 0.0.0', { ollamaVersion: '0.0.0' }, 'ollama'],
    ['owned_by llamacpp', { ownedBy: ['llamacpp'] }, 'llamacpp'],
    ['server: llama.cpp header', { ownedBy: ['someone'], serverHeader: 'llama.cpp' }, 'llamacpp'],
    ['owned_by vllm', { ownedBy: ['vllm'], serverHeader: 'uvicorn' }, 'vllm'],
    ['other OpenAI-compatible', { ownedBy: ['openai'] }, 'openai-compatible'],
    ['nothing known', {}, 'unknown'],
  ];
  test.each(rows)('%s', (_n, facts, want) => expect(detectFlavor(facts)).toBe(want));
});

describe('planThinking: knob per API and flavour; /no_think and the larger budget only where no knob works', () => {
  const base = { prompt: 'Reply with PONG.', maxTokens: 8, thinkingBudget: 64, knobRejected: false };
  const rows: Array<['ollama' | 'openai', Flavor, boolean, string, number, boolean]> = [
    // api, flavor, knobRejected → knob, maxTokens, soft switch
    ['ollama', 'ollama', false, 'think', 8, false],
    ['ollama', 'ollama-legacy', false, 'none', 64, true],
    ['ollama', 'unknown', false, 'think', 64, true],
    ['openai', 'ollama', false, 'reasoning_effort', 8, false],
    ['openai', 'llamacpp', false, 'chat_template_kwargs', 8, false],
    ['openai', 'vllm', false, 'chat_template_kwargs', 8, false],
    ['openai', 'vllm', true, 'none', 64, true],
    ['openai', 'openai-compatible', false, 'none', 64, true],
    ['openai', 'ollama-legacy', false, 'none', 64, true],
  ];
  test.each(rows)('%s on %s (rejected %s) → %s, %d tokens', (api, flavor, knobRejected, knob, maxTokens, soft) => {
    const p = planThinking({ ...base, api, flavor, knobRejected });
    expect(p).toMatchObject({ knob, maxTokens });
    expect(p.prompt.endsWith('/no_think')).toBe(soft);
    expect(knobFor(api, flavor)).toBe(knobRejected ? knobFor(api, flavor) : knob);
  });
  test('describePlan says what check shows', () => {
    expect(describePlan(planThinking({ ...base, api: 'openai', flavor: 'ollama' }))).toBe('reasoning_effort:none, 8 tok');
    expect(describePlan(planThinking({ ...base, api: 'openai', flavor: 'vllm', knobRejected: true }))).toBe('knob refused (400), /no_think, 64 tok');
  });
});

describe('chooseModel: loaded, else the only installed, else refuse listing them', () => {
  test.each([
    [{ loaded: ['qwen3:8b'], installed: ['llama3.2:latest', 'qwen3:8b'] }, { ok: true, model: 'qwen3:8b', how: 'loaded' }],
    [{ loaded: [], installed: ['llama3.2:latest'] }, { ok: true, model: 'llama3.2:latest', how: 'only installed' }],
  ])('%j → %j', (facts, want) => expect(chooseModel(facts)).toEqual(want));
  test('none installed, or several and none loaded → a problem naming what to do', () => {
    expect(chooseModel({ loaded: [], installed: [] })).toMatchObject({ ok: false, problem: expect.stringMatching(/ollama pull/) });
    expect(chooseModel({ loaded: [], installed: ['a:1', 'b:2'] })).toMatchObject({ ok: false, installed: ['a:1', 'b:2'], problem: expect.stringMatching(/\(a:1, b:2\)/) });
  });
});

describe('decide: a canary cut off while thinking does not move traffic', () => {
  test('many thinking_budget canaries on an up node: still up and preferred; the reason is its last error', async () => {
    const { decide, initialState } = await import('../../src/core/decide');
    const policy = { fall: 3, softFall: 4, rise: 2, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000, canaryEnabled: true, coldStartMs: 2_000, queueAllowance: 45_000 };
    let s = initialState([{ name: 'primary', priority: 0 }, { name: 'fallback', priority: 1 }], { wall: 0, mono: 0 });
    const at = (i: number) => ({ wall: i * 1000, mono: i * 1000 });
    for (const node of ['primary', 'fallback']) {
      for (let i = 0; i < 2; i++) {
        s = decide(s, { node, kind: 'liveness', ok: true, reason: 'ok', startedAt: i, durationMs: 1 }, policy, at(i)).next;
        s = decide(s, { node, kind: 'canary', ok: true, reason: 'ok', startedAt: i, durationMs: 1, ttftMs: 50, totalMs: 80 }, policy, at(i)).next;
      }
    }
    for (let i = 10; i < 20; i++) {
      const d = decide(s, { node: 'primary', kind: 'canary', ok: false, reason: 'thinking_budget', detail: 'still thinking', startedAt: i * 1000, durationMs: 1 }, policy, at(i));
      expect(d.events).toEqual([]);
      s = d.next;
    }
    expect(s.nodes[0]).toMatchObject({ status: 'up', lastError: { reason: 'thinking_budget' } });
    expect(s.preferred).toBe('primary');
  });
});
