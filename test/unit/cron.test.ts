import cron from 'node-cron';
import { nextCronMatch, parseCron } from '../../src/core/cron';
import { scheduleLocal } from '../../src/jobs/local-schedule';
import { FakeClock } from '../../src/util/clock';

/** Local times, so the table reads the same in any time zone (the reader works in local time, like node-cron). */
const at = (y: number, mo: number, d: number, h: number, mi: number, s = 0): number => new Date(y, mo - 1, d, h, mi, s).getTime();

describe('core/cron: plain expressions without Intl', () => {
  const steps: Array<[string, number, number]> = [
    ['17 * * * *', at(2026, 1, 5, 10, 16, 30), at(2026, 1, 5, 10, 17)],
    ['17 * * * *', at(2026, 1, 5, 10, 17), at(2026, 1, 5, 11, 17)],
    ['17 * * * *', at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 17)],
    ['0 9 * * 1', at(2026, 11, 30, 9, 0), at(2026, 12, 7, 9, 0)],
    ['0 9 * * mon', at(2026, 11, 29, 12, 0), at(2026, 11, 30, 9, 0)],
    ['*/15 8-10 * * *', at(2026, 3, 1, 10, 50), at(2026, 3, 2, 8, 0)],
    ['0 0 29 feb *', at(2026, 3, 1, 0, 0), at(2028, 2, 29, 0, 0)],
    // node-cron's rule: day of month AND day of week (the first Sunday that is a 1st: 2027-08-01).
    ['0 12 1 * 0', at(2026, 11, 2, 0, 0), at(2027, 8, 1, 12, 0)],
    ['30 4 1,15 * *', at(2026, 5, 2, 0, 0), at(2026, 5, 15, 4, 30)],
    ['0 17 * * * *', at(2026, 1, 5, 10, 0), at(2026, 1, 5, 10, 17)],
    ['0 0 * * 7', at(2026, 11, 30, 0, 0), at(2026, 12, 6, 0, 0)],
  ];
  test.each(steps)('%s after %p', (expr, after, next) => {
    const spec = parseCron(expr);
    expect(spec).toBeDefined();
    expect(new Date(nextCronMatch(spec!, after) as number).toString()).toBe(new Date(next).toString());
  });

  test.each(['* * * *', '60 * * * *', '5-2 * * * *', '0 0 L * *', '0 0 * * 1#2', '30 0 * * * *', 'x * * * *', '*/0 * * * *', '5/10 * * * *'])('%s is left to node-cron', (expr) => {
    expect(parseCron(expr)).toBeUndefined();
  });

  // config/cron.ts judges a plain expression without loading node-cron: each one read here must be one
  // node-cron accepts (the digest, for one, runs on node-cron).
  test.each(['17 * * * *', '0 9 * * 1', '*/15 2-4 * * mon-fri', '0 0 1 jan,jul *', '0 0 * * 7', '0 30 8 * * 1', '0-59/20 * * * SUN', '10-20/5 0 1-31/2 * *', '0 0 * * sun-sat', '59 23 31 12 6'])(
    'node-cron accepts %s too',
    (expr) => {
      expect(parseCron(expr)).toBeDefined();
      expect(cron.validate(expr)).toBe(true);
    },
  );

  test.each(['17 * * * *', '0 12 1 * 0', '*/20 9-17 * * mon-fri', '0 3 * * 0'])('agrees with node-cron on the next run of %s', (expr) => {
    const spec = parseCron(expr);
    const task = cron.createTask(expr, () => undefined);
    try {
      void task.start();
      const theirs = task.getNextRun();
      expect(theirs).not.toBeNull();
      expect(nextCronMatch(spec!, Date.now())).toBe(theirs?.getTime());
    } finally {
      void task.destroy();
    }
  });
});

describe('jobs/local-schedule: fires at matching local minutes (fake clock and timers)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('once per slot; a sleep through several slots runs once on waking; destroy stops it', () => {
    const clock = new FakeClock(at(2026, 1, 5, 10, 4, 30));
    const step = (ms: number) => {
      clock.advance(ms);
      jest.advanceTimersByTime(ms);
    };
    let fired = 0;
    const task = scheduleLocal(parseCron('5 * * * *')!, clock, () => fired++);
    task.start();
    step(29_000);
    expect(fired).toBe(0);
    step(1_000);
    expect(fired).toBe(1);
    step(60 * 60_000);
    expect(fired).toBe(2);
    // Asleep for three hours: the wall clock jumps, the timers see only the time they were due.
    clock.jump(3 * 60 * 60_000);
    jest.advanceTimersByTime(60 * 60_000);
    expect(fired).toBe(3);
    task.destroy();
    step(2 * 60 * 60_000);
    expect(fired).toBe(3);
  });
});
