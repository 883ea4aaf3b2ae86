import { parseConfig, type Config } from '../../src/config';
import { Daemon } from '../../src/daemon/daemon';
import type { DaemonEvents } from '../../src/daemon/events';
import { watchClock, type ClockJump } from '../../src/daemon/wake';
import { silentLogger } from '../../src/logging';
import { readState } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { openStorage, type Storage } from '../../src/storage';
import { FakeClock } from '../../src/util/clock';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';
import { sleep } from '../helpers/wait';

/*
 * Clock jumps both ways. A child process's clock cannot be moved, so this runs at unit level: watchClock
 * under jest's fake timers, then the Daemon class in-process on a FakeClock (real timers, real simulators,
 * a real database): a forward jump is a sleep (gap recorded, every node probed at once, a probe that
 * straddled it not judged), a backward step is recorded and changes nothing, and the failback hold runs on
 * the monotonic clock. The pure core's side (decide/evaluatePreferred across jumps) is in test/unit/decide.test.ts.
 */

const HOUR = 3_600_000;

describe('watchClock (fake timers)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** One watchClock tick of `tickMs` during which the monotonic clock moved `tickMs` and the wall `tickMs + jump`. */
  function tick(clock: FakeClock, jumpMs = 0, tickMs = 1000): void {
    clock.advance(tickMs);
    if (jumpMs) clock.jump(jumpMs);
    jest.advanceTimersByTime(tickMs);
  }

  test('a forward jump is one sleep, a backward one is one clock_back, each reported exactly once', () => {
    const clock = new FakeClock();
    const jumps: ClockJump[] = [];
    const stop = watchClock(clock, (j) => jumps.push(j));
    for (let i = 0; i < 10; i++) tick(clock);
    expect(jumps).toEqual([]);

    const before = clock.now();
    tick(clock, 2 * HOUR);
    expect(jumps).toEqual([{ kind: 'sleep', from: before, to: before + 1000 + 2 * HOUR, deltaMs: 2 * HOUR }]);
    // The next ticks compare against the new wall time: the same sleep is not reported again.
    for (let i = 0; i < 5; i++) tick(clock);
    expect(jumps).toHaveLength(1);

    const beforeBack = clock.now();
    tick(clock, -HOUR);
    expect(jumps[1]).toEqual({ kind: 'clock_back', from: beforeBack, to: beforeBack + 1000 - HOUR, deltaMs: -HOUR });
    // Time "repeating" after a step back does not fire again, however long it lasts.
    for (let i = 0; i < 3600; i++) tick(clock);
    expect(jumps).toHaveLength(2);
    stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  test('drift up to the threshold is ignored (NTP slews, a busy event loop); just past it is a jump', () => {
    const clock = new FakeClock();
    const jumps: ClockJump[] = [];
    const stop = watchClock(clock, (j) => jumps.push(j), { tickMs: 1000, thresholdMs: 5000 });
    tick(clock, 4999);
    tick(clock, -4999);
    tick(clock, 5000);
    tick(clock, -5000);
    expect(jumps).toEqual([]);
    tick(clock, 5001);
    tick(clock, -5001);
    expect(jumps.map((j) => [j.kind, j.deltaMs])).toEqual([
      ['sleep', 5001],
      ['clock_back', -5001],
    ]);
    // A late tick (the event loop was blocked 30 s) moves both clocks alike: not a jump.
    clock.advance(30_000);
    jest.advanceTimersByTime(1000);
    expect(jumps).toHaveLength(2);
    stop();
  });

  test('a jump and its undoing within one tick cancel out; a sleep measured over a long tick is still seen', () => {
    const clock = new FakeClock();
    const jumps: ClockJump[] = [];
    const stop = watchClock(clock, (j) => jumps.push(j), { tickMs: 10_000 });
    clock.jump(HOUR);
    clock.jump(-HOUR);
    tick(clock, 0, 10_000);
    expect(jumps).toEqual([]);
    tick(clock, 6 * HOUR, 10_000);
    expect(jumps.map((j) => j.kind)).toEqual(['sleep']);
    stop();
  });
});

describe('the Daemon on a FakeClock (in-process, real timers and simulators)', () => {
  let nodes: TwoNodes;
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let storage: Storage;
  let daemon: Daemon | undefined;
  let clock: FakeClock;
  let config: Config;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-faults-clock-');
    ({ dir, primary, fallback } = nodes);
    // Liveness every 60 s: any probe seen within a second or two of a jump was triggered by it.
    config = parseConfig(
      {
        instance: 'clock',
        nodes: [
          { name: 'primary', url: primary.url, model: 'llama3.2' },
          { name: 'fallback', url: fallback.url, model: 'llama3.2' },
        ],
        probes: { liveness: { interval: '60s', timeout: '1s' }, canary: { enabled: false }, connectTimeout: '300ms', jitter: 0 },
        decision: { fall: 2, rise: 2, fastInterval: '100ms', failbackHold: '60s' },
        state: { heartbeat: '200ms', staleAfter: '5s' },
        stateFile: 'state.json',
        database: 'sentinel.db',
      },
      {},
      { baseDir: dir },
    );
    storage = openStorage(config.database);
    clock = new FakeClock(Date.UTC(2026, 2, 1, 12));
  });

  afterEach(async () => {
    await daemon?.stop('test');
    daemon = undefined;
    storage.close();
    await nodes.close();
  });

  /** Resolves with the first event `name` (within `ms`) for which `match` holds. */
  function next<K extends keyof DaemonEvents>(d: Daemon, name: K, ms: number, match: (...args: DaemonEvents[K]) => boolean = () => true): Promise<DaemonEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        d.events.off(name, on as never);
        reject(new Error(`no ${String(name)} within ${ms}ms`));
      }, ms);
      function on(...args: DaemonEvents[K]): void {
        if (!match(...args)) return;
        clearTimeout(timer);
        d.events.off(name, on as never);
        resolve(args);
      }
      d.events.on(name, on as never);
    });
  }

  /** Every event of a kind from now on, for counting afterwards. */
  function record<K extends keyof DaemonEvents>(d: Daemon, name: K): Array<DaemonEvents[K]> {
    const seen: Array<DaemonEvents[K]> = [];
    d.events.on(name, ((...args: DaemonEvents[K]) => seen.push(args)) as never);
    return seen;
  }

  async function startBothUp(): Promise<Daemon> {
    const d = new Daemon({ config, storage, logger: silentLogger(), clock, version: '0.0.0-test', random: () => 0.5 });
    daemon = d;
    const up = (name: string) => next(d, 'node:transition', 5_000, (e) => e.node === name && e.to === 'up');
    const both = Promise.all([up('primary'), up('fallback')]);
    d.start();
    await both;
    return d;
  }

  const gaps = () => storage.db.prepare('SELECT kind, from_at, to_at FROM gaps ORDER BY id').all() as Array<{ kind: string; from_at: number; to_at: number }>;

  test('waking from a 2 h sleep: gap recorded, every node probed at once, no transition', async () => {
    const d = await startBothUp();
    const transitions = record(d, 'node:transition');
    const probes = record(d, 'probe:done');
    const before = clock.now();
    clock.jump(2 * HOUR);
    const [jump] = await next(d, 'clock:jump', 2_500);
    expect(jump).toMatchObject({ kind: 'sleep', from: before, to: before + 2 * HOUR });
    expect(gaps()).toEqual([{ kind: 'sleep', from_at: before, to_at: before + 2 * HOUR }]);
    // Both nodes are probed right away (their normal interval is 60 s) and judged as of the new time.
    await Promise.all(['primary', 'fallback'].map((n) => next(d, 'probe:done', 2_000, (r) => r.node === n)));
    const woke = probes.filter(([r]) => r.startedAt >= before + 2 * HOUR);
    expect(new Set(woke.map(([r]) => r.node))).toEqual(new Set(['primary', 'fallback']));
    expect(woke.every(([r, judged]) => r.ok && judged)).toBe(true);
    await sleep(300);
    expect(transitions).toEqual([]);
    expect(d.state.nodes.map((n) => n.status)).toEqual(['up', 'up']);
    expect(Date.parse(readState(config.stateFile)?.updatedAt ?? '')).toBeGreaterThanOrEqual(before + 2 * HOUR);
  });

  test('a probe that straddles the sleep is recorded but not judged; only failures after it count', async () => {
    const d = await startBothUp();
    const probes = record(d, 'probe:done');
    const down = next(d, 'node:transition', 10_000, (e) => e.node === 'primary' && e.to === 'down');
    await primary.setFault('hang');
    d.reportFailure('primary', 'timeout', 'test');
    await sleep(100); // the triggered probe is now waiting on the hung node
    const wokeAt = clock.now() + 2 * HOUR;
    clock.jump(2 * HOUR);
    const [straddled, judged] = await next(d, 'probe:done', 2_500, (r) => r.node === 'primary');
    expect(straddled).toMatchObject({ node: 'primary', reason: 'timeout' });
    expect(straddled.startedAt).toBeLessThan(wokeAt);
    expect(judged).toBe(false);
    const row = storage.db.prepare("SELECT reason, detail FROM probes WHERE node = 'primary' ORDER BY id DESC LIMIT 1").get() as { reason: string; detail: string };
    expect(row.detail).toMatch(/spanned a sleep or clock jump; not judged/);
    expect(d.state.nodes[0]?.status).toBe('up');
    // The node really hangs, so it does go down, but only after softFall judged timeouts from after the wake.
    const [e] = await down;
    const counted = probes.filter(([r, j]) => r.node === 'primary' && !r.ok && j);
    expect(counted).toHaveLength(config.decision.softFall);
    expect(counted.every(([r]) => r.startedAt >= wokeAt)).toBe(true);
    expect(e.reason).toBe('timeout');
  });

  test('the clock stepped back 1 h: gap recorded, nothing probed early, nothing flips, later probes judged normally', async () => {
    const d = await startBothUp();
    const transitions = record(d, 'node:transition');
    const probes = record(d, 'probe:done');
    const before = clock.now();
    clock.jump(-HOUR);
    const [jump] = await next(d, 'clock:jump', 2_500);
    expect(jump).toMatchObject({ kind: 'clock_back', from: before, to: before - HOUR });
    expect(gaps()).toEqual([{ kind: 'clock_back', from_at: before, to_at: before - HOUR }]);
    await sleep(1200);
    // A step back is not a wake-up: no probe is triggered (the next one is due in a minute).
    expect(probes).toEqual([]);
    // A probe now (a client report) is judged as usual, though its start time is "before" the last one's.
    d.reportFailure('fallback', 'timeout', 'test');
    const [r, judged] = await next(d, 'probe:done', 2_000, (x) => x.node === 'fallback');
    expect(r.ok && judged).toBe(true);
    expect(r.startedAt).toBe(before - HOUR);
    expect(transitions).toEqual([]);
    expect(d.state.preferred).toBe('primary');
  });

  test('the failback hold runs on the monotonic clock: a 2 h sleep does not serve it, 60 s of real time does', async () => {
    const d = await startBothUp();
    const preferred = record(d, 'preferred:changed');
    const failover = next(d, 'preferred:changed', 5_000, (e) => e.to === 'fallback');
    await primary.setFault('refuse');
    d.reportFailure('primary', 'refused', 'test');
    await failover;
    const primaryUp = next(d, 'node:transition', 5_000, (e) => e.node === 'primary' && e.to === 'up');
    await primary.setFault('none');
    d.reportFailure('primary', 'refused', 'test');
    await primaryUp;
    expect(d.state.preferred).toBe('fallback');

    clock.jump(2 * HOUR);
    await next(d, 'clock:jump', 2_500);
    // Several heartbeats (200 ms) evaluate the hold after the wake; none may fail back.
    await sleep(1000);
    expect(d.state.preferred).toBe('fallback');
    expect(readState(config.stateFile)?.preferred.name).toBe('fallback');

    const failback = next(d, 'preferred:changed', 2_000, (e) => e.to === 'primary');
    clock.advance(60_000);
    const [e] = await failback;
    expect(e.reason).toMatch(/failback/);
    expect(preferred.map(([p]) => p.to)).toEqual(['fallback', 'primary']);
    // advance() moved both clocks: that was time passing, not a jump.
    expect(gaps().map((g) => g.kind)).toEqual(['sleep']);
  });
});
