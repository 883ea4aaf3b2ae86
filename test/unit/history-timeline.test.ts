import { deriveIncidents, incidentsIn } from '../../src/history/incidents';
import { intersect, normalize, observedIntervals, percent, subtract, totalMs } from '../../src/history/intervals';
import { breakdown, judgedMs, preferredSegments, servingMs, statusSegments, trafficTime, type StatusChange } from '../../src/history/timeline';

const T0 = Date.UTC(2026, 2, 1);
const MIN = 60_000;
const H = 60 * MIN;

const change = (at: number, from: string, to: string, reason = to === 'up' ? 'ok' : 'refused'): StatusChange => ({ at, from, to, reason });

describe('interval arithmetic', () => {
  test('normalize merges overlaps and drops empty intervals', () => {
    expect(normalize([{ from: 5, to: 9 }, { from: 0, to: 3 }, { from: 3, to: 4 }, { from: 7, to: 12 }, { from: 20, to: 20 }])).toEqual([
      { from: 0, to: 4 },
      { from: 5, to: 12 },
    ]);
  });

  test('intersect and subtract', () => {
    const a = [{ from: 0, to: 10 }, { from: 20, to: 30 }];
    const b = [{ from: 5, to: 25 }];
    expect(intersect(a, b)).toEqual([{ from: 5, to: 10 }, { from: 20, to: 25 }]);
    expect(subtract(a, b)).toEqual([{ from: 0, to: 5 }, { from: 25, to: 30 }]);
    expect(subtract(a, [{ from: 2, to: 3 }, { from: 4, to: 6 }])).toEqual([{ from: 0, to: 2 }, { from: 3, to: 4 }, { from: 6, to: 10 }, { from: 20, to: 30 }]);
  });

  test('percent has three decimals and is null for an empty whole', () => {
    expect(percent(1, 3)).toBe(33.333);
    expect(percent(0, 0)).toBeNull();
  });
});

describe('observed time', () => {
  test('a run covers start to clean end; an unclean run only up to its last heartbeat; sleep is cut out', () => {
    const runs = [
      { startedAt: T0, lastSeenAt: T0 + H, endedAt: T0 + H, cleanExit: true },
      // Crashed: closed at its last heartbeat, 10 minutes into the hour after.
      { startedAt: T0 + 2 * H, lastSeenAt: T0 + 2 * H + 10 * MIN, endedAt: T0 + 2 * H + 10 * MIN, cleanExit: false },
      // Still running, last heartbeat 3h30.
      { startedAt: T0 + 3 * H, lastSeenAt: T0 + 3 * H + 30 * MIN, endedAt: null },
    ];
    const gaps = [
      { kind: 'sleep', from: T0 + 15 * MIN, to: T0 + 45 * MIN },
      // A clock stepped back hides nothing.
      { kind: 'clock_back', from: T0 + 3 * H + 20 * MIN, to: T0 + 3 * H + 5 * MIN },
      // The monitor's own network was down: nothing judged, so not watched either.
      { kind: 'offline', from: T0 + 3 * H + 25 * MIN, to: T0 + 3 * H + 28 * MIN },
    ];
    const obs = observedIntervals(runs, gaps, T0, T0 + 4 * H);
    expect(obs).toEqual([
      { from: T0, to: T0 + 15 * MIN },
      { from: T0 + 45 * MIN, to: T0 + H },
      { from: T0 + 2 * H, to: T0 + 2 * H + 10 * MIN },
      { from: T0 + 3 * H, to: T0 + 3 * H + 25 * MIN },
      { from: T0 + 3 * H + 28 * MIN, to: T0 + 3 * H + 30 * MIN },
    ]);
    expect(totalMs(obs)).toBe(30 * MIN + 10 * MIN + 27 * MIN);
  });
});

