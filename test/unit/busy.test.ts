/**
 * Busy is not down (issue 19): the pure judgements of core/busy.ts and how decide/schedule use them, on a fake
 * clock. The durations follow Ollama's final chunk (../shared/reference/ollama-cloudflare.md section D): the
 * slot wait is in total_duration and in no other duration.
 */
import { busySignal, judgeCanary, judgeSpeed, judgeStall, nextQueueView, NO_QUEUE, splitWait, STALL_GAP_MS, type ServerDurations } from '../../src/core/busy';
import { decide, initialState, type MonitorState, type Policy } from '../../src/core/decide';
import { nextProbeDelay } from '../../src/core/schedule';
import type { ProbeResult } from '../../src/probes/types';
import { FakeClock } from '../../src/util/clock';

const policy: Policy = { fall: 3, softFall: 4, rise: 2, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000, canaryEnabled: true, coldStartMs: 2_000, queueAllowance: 45_000 };
const ms = (n: number): number => n * 1e6;
/** Liveness every 10 s with a 3 s timeout: a pass up to 13 s old vouches for the server. */
const FRESH = { livenessFreshMs: 13_000 };

/** A canary that waited `waitMs` for a slot, then took `workTtft` to its first token and `workTotal` in all. */
function canary(waitMs: number, workTtft: number, workTotal: number, extra: Partial<ProbeResult> & { durations?: ServerDurations } = {}): ProbeResult {
  const load = 10;
  const prompt = 20;
  return {
    node: 'primary',
    kind: 'canary',
    ok: true,
    reason: 'ok',
    startedAt: 1_000,
    durationMs: waitMs + load + workTotal + 2,
    ttftMs: waitMs + load + workTtft + 1,
    totalMs: waitMs + load + workTotal + 2,
    loadMs: load,
    durations: { totalNs: ms(waitMs + load + workTotal), loadNs: ms(load), promptEvalNs: ms(prompt), evalNs: ms(workTotal - prompt) },
    ...extra,
  };
}

describe('splitWait: the slot wait from the final chunk', () => {
  test.each([
    // [case, result, expected wait (null = unknown), expected work ttft (approx)]
    ['20 s queued behind a draft, fast work', canary(20_000, 300, 500), 20_000, 300],
    ['no wait', canary(0, 300, 500), 0, 300],
    ['no durations (OpenAI /v1): wall times, wait unknown', canary(20_000, 300, 500, { durations: undefined }), null, 20_301],
    ['negative eval_duration', canary(20_000, 300, 500, { durations: { totalNs: ms(20_510), loadNs: ms(10), promptEvalNs: ms(20), evalNs: -5 } }), null, 20_301],
    ['total_duration longer than the wall time', canary(0, 300, 500, { durations: { totalNs: ms(60_000), loadNs: ms(10), promptEvalNs: ms(20), evalNs: ms(200) } }), null, 301],
    ['parts larger than the total', canary(1_000, 300, 500, { durations: { totalNs: ms(1_510), loadNs: ms(10), promptEvalNs: ms(2_000), evalNs: ms(200) } }), null, 1_301],
    ['prompt_eval_duration missing', canary(20_000, 300, 500, { durations: { totalNs: ms(20_510), loadNs: ms(10), evalNs: ms(200) } }), null, 20_301],
    ['a duration that is not a number', canary(20_000, 300, 500, { durations: { totalNs: Number.NaN, loadNs: ms(10), promptEvalNs: ms(20), evalNs: ms(200) } }), null, 20_301],
  ])('%s', (_case, r, wait, workTtft) => {
    const s = splitWait(r);
    if (wait === null) expect(s.queueMs).toBeNull();
    else expect(s.queueMs).toBeCloseTo(wait, -1);
    expect(s.workTtftMs).toBeCloseTo(workTtft, -1);
  });

  test('a load time longer than the wall time is not subtracted', () => {
    const s = splitWait({ ttftMs: 8_000, totalMs: 8_100, loadMs: 50_000 });
    expect(s.loadMs).toBe(0);
    expect(s.workTtftMs).toBe(8_000);
  });

  test('a negative load time is not subtracted', () => {
    expect(splitWait({ ttftMs: 8_000, totalMs: 8_100, loadMs: -3 }).workTtftMs).toBe(8_000);
  });
});

