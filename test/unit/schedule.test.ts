import { newTrack, type Track } from '../../src/core/hysteresis';
import { nextProbeDelay, probingHealth, spannedSleep, wantsFastRecheck } from '../../src/core/schedule';

const t = (state: Track['state'], okStreak = 0, failStreak = 0): Track => ({ ...newTrack(state), okStreak, failStreak });
/** A track between its first sample and fall/rise: a streak against its state. */
const moving = (state: Track['state']) => (state === 'ok' ? t('ok', 0, 1) : t(state, 1, 0));
const node = (reach: Track, gen: Track = t('ok'), speed: Track = t('unknown')) => ({ reach, gen, speed });
const cadence = { liveness: 10_000, canary: 60_000, fast: 3_000 };

describe('wantsFastRecheck: a loop re-checks fast while the tracks it feeds are undecided', () => {
  test.each([
    ['liveness', node(t('ok')), false],
    ['liveness', node(moving('ok')), true],
    ['liveness', node(moving('unknown')), true],
    ['liveness', node(t('ok'), moving('ok')), false],
    ['canary', node(t('ok')), false],
    ['canary', node(t('ok'), moving('ok')), true],
    ['canary', node(t('ok'), t('ok'), moving('ok')), true],
    // Speed not measured yet: its streak is not a reason to hurry.
    ['canary', node(t('ok'), t('ok'), { ...t('unknown'), okStreak: 1 }), false],
    // Reachability rising from unknown: judge generation soon too; falling from ok is liveness's business.
    ['canary', node(moving('unknown')), true],
    ['canary', node(moving('ok')), false],
  ] as const)('%s, %j → %s', (kind, n, fast) => {
    expect(wantsFastRecheck(n, kind)).toBe(fast);
  });
});

describe('nextProbeDelay', () => {
  test('the normal cadence, the fast one while transitional, never slower than normal', () => {
    expect(nextProbeDelay(node(t('ok')), 'liveness', cadence)).toBe(10_000);
    expect(nextProbeDelay(node(moving('ok')), 'liveness', cadence)).toBe(3_000);
    expect(nextProbeDelay(node(t('ok'), moving('ok')), 'canary', cadence)).toBe(3_000);
    expect(nextProbeDelay(node(moving('ok')), 'liveness', { ...cadence, liveness: 1_000 })).toBe(1_000);
    expect(nextProbeDelay(undefined, 'canary', cadence)).toBe(60_000);
  });
});

describe('spannedSleep', () => {
  test('wall-clock span beyond the monotonic duration by more than 2 s means a sleep or a clock step', () => {
    expect(spannedSleep({ startedAt: 1_000, durationMs: 500 }, 1_500)).toBe(false);
    expect(spannedSleep({ startedAt: 1_000, durationMs: 500 }, 3_500)).toBe(false);
    expect(spannedSleep({ startedAt: 1_000, durationMs: 500 }, 3_501)).toBe(true);
  });
});

describe('probingHealth', () => {
  const base = { staleAfter: 90_000, liveness: { interval: 10_000, timeout: 5_000 }, jitter: 0.1, stopping: false };
  test('ok within staleAfter, stuck past it, and never ok while stopping', () => {
    expect(probingHealth({ ...base, ageMs: 12_000 })).toEqual({ ok: true, detail: 'last probe 12s ago' });
    expect(probingHealth({ ...base, ageMs: 90_001 })).toEqual({ ok: false, detail: 'no probe finished for 90s' });
    expect(probingHealth({ ...base, ageMs: 0, stopping: true })).toEqual({ ok: false, detail: 'stopping' });
  });
  test('a liveness cycle longer than staleAfter stretches the limit (interval × (1 + jitter) + timeout + 5 s)', () => {
    const long = { ...base, liveness: { interval: 300_000, timeout: 5_000 } };
    expect(probingHealth({ ...long, ageMs: 340_000 }).ok).toBe(true);
    expect(probingHealth({ ...long, ageMs: 340_001 }).ok).toBe(false);
  });
});
