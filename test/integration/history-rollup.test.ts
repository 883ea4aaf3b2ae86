import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cron from 'node-cron';
import { parseConfig, type Config } from '../../src/config';
import { HIST_RELATIVE_ERROR, quantile } from '../../src/history/histogram';
import { DAY_MS, HOUR_MS } from '../../src/history/intervals';
import { createHistoryJob, PRUNE_BATCH } from '../../src/jobs/history';
import { silentLogger } from '../../src/logging';
import { loadProbeStats } from '../../src/uptime/stats';
import { openStorage, type Storage } from '../../src/storage';
import { createHistory } from '../../src/storage/history';
import { FakeClock } from '../../src/util/clock';
import { insertProbes } from '../helpers/history-data';

const T0 = Date.UTC(2026, 0, 1);
const NODES = ['primary', 'fallback'];

let tmp: string;
let storage: Storage;

function config(history: Record<string, unknown> = {}): Config {
  return parseConfig({ nodes: [{ name: 'primary', url: 'http://127.0.0.1:1' }, { name: 'fallback', url: 'http://127.0.0.1:2' }], history }, {}, { baseDir: tmp });
}

function exactPercentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil(q * s.length))) - 1] as number;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-history-'));
  storage = openStorage(path.join(tmp, 'sentinel.db'), { clock: new FakeClock(T0) });
});