describe('judgeSpeed: queueing is not slowness, slow work still is', () => {
  test.each([
    ['waited 20 s, worked fast', canary(20_000, 300, 500), false, false],
    ['waited 44 s (within the 45 s allowance)', canary(44_000, 300, 500), false, false],
    ['waited 50 s: over the allowance, counts against the node', canary(50_000, 300, 500), true, true],
    ['no wait, first token after 8 s of work', canary(0, 8_000, 8_300), true, false],
    ['waited 20 s AND a slow first token', canary(20_000, 8_000, 8_300), true, false],
    ['tokens/s collapse: the whole answer 25 s after the wait', canary(5_000, 1_000, 25_000), true, false],
    ['wall 20 s with no durations is judged on wall times (never excused on made-up numbers)', canary(20_000, 300, 500, { durations: undefined }), true, false],
  ])('%s', (_case, r, slow, over) => {
    const j = judgeSpeed(r, policy);
    expect(j.slow).toBe(slow);
    expect(j.overAllowance).toBe(over);
  });
});

describe('judgeStall: a runner that stops producing tokens while liveness passes', () => {
  const timedOut = (extra: Partial<ProbeResult> & { lastTokenMs?: number } = {}): ProbeResult => ({ node: 'primary', kind: 'canary', ok: false, reason: 'timeout', startedAt: 1_000, durationMs: 75_000, ...extra });
  test.each([
    ['no token, liveness passed during the canary', timedOut(), { ok: true, at: 70_000 }, 'stalled'],
    ['no token, liveness passed 12 s before the canary ended (fresh: 13 s)', timedOut(), { ok: true, at: 76_000 - 12_000 }, 'stalled'],
    ['no token, liveness failed: hung or down, not stalled', timedOut(), { ok: false, at: 50_000 }, 'timeout'],
    ['no token, the last liveness pass is older than 13 s at the canary\'s end', timedOut(), { ok: true, at: 76_000 - 14_000 }, 'timeout'],
    ['no token, no liveness yet', timedOut(), undefined, 'timeout'],
    ['tokens stopped 60 s before the deadline', timedOut({ ttftMs: 1_000, lastTokenMs: 15_000 }), { ok: true, at: 70_000 }, 'stalled'],
    ['no token while the canary loaded its model (not resident: a slow load)', timedOut({ loadCause: 'cold' }), { ok: true, at: 70_000 }, 'timeout'],
    ['no token, a first load of its model', timedOut({ loadCause: 'first_load' }), { ok: true, at: 70_000 }, 'timeout'],
    ['no token, the model was seen resident before the canary: stalled', timedOut({ loadCause: 'resident' }), { ok: true, at: 70_000 }, 'stalled'],
    [`tokens still flowing ${STALL_GAP_MS - 1} ms before the deadline (endless stream)`, timedOut({ ttftMs: 1_000, lastTokenMs: 75_000 - STALL_GAP_MS + 1 }), { ok: true, at: 70_000 }, 'timeout'],
  ])('%s', (_case, r, live, reason) => {
    expect(judgeStall(r, live, FRESH).reason).toBe(reason);
  });

  test('other reasons and liveness results pass unchanged', () => {
    const refused: ProbeResult = { node: 'p', kind: 'canary', ok: false, reason: 'refused', startedAt: 1, durationMs: 2 };
    expect(judgeStall(refused, { ok: true, at: 5 }, FRESH)).toBe(refused);
  });
});

describe('judgeCanary: what is recorded', () => {
  test('a queued canary carries its wait and says so', () => {
    const r = judgeCanary({ ...canary(20_000, 300, 500), detail: 'answered "PONG"' }, { ok: true, at: 2_000 }, { ...policy, ...FRESH });
    expect(r.queueMs).toBeCloseTo(20_000, -1);
    expect(r.detail).toMatch(/waited 20\.0?s for a generation slot \(busy, not slow\)/);
  });
  test('no durations: no wait recorded', () => {
    expect(judgeCanary(canary(20_000, 300, 500, { durations: undefined }), undefined, { ...policy, ...FRESH }).queueMs).toBeUndefined();
  });
});

function run(results: ProbeResult[], clock: FakeClock): MonitorState {
  let s = initialState([{ name: 'primary', priority: 0 }, { name: 'fallback', priority: 1 }], { wall: clock.now(), mono: clock.mono() });
  for (const r of results) {
    clock.advance(60_000);
    s = decide(s, { ...r, startedAt: clock.now() }, policy, { wall: clock.now(), mono: clock.mono() }).next;
  }
  return s;
}

