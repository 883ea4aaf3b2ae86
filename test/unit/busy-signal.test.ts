/**
 * The busy signals of llama.cpp and vLLM, parsed and judged (src/core/busy-signal.ts). Fixtures follow
 * llama.cpp's tools/server/README.md ("GET /slots", "GET /metrics": llamacpp:requests_processing,
 * llamacpp:requests_deferred), vLLM's "Production Metrics" docs (vllm:num_requests_running,
 * vllm:num_requests_waiting, labelled model_name) and ../shared/reference/ollama-cloudflare.md section D.
 */
import { describeBusySignal, judgeBusySignal, NO_SIGNAL, parseMetrics, parseSlots, type SignalFacts } from '../../src/core/busy-signal';
import { splitWait } from '../../src/core/busy';

const slot = (id: number, is_processing: boolean): Record<string, unknown> => ({ id, id_task: is_processing ? 12 + id : -1, n_ctx: 4096, speculative: false, is_processing, params: { temperature: 0.8 } });

const LLAMA_METRICS = (processing: string, deferred: string): string =>
  [
    '# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.',
    '# TYPE llamacpp:prompt_tokens_total counter',
    'llamacpp:prompt_tokens_total 120',
    '# HELP llamacpp:requests_processing Number of requests processing.',
    '# TYPE llamacpp:requests_processing gauge',
    `llamacpp:requests_processing ${processing}`,
    '# HELP llamacpp:requests_deferred Number of requests deferred.',
    '# TYPE llamacpp:requests_deferred gauge',
    `llamacpp:requests_deferred ${deferred}`,
    '',
  ].join('\n');

const VLLM_METRICS = (running: string, waiting: string): string =>
  [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-8B"} ${running}`,
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-8B"} ${waiting}`,
    '# HELP vllm:num_requests_waiting_by_reason Waiting requests by reason.',
    'vllm:num_requests_waiting_by_reason{engine="0",model_name="Qwen/Qwen3-8B",reason="capacity"} 7.0',
    '',
  ].join('\n');

describe('judgeBusySignal: facts in, reading out', () => {
  test.each<[string, SignalFacts, Partial<typeof NO_SIGNAL> & { signal: string }]>([
    ['llama.cpp /slots, the only slot processing, before the first token', { flavor: 'llamacpp', slots: [slot(0, true)], beforeFirstToken: true }, { signal: 'slots', busy: true, processing: 1, waiting: null }],
    ['llama.cpp /slots, one of two free', { flavor: 'llamacpp', slots: [slot(0, true), slot(1, false)], beforeFirstToken: true }, { signal: 'slots', busy: false, processing: 1 }],
    ['llama.cpp /slots all busy, read after the first token', { flavor: 'llamacpp', slots: [slot(0, true)], beforeFirstToken: false }, { signal: 'slots', busy: false }],
    ['llama.cpp /slots 501 (undefined), /metrics with one deferred', { flavor: 'llamacpp', metrics: LLAMA_METRICS('1', '1'), beforeFirstToken: true }, { signal: 'metrics', busy: true, processing: 1, waiting: 1 }],
    ['llama.cpp /metrics, nothing deferred', { flavor: 'llamacpp', metrics: LLAMA_METRICS('1', '0'), beforeFirstToken: true }, { signal: 'metrics', busy: false, waiting: 0 }],
    ['llama.cpp /slots malformed: falls to /metrics', { flavor: 'llamacpp', slots: [{ id: 0 }], metrics: LLAMA_METRICS('2', '3'), beforeFirstToken: true }, { signal: 'metrics', busy: true, waiting: 3 }],
    ['llama.cpp neither', { flavor: 'llamacpp', beforeFirstToken: true }, NO_SIGNAL],
    ['vLLM waiting 1.0 (labelled)', { flavor: 'vllm', metrics: VLLM_METRICS('1.0', '1.0'), beforeFirstToken: true }, { signal: 'metrics', busy: true, processing: 1, waiting: 1 }],
    ['vLLM running only (continuous batching, no queue)', { flavor: 'vllm', metrics: VLLM_METRICS('3.0', '0.0'), beforeFirstToken: true }, { signal: 'metrics', busy: false, processing: 3, waiting: 0 }],
    ['vLLM given llama.cpp names', { flavor: 'vllm', metrics: LLAMA_METRICS('1', '1'), beforeFirstToken: true }, NO_SIGNAL],
    ['vLLM negative gauge', { flavor: 'vllm', metrics: VLLM_METRICS('1.0', '-1'), beforeFirstToken: true }, NO_SIGNAL],
    ['vLLM NaN gauge', { flavor: 'vllm', metrics: VLLM_METRICS('NaN', '2'), beforeFirstToken: true }, NO_SIGNAL],
    ['vLLM an HTML page', { flavor: 'vllm', metrics: '<html>502 Bad Gateway</html>', beforeFirstToken: true }, NO_SIGNAL],
    ['vLLM /slots is not its signal', { flavor: 'vllm', slots: [slot(0, true)], beforeFirstToken: true }, NO_SIGNAL],
    ['Ollama: no signal outside the request', { flavor: 'ollama', slots: [slot(0, true)], metrics: LLAMA_METRICS('1', '1'), beforeFirstToken: true }, NO_SIGNAL],
  ])('%s', (_name, facts, want) => {
    expect(judgeBusySignal(facts)).toMatchObject(want);
  });

  test('parsers refuse what is not the documented shape', () => {
    expect(parseSlots({ slots: [] })).toBeNull();
    expect(parseSlots([])).toBeNull();
    expect(parseSlots([slot(0, true), { id: 1, is_processing: 'yes' }])).toBeNull();
    expect(parseSlots([slot(0, true), slot(1, false)])).toEqual({ processing: 1, total: 2 });
    // Samples of one gauge over several label sets add up; a metric whose name only starts the same is another.
    const two = `${VLLM_METRICS('1.0', '2.0')}vllm:num_requests_waiting{engine="1",model_name="m"} 1.0 1733540000000\n`;
    expect(parseMetrics(two, 'vllm')).toEqual({ processing: 1, waiting: 3 });
    expect(parseMetrics('llamacpp:requests_processing 1\n', 'llamacpp')).toBeNull();
  });
});