afterEach(() => {
  storage.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('rollups', () => {
  test('hourly and daily rollups equal the raw probes they summarise (counts exact, percentiles within the bucket error)', async () => {
    insertProbes(storage, NODES, T0, T0 + 2 * DAY_MS + 3 * HOUR_MS);
    const clock = new FakeClock(T0 + 2 * DAY_MS + 3 * HOUR_MS + 20 * 60_000);
    const job = createHistoryJob({ storage, config: config({ keepRaw: '30d' }), logger: silentLogger(), clock });
    const s = await job.runOnce();
    // 51 whole hours; the current hour (and the settle margin) stays raw.
    expect(s.hoursRolled).toBe(51);
    expect(s.daysRolled).toBe(2);
    expect(s.hourlyThrough).toBe(T0 + 51 * HOUR_MS);
    expect(s.dailyThrough).toBe(T0 + 2 * DAY_MS);
    expect(s.probesDeleted).toBe(0);

    const db = storage.db;
    const history = createHistory(db);
    for (const hour of [T0, T0 + 7 * HOUR_MS, T0 + 50 * HOUR_MS]) {
      for (const node of NODES) {
        for (const kind of ['liveness', 'canary']) {
          const [r] = history.rollupsBetween('hourly', hour, hour + HOUR_MS).filter((x) => x.node === node && x.kind === kind);
          const raw = db
            .prepare<[string, string, number, number], { ok: number; reason: string; duration_ms: number; ttft_ms: number | null; total_ms: number | null; tokens_per_sec: number | null; load_ms: number | null; eval_count: number | null }>(
              'SELECT * FROM probes WHERE node = ? AND kind = ? AND started_at >= ? AND started_at < ?',
            )
            .all(node, kind, hour, hour + HOUR_MS);
          expect(r).toBeDefined();
          expect(r?.checks).toBe(raw.length);
          expect(r?.ok).toBe(raw.filter((p) => p.ok === 1).length);
          const failures: Record<string, number> = {};
          for (const p of raw) if (p.ok === 0) failures[p.reason] = (failures[p.reason] ?? 0) + 1;
          expect(r?.failures).toEqual(failures);
          // probes.canary.coldStart defaults to 2 s; only successful canaries count, as in the daemon.
          expect(r?.coldStarts).toBe(raw.filter((p) => p.ok === 1 && kind === 'canary' && (p.load_ms ?? 0) > 2000).length);
          expect(r?.evalTokens).toBe(raw.reduce((n, p) => n + (p.eval_count ?? 0), 0));
          const latencies = raw.filter((p) => p.ok === 1).map((p) => (kind === 'canary' ? (p.total_ms as number) : p.duration_ms));
          for (const q of [0.5, 0.95, 0.99]) {
            const est = quantile(r?.total ?? new Map(), q) as number;
            const truth = exactPercentile(latencies, q);
            expect(Math.abs(est - truth) / truth).toBeLessThanOrEqual(HIST_RELATIVE_ERROR + 1e-9);
          }
          if (kind === 'canary') {
            const ttft = raw.filter((p) => p.ok === 1).map((p) => p.ttft_ms as number);
            const est = quantile(r?.ttft ?? new Map(), 0.95) as number;
            expect(Math.abs(est - exactPercentile(ttft, 0.95)) / exactPercentile(ttft, 0.95)).toBeLessThanOrEqual(HIST_RELATIVE_ERROR + 1e-9);
          }
        }
      }
    }
    // A day row is the sum of its hours and of its raw probes.
    const day = history.rollupsBetween('daily', T0 + DAY_MS, T0 + 2 * DAY_MS).find((x) => x.node === 'primary' && x.kind === 'liveness');
    const rawDay = db.prepare("SELECT count(*) AS n, sum(ok) AS ok FROM probes WHERE node = 'primary' AND kind = 'liveness' AND started_at >= ? AND started_at < ?").get(T0 + DAY_MS, T0 + 2 * DAY_MS) as { n: number; ok: number };
    expect(day?.checks).toBe(rawDay.n);
    expect(day?.ok).toBe(rawDay.ok);
    expect(rawDay.n).toBe(8640);
  });

  test('re-running is a no-op, and rolling up the same hours again gives identical rows (upsert)', async () => {
    insertProbes(storage, NODES, T0, T0 + 30 * HOUR_MS);
    const clock = new FakeClock(T0 + 30 * HOUR_MS + 10 * 60_000);
    const job = createHistoryJob({ storage, config: config(), logger: silentLogger(), clock });
    await job.runOnce();
    const dump = () => storage.db.prepare('SELECT * FROM rollups_hourly ORDER BY at, node, kind').all().concat(storage.db.prepare('SELECT * FROM rollups_daily ORDER BY at, node, kind').all());
    const first = dump();
    expect(first.length).toBe(30 * 4 + 4);

    const again = await job.runOnce();
    expect(again).toMatchObject({ hoursRolled: 0, daysRolled: 0, probesDeleted: 0 });
    storage.db.prepare('DELETE FROM history_marks').run();
    const redo = await job.runOnce();
    expect(redo.hoursRolled).toBe(30);
    expect(dump()).toEqual(first);
  });
});

describe('retention', () => {
  test('deletes only raw probes older than the window, in batches, without stalling other work; then reclaims the space', async () => {
    const end = T0 + 3 * DAY_MS;
    insertProbes(storage, NODES, T0, end);
    const now = end + 10 * 60_000;
    const cutoff = now - DAY_MS;
    const count = (sql: string, ...args: number[]) => (storage.db.prepare(sql).get(...args) as { n: number }).n;
    const older = count('SELECT count(*) AS n FROM probes WHERE started_at < ?', cutoff);
    const newer = count('SELECT count(*) AS n FROM probes WHERE started_at >= ?', cutoff);
    expect(older).toBeGreaterThan(3 * PRUNE_BATCH);

    const job = createHistoryJob({ storage, config: config({ keepRaw: '1d' }), logger: silentLogger(), clock: new FakeClock(now) });
    // Stand-in for the probe loop: a timer that writes a probe. It must get turns while the job runs.
    let writes = 0;
    const timer = setInterval(() => {
      storage.insertProbe({ node: 'primary', kind: 'liveness', startedAt: now, ok: true, reason: 'ok', durationMs: 1 });
      writes++;
    }, 1);
    let s;
    try {
      s = await job.runOnce();
    } finally {
      clearInterval(timer);
    }
    expect(writes).toBeGreaterThan(0);
    expect(s.probesDeleted).toBe(older);
    expect(count('SELECT count(*) AS n FROM probes WHERE started_at < ?', cutoff)).toBe(0);
    expect(count('SELECT count(*) AS n FROM probes WHERE started_at >= ? AND started_at < ?', cutoff, now)).toBe(newer);
    // The rollups still hold all three days.
    expect(count("SELECT sum(checks) AS n FROM rollups_daily WHERE node = 'primary'")).toBe(3 * (8640 + 1440));
    expect(s.pagesFreed).toBeGreaterThan(0);
    expect(storage.db.pragma('freelist_count', { simple: true })).toBe(0);
  });

  test('a failed rollup deletes nothing; the next run catches up, then prunes raw and rollups by their own retention', async () => {
    const total = insertProbes(storage, NODES, T0, T0 + 3 * DAY_MS);
    const history = storage.history;
    const cfg = config({ keepRaw: '1d', keepHourly: '2d', keepDaily: '2d' });
    // The disk "fills up" when the rollup reaches the second day.
    storage.db.exec(`CREATE TRIGGER full BEFORE INSERT ON rollups_hourly WHEN NEW.at >= ${T0 + DAY_MS} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const job = createHistoryJob({ storage, config: cfg, logger: silentLogger(), clock: new FakeClock(T0 + 10 * DAY_MS) });
    await expect(job.runOnce()).rejects.toThrow(/disk is full/);
    expect(history.mark('hourly')).toBe(T0 + DAY_MS);
    expect(history.counts().probes).toBe(total);

    storage.db.exec('DROP TRIGGER full');
    const s = await job.runOnce();
    expect(s.hoursRolled).toBe(48);
    expect(s.probesDeleted).toBe(total);
    expect(s.hourlyDeleted).toBe(72 * 4);
    expect(s.dailyDeleted).toBe(3 * 4);
    expect(history.counts()).toEqual({ probes: 0, hourly: 0, daily: 0 });
  });

  test('reports read rollups for old hours and raw probes for recent ones, with the same totals as raw alone', async () => {
    insertProbes(storage, NODES, T0, T0 + 3 * DAY_MS);
    const history = storage.history;
    const from = T0 + 5 * HOUR_MS + 17 * 60_000;
    const to = T0 + 3 * DAY_MS;
    const before = loadProbeStats(history, from, to, 2000);
    expect(before.sources.hourlyRows).toBe(0);
    await createHistoryJob({ storage, config: config({ keepRaw: '30d' }), logger: silentLogger(), clock: new FakeClock(T0 + 2 * DAY_MS + 2 * HOUR_MS) }).runOnce();
    const after = loadProbeStats(history, from, to, 2000);
    expect(after.sources.dailyRows).toBeGreaterThan(0);
    expect(after.sources.hourlyRows).toBeGreaterThan(0);
    expect(after.sources.rawProbes).toBeGreaterThan(0);
    for (const node of NODES) {
      for (const kind of ['liveness', 'canary']) {
        const a = before.byNode.get(node)?.get(kind);
        const b = after.byNode.get(node)?.get(kind);
        expect(b?.checks).toBe(a?.checks);
        expect(b?.ok).toBe(a?.ok);
        expect(b?.failures).toEqual(a?.failures);
        expect(b?.evalTokens).toBe(a?.evalTokens);
        expect(b?.coldStarts).toBe(a?.coldStarts);
        expect(b?.total).toEqual(a?.total);
      }
    }
  });
});

describe('schedule', () => {
  test('a plain schedule runs without node-cron (its Intl costs 5.5 MB resident; core/cron.ts)', async () => {
    const job = createHistoryJob({ storage, config: config({ schedule: '5 * * * *' }), logger: silentLogger(), clock: new FakeClock(T0) });
    const before = cron.getTasks().size;
    job.start();
    expect([...cron.getTasks().values()].filter((t) => t.name === 'llm-sentinel-history')).toHaveLength(0);
    await job.stop();
    expect(cron.getTasks().size).toBe(before);
  });

  test('a schedule the plain reader does not handle registers a node-cron task, and stop() removes it', async () => {
    const job = createHistoryJob({ storage, config: config({ schedule: '30 5 * * * *' }), logger: silentLogger(), clock: new FakeClock(T0) });
    const before = cron.getTasks().size;
    job.start();
    const mine = [...cron.getTasks().values()].filter((t) => t.name === 'llm-sentinel-history');
    expect(mine).toHaveLength(1);
    expect(mine[0]?.getPattern()).toBe('30 5 * * * *');
    await job.stop();
    expect(cron.getTasks().size).toBe(before);
  });

  test('a bad cron expression is a config error', () => {
    expect(() => config({ schedule: 'every hour' })).toThrow(/history\.schedule: not a cron expression/);
  });
});