const live = (ok = true): ProbeResult => ({ node: 'primary', kind: 'liveness', ok, reason: ok ? 'ok' : 'refused', startedAt: 0, durationMs: 5 });
const fb = (): ProbeResult[] => [
  { node: 'fallback', kind: 'liveness', ok: true, reason: 'ok', startedAt: 0, durationMs: 5 },
  { ...canary(0, 300, 500), node: 'fallback' },
];

describe('decide: a busy primary keeps its traffic, a slow one loses it', () => {
  test('five canaries queued 20 s behind drafts: up, preferred, published busy with the wait', () => {
    const clock = new FakeClock();
    const s = run([...fb(), live(), canary(20_000, 300, 500), live(), canary(19_000, 300, 500), canary(20_100, 300, 500), canary(15_000, 300, 500), canary(20_000, 300, 500)], clock);
    const p = s.nodes[0];
    expect(p?.status).toBe('up');
    expect(s.preferred).toBe('primary');
    expect(p?.queue.busy).toBe(true);
    expect(p?.queue.waitMs).toBeCloseTo(20_000, -1);
  });

  test('control: no queue, a first token that takes 8 s → degraded (slow) after softFall canaries', () => {
    const clock = new FakeClock();
    const s = run([...fb(), live(), canary(0, 300, 500), canary(0, 300, 500), canary(0, 8_000, 8_300), canary(0, 8_000, 8_300), canary(0, 8_000, 8_300), canary(0, 8_000, 8_300)], clock);
    expect(s.nodes[0]?.status).toBe('degraded');
    expect(s.nodes[0]?.statusReason).toBe('slow');
    expect(s.nodes[0]?.queue.busy).toBe(false);
    expect(s.preferred).toBe('fallback');
  });

  test('stalled canaries with liveness passing: degraded after `fall`, reason stalled', () => {
    const clock = new FakeClock();
    const stalled: ProbeResult = { node: 'primary', kind: 'canary', ok: false, reason: 'stalled', startedAt: 0, durationMs: 75_000 };
    const s = run([...fb(), live(), canary(0, 300, 500), canary(0, 300, 500), stalled, live(), stalled, live(), stalled], clock);
    expect(s.nodes[0]?.status).toBe('degraded');
    expect(s.nodes[0]?.statusReason).toBe('stalled');
    expect(s.nodes[0]?.queue.busy).toBe(false);
  });

  test('a busy node gets no fast re-check canaries for an undecided speed track', () => {
    const clock = new FakeClock();
    // One slow-while-working canary puts speed in a bad streak; the next one queued (busy) and was fine.
    const s = run([...fb(), live(), canary(0, 300, 500), canary(0, 300, 500), canary(0, 8_000, 8_300)], clock);
    const cadence = { liveness: 10_000, canary: 60_000, fast: 2_000 };
    expect(nextProbeDelay(s.nodes[0], 'canary', cadence)).toBe(2_000);
    const busy = { ...(s.nodes[0] as MonitorState['nodes'][number]), queue: { busy: true, waitMs: 20_000, at: 1 } };
    expect(nextProbeDelay(busy, 'canary', cadence)).toBe(60_000);
  });

  test('queue view: a failed canary clears busy, liveness leaves it, unknown waits are never busy', () => {
    const q1 = nextQueueView(NO_QUEUE, canary(20_000, 300, 500), policy);
    expect(q1.busy).toBe(true);
    expect(nextQueueView(q1, live(), policy)).toBe(q1);
    expect(nextQueueView(q1, { node: 'primary', kind: 'canary', ok: false, reason: 'stalled', startedAt: 0, durationMs: 1 }, policy).busy).toBe(false);
    expect(nextQueueView(q1, canary(20_000, 300, 500, { durations: { totalNs: -1 } }), policy)).toMatchObject({ busy: false, waitMs: null });
  });
});

describe('busySignal: what check says each node gives', () => {
  test.each([
    ['ollama', 'ollama', true, /durations/],
    ['openai', 'ollama', true, /\/v1 carries none, so the canary uses Ollama's native \/api\/chat/],
    ['openai', 'llamacpp', false, /\/slots/],
    ['openai', 'vllm', false, /num_requests_waiting/],
    ['openai', 'unknown', false, /none known/],
  ] as const)('api %s on %s', (api, flavor, measured, text) => {
    const b = busySignal(api, flavor);
    expect(b.measured).toBe(measured);
    expect(b.text).toMatch(text);
  });
});
