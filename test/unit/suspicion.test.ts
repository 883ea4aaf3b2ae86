import { evidenceOf, judgeSuspicion, type NodeEvidence, type SuspicionInput } from '../../src/client/suspicion';
import { admitSuspect, type SuspectSlot } from '../../src/core/suspect';
import { FakeClock } from '../../src/util/clock';

const T = Date.UTC(2026, 0, 1, 12);
const before: NodeEvidence = { liveness: { ok: true, reason: 'ok', at: T - 9_000, attempts: 1 } };
const fail = (at: number, reason = 'timeout', attempts = 3): NodeEvidence => ({ liveness: { ok: false, reason, at, attempts } });
const pass = (at: number): NodeEvidence => ({ liveness: { ok: true, reason: 'ok', at, attempts: 1 } });

describe('judgeSuspicion: hedge now?', () => {
  const base: SuspicionInput = { waitedMs: 100, suspectAfterMs: 2_500, before, now: before, sawPass: false };
  const steps: Array<[string, Partial<SuspicionInput>, string]> = [
    ['nothing new, early: wait', {}, 'wait'],
    ['nothing new after suspectAfterMs: suspect', { waitedMs: 2_500 }, 'suspect'],
    ['suspect sent just now: wait', { waitedMs: 3_000, sinceSuspectMs: 500 }, 'wait'],
    ['suspect sent suspectAfterMs ago, still no verdict: suspect again', { waitedMs: 5_100, sinceSuspectMs: 2_600 }, 'suspect'],
    ['retried no-answer newer than start: hedge at once, even before suspectAfterMs', { now: fail(T + 1) }, 'hedge'],
    ['refused, retried: hedge', { now: fail(T + 1, 'refused') }, 'hedge'],
    ['Cloudflare tunnel down, retried: hedge', { now: fail(T + 1, 'cloudflare_tunnel_down') }, 'hedge'],
    ['cadence probe failed once (1 attempt): not enough, suspect', { waitedMs: 2_600, now: fail(T + 1, 'timeout', 1) }, 'suspect'],
    ['the node answered with an error (500): not hung, suspect/wait only', { waitedMs: 2_600, now: fail(T + 1, 'server_error') }, 'suspect'],
    ['model missing: the node answers', { now: fail(T + 1, 'model_missing') }, 'wait'],
    ['the failure is the one known at start: wait', { before: fail(T - 1), now: fail(T - 1) }, 'wait'],
    ['a liveness pass newer than start: wait', { waitedMs: 9_000, now: pass(T + 5) }, 'wait'],
    ['a pass seen at an earlier look, nothing new since: wait, never suspect again', { waitedMs: 9_000, sawPass: true, now: fail(T + 5, 'timeout', 1) }, 'wait'],
    ['a pass seen earlier, then a retried no-answer: the node stopped, hedge', { waitedMs: 9_000, sawPass: true, now: fail(T + 7) }, 'hedge'],
    ['state unusable now (missing, stale, hung): wait', { waitedMs: 9_000, now: undefined }, 'wait'],
    ['no usable state at start: wait', { waitedMs: 9_000, before: undefined, now: fail(T + 1) }, 'wait'],
    ['an older monitor without lastLiveness: suspect does no harm, never hedges', { waitedMs: 3_000, before: {}, now: {} }, 'suspect'],
    ['no liveness at start (first probe pending), a retried no-answer now: hedge', { before: {}, now: fail(T + 1) }, 'hedge'],
  ];
  test.each(steps)('%s', (_name, over, action) => {
    expect(judgeSuspicion({ ...base, ...over }).action).toBe(action);
  });

  test('evidenceOf reads lastLiveness, and tolerates its absence', () => {
    const n = { lastOkAt: new Date(T).toISOString(), lastLiveness: { ok: false, reason: 'reset', at: new Date(T + 5).toISOString(), attempts: 2 } };
    expect(evidenceOf(n as never)).toEqual({ liveness: { ok: false, reason: 'reset', at: T + 5, attempts: 2 } });
    expect(evidenceOf({ lastOkAt: null } as never)).toEqual({});
    expect(evidenceOf({ lastLiveness: null } as never)).toEqual({});
    expect(evidenceOf(undefined)).toBeUndefined();
  });
});

describe('admitSuspect: at most one extra probe per node per second (fake clock)', () => {
  test('a flood within one second admits one probe; the next second admits one more', () => {
    const clock = new FakeClock();
    let slot: SuspectSlot | undefined;
    const verdicts: string[] = [];
    let probes = 0;
    // 1,000 reports over 2.5 s (one every 2.5 ms); each admitted probe takes 300 ms.
    let doneAt: number | undefined;
    for (let i = 0; i < 1_000; i++) {
      if (slot && doneAt !== undefined && clock.mono() >= doneAt) slot = { ...slot, inFlight: false };
      const v = admitSuspect(slot, clock.mono());
      verdicts.push(v);
      if (v === 'probe') {
        probes++;
        slot = { lastStartedAt: clock.mono(), inFlight: true };
        doneAt = clock.mono() + 300;
      }
      clock.advance(2.5);
    }
    expect(probes).toBe(3);
    expect(verdicts.filter((v) => v === 'busy').length).toBeGreaterThan(0);
    expect(verdicts.filter((v) => v === 'limited').length).toBeGreaterThan(0);
  });

  const steps: Array<[string, SuspectSlot | undefined, number, string]> = [
    ['never probed', undefined, 5_000, 'probe'],
    ['in flight', { lastStartedAt: 4_000, inFlight: true }, 9_000, 'busy'],
    ['999 ms after the last', { lastStartedAt: 4_001, inFlight: false }, 5_000, 'limited'],
    ['1 s after the last', { lastStartedAt: 4_000, inFlight: false }, 5_000, 'probe'],
    ['monotonic clock behind the last start', { lastStartedAt: 6_000, inFlight: false }, 5_000, 'probe'],
  ];
  test.each(steps)('%s', (_name, slot, mono, verdict) => {
    expect(admitSuspect(slot, mono)).toBe(verdict);
  });
});