describe('a busy reading is the canary waiting; no reading is no wait', () => {
  const canary = { ttftMs: 1_800, totalMs: 1_900, loadMs: undefined };
  test('busy: the time to the first token is the wait, judged by the same path as Ollama', () => {
    const s = splitWait({ ...canary, busySignal: { signal: 'slots', busy: true, processing: 1, waiting: null, slots: 1 } });
    expect(s).toMatchObject({ queueMs: 1_800, workTtftMs: 0, workTotalMs: 100 });
  });
  test('not busy, or no signal: unknown (never busy on made-up numbers)', () => {
    expect(splitWait({ ...canary, busySignal: { signal: 'metrics', busy: false, processing: 1, waiting: 0 } }).queueMs).toBeNull();
    expect(splitWait({ ...canary, busySignal: NO_SIGNAL }).queueMs).toBeNull();
    expect(splitWait({ ...canary }).queueMs).toBeNull();
  });
});

describe('describeBusySignal: what check prints', () => {
  test.each([
    ['ollama', 'ollama', undefined, 'durations', 'final-chunk durations'],
    ['openai', 'ollama', undefined, 'durations', 'final-chunk durations'],
    ['openai', 'llamacpp', { ...NO_SIGNAL, signal: 'slots' as const }, 'slots', '/slots'],
    ['openai', 'llamacpp', { ...NO_SIGNAL, signal: 'metrics' as const }, 'metrics', '/metrics'],
    ['openai', 'llamacpp', NO_SIGNAL, 'none', 'none (start with --metrics or keep slots on)'],
    ['openai', 'vllm', { ...NO_SIGNAL, signal: 'metrics' as const }, 'metrics', '/metrics'],
    ['openai', 'vllm', undefined, 'none', 'none (/metrics did not answer)'],
    ['openai', 'openai-compatible', undefined, 'none', 'none known for this server'],
  ] as const)('api %s on %s', (api, flavor, reading, signal, text) => {
    expect(describeBusySignal(api, flavor, reading)).toEqual({ signal, text });
  });
});