describe('status timeline and uptime', () => {
  test('the status at the window start comes from the last transition before it', () => {
    const segs = statusSegments(change(T0 - H, 'up', 'down'), [change(T0 + 10 * MIN, 'down', 'up')], [T0 - 2 * H], T0, T0 + H);
    expect(segs.map((s) => [s.status, s.to - s.from])).toEqual([
      ['down', 10 * MIN],
      ['up', 50 * MIN],
    ]);
  });

  test('a monitor gap (stopped for 1 h) lowers coverage, not uptime', () => {
    const runs = [
      { startedAt: T0, lastSeenAt: T0 + H, endedAt: T0 + H },
      { startedAt: T0 + 2 * H, lastSeenAt: T0 + 3 * H, endedAt: T0 + 3 * H },
    ];
    const observed = observedIntervals(runs, [], T0, T0 + 3 * H);
    // Restored from the state file at the second start: no transition, the node stays up.
    const segs = statusSegments(undefined, [change(T0, 'unknown', 'up')], [T0, T0 + 2 * H], T0, T0 + 3 * H);
    const b = breakdown(segs, observed, [], T0, T0 + 3 * H);
    expect(b).toMatchObject({ wallMs: 3 * H, upMs: 2 * H, downMs: 0, notObservedMs: H });
    expect(percent(servingMs(b), judgedMs(b))).toBe(100);
    expect(percent(judgedMs(b), b.wallMs)).toBe(66.667);
  });

  test('a restart without a state file is unknown from the run start until the first verdict', () => {
    // Up in the first run; the second run starts at 2h, says unknown → up only at 2h05.
    const changes = [change(T0, 'unknown', 'up'), change(T0 + 2 * H + 5 * MIN, 'unknown', 'up')];
    const segs = statusSegments(undefined, changes, [T0, T0 + 2 * H], T0, T0 + 3 * H);
    expect(segs.map((s) => [s.status, (s.from - T0) / MIN, (s.to - T0) / MIN])).toEqual([
      ['up', 0, 120],
      ['unknown', 120, 125],
      ['up', 125, 180],
    ]);
  });

  test('degraded counts as serving but is reported separately; maintenance is shown beside', () => {
    const segs = statusSegments(undefined, [change(T0, 'unknown', 'up'), change(T0 + 30 * MIN, 'up', 'degraded', 'slow'), change(T0 + 40 * MIN, 'degraded', 'down'), change(T0 + 50 * MIN, 'down', 'up')], [T0], T0, T0 + H);
    const b = breakdown(segs, [{ from: T0, to: T0 + H }], [{ from: T0 + 35 * MIN, to: T0 + 55 * MIN }], T0, T0 + H);
    expect(b).toMatchObject({ upMs: 40 * MIN, degradedMs: 10 * MIN, downMs: 10 * MIN, maintenanceMs: 20 * MIN, notObservedMs: 0 });
    expect(percent(servingMs(b), judgedMs(b))).toBe(83.333);
  });
});

describe('incidents', () => {
  const preferred = {
    initial: { at: T0 - H, to: 'primary', allDown: false },
    changes: [
      { at: T0 + 10 * MIN, to: 'fallback', allDown: false },
      { at: T0 + 50 * MIN, to: 'primary', allDown: false },
    ],
  };

  test('one incident per outage, worst status and its cause, where traffic went, maintenance overlap', () => {
    const changes = [
      change(T0 - H, 'unknown', 'up'),
      change(T0 + 10 * MIN, 'up', 'degraded', 'slow'),
      change(T0 + 12 * MIN, 'degraded', 'down', 'cloudflare_tunnel_down'),
      change(T0 + 40 * MIN, 'down', 'up'),
      change(T0 + 70 * MIN, 'up', 'down', 'refused'),
    ];
    const incs = deriveIncidents('primary', changes, preferred, [{ from: T0 + 65 * MIN, to: T0 + 80 * MIN }], T0 + 2 * H);
    expect(incs).toEqual([
      { node: 'primary', start: T0 + 10 * MIN, end: T0 + 40 * MIN, status: 'down', cause: 'cloudflare_tunnel_down', trafficTo: ['fallback'], inMaintenance: false },
      { node: 'primary', start: T0 + 70 * MIN, end: null, status: 'down', cause: 'refused', trafficTo: ['primary'], inMaintenance: true },
    ]);
    expect(incidentsIn(incs, T0 + 45 * MIN, T0 + 60 * MIN, T0 + 2 * H)).toEqual([]);
    expect(incidentsIn(incs, T0 + 90 * MIN, T0 + 100 * MIN, T0 + 2 * H)).toHaveLength(1);
  });

  test('traffic time counts only watched time', () => {
    const segs = preferredSegments(preferred.initial, preferred.changes, T0, T0 + H);
    const t = trafficTime(segs, [{ from: T0, to: T0 + 30 * MIN }]);
    expect(t.byNode.get('primary')).toBe(10 * MIN);
    expect(t.byNode.get('fallback')).toBe(20 * MIN);
    expect(t.allDownMs).toBe(0);
  });
});
