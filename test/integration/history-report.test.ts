import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { run as reportCli } from '../../src/cli/report';
import type { CliIo } from '../../src/cli/io';
import { watchClock, type ClockJump } from '../../src/daemon/wake';
import { HOUR_MS } from '../../src/history/intervals';
import { silentLogger } from '../../src/logging';
import { buildReport } from '../../src/uptime/model';
import { openStorage, type Storage } from '../../src/storage';
import { createHistory } from '../../src/storage/history';
import { loadMigrations, migrate } from '../../src/storage/migrate';
import { FakeClock } from '../../src/util/clock';
import { insertProbes } from '../helpers/history-data';

const T0 = Date.UTC(2026, 4, 4);
const MIN = 60_000;
const iso = (t: number) => new Date(t).toISOString();

let tmp: string;
let dbFile: string;
let configFile: string;

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  return { io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {} }, out: () => out, err: () => err };
}

/** Waits for the real wake detector to see a wall-clock jump, as the daemon does. */
function detectJump(clock: FakeClock, jumpMs: number): Promise<ClockJump> {
  return new Promise((resolve) => {
    const stop = watchClock(
      clock,
      (j) => {
        stop();
        resolve(j);
      },
      { tickMs: 5, thresholdMs: 5000 },
    );
    setTimeout(() => clock.jump(jumpMs), 20);
  });
}

/**
 * Four hours, written through the same storage calls the daemon makes:
 *   0h00 run 1 starts; both nodes unknown → up at 0h00m05s; apps on primary
 *   1h00 run 1 stops cleanly — the monitor is off for an hour —
 *   2h00 run 2 starts (statuses restored from the state file: no transition)
 *   2h30 primary down (cloudflare_tunnel_down), apps → fallback; 2h40 primary up, apps → primary
 *   3h00 the host sleeps for 20 minutes (detected from the clock jump, recorded as a gap)
 *   3h50 last heartbeat of run 2, which then crashes; run 3 starts at 4h00 and closes it as unclean
 */
async function writeScenario(storage: Storage): Promise<void> {
  const up = T0 + 5_000;
  const r1 = storage.startRun({ instance: 'test', pid: 1, version: '0.0.0', at: T0 }).runId;
  for (const node of ['primary', 'fallback']) storage.insertTransition({ node, from: 'unknown', to: 'up', reason: 'ok', at: up });
  storage.insertPreferredChange({ from: null, to: 'primary', reason: 'start', allDown: false, at: up });
  storage.touchRun(r1, T0 + 50 * MIN);
  storage.endRun(r1, T0 + HOUR_MS, 'signal');

  const r2 = storage.startRun({ instance: 'test', pid: 2, version: '0.0.0', at: T0 + 2 * HOUR_MS }).runId;
  storage.insertTransition({ node: 'primary', from: 'up', to: 'down', reason: 'cloudflare_tunnel_down', at: T0 + 150 * MIN });
  storage.insertPreferredChange({ from: 'primary', to: 'fallback', reason: 'primary is down', allDown: false, at: T0 + 150 * MIN });
  storage.insertTransition({ node: 'primary', from: 'down', to: 'up', reason: 'ok', at: T0 + 160 * MIN });
  storage.insertPreferredChange({ from: 'fallback', to: 'primary', reason: 'failback', allDown: false, at: T0 + 160 * MIN });
  const clock = new FakeClock(T0 + 3 * HOUR_MS);
  const jump = await detectJump(clock, 20 * MIN);
  storage.insertGap({ runId: r2, kind: jump.kind, from: jump.from, to: jump.to });
  storage.touchRun(r2, T0 + 230 * MIN);
  storage.startRun({ instance: 'test', pid: 3, version: '0.0.0', at: T0 + 4 * HOUR_MS });

  insertProbes(storage, ['primary', 'fallback'], T0, T0 + HOUR_MS, 1);
  insertProbes(storage, ['primary', 'fallback'], T0 + 2 * HOUR_MS, T0 + 230 * MIN, 2);
}

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-report-'));
  dbFile = path.join(tmp, 'sentinel.db');
  configFile = path.join(tmp, 'config.yaml');
  fs.writeFileSync(
    configFile,
    `nodes:
  - { name: primary, url: "http://127.0.0.1:1" }
  - { name: fallback, url: "http://127.0.0.1:2" }
database: sentinel.db
`,
  );
  const storage = openStorage(dbFile, { clock: new FakeClock(T0) });
  try {
    await writeScenario(storage);
  } finally {
    storage.close();
  }
});

afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('report: truthful uptime', () => {
  test('--json: a monitor gap lowers coverage, not uptime; a sleep gap is not observed; incidents say where traffic went', async () => {
    const c = capture();
    const code = await reportCli(['--config', configFile, '--from', iso(T0), '--to', iso(T0 + 4 * HOUR_MS), '--json'], c.io, () => T0 + 5 * HOUR_MS);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const j = JSON.parse(c.out());

    expect(j).toMatchObject({ format: 'llm-sentinel.report/1', window: { from: iso(T0), to: iso(T0 + 4 * HOUR_MS), wallMs: 4 * HOUR_MS } });
    // Watched: 0h-1h, 2h-3h, 3h20-3h50 (run 2 crashed: it counts up to its last heartbeat only).
    const observed = 150 * MIN;
    expect(j.monitor).toEqual({ coverage: 62.5, observedMs: observed, runs: 2, uncleanStops: 1, sleepMs: 20 * MIN, offlineMs: 0 });

    const judged = observed - 5_000;
    const fallback = j.nodes.find((n: { name: string }) => n.name === 'fallback');
    expect(fallback.uptime).toBe(100);
    expect(fallback.coverage).toBe(Math.round((judged / (4 * HOUR_MS)) * 100_000) / 1000);
    expect(fallback.time).toEqual({ upMs: judged, degradedMs: 0, downMs: 0, unknownMs: 5_000, notObservedMs: 4 * HOUR_MS - observed, maintenanceMs: 0 });

    const primary = j.nodes.find((n: { name: string }) => n.name === 'primary');
    expect(primary.time.downMs).toBe(10 * MIN);
    expect(primary.uptime).toBe(Math.round(((judged - 10 * MIN) / judged) * 100_000) / 1000);
    expect(primary.coverage).toBe(fallback.coverage);
    expect(primary.incidents).toBe(1);
    expect(j.incidents).toEqual([
      {
        node: 'primary',
        start: iso(T0 + 150 * MIN),
        end: iso(T0 + 160 * MIN),
        ongoing: false,
        durationMs: 10 * MIN,
        status: 'down',
        cause: 'cloudflare_tunnel_down',
        trafficTo: ['fallback'],
        inMaintenance: false,
      },
    ]);
    expect(j.traffic.byNode).toEqual([
      { node: 'primary', ms: judged - 10 * MIN, percent: Math.round(((judged - 10 * MIN) / observed) * 100_000) / 1000 },
      { node: 'fallback', ms: 10 * MIN, percent: Math.round(((10 * MIN) / observed) * 100_000) / 1000 },
    ]);

    // Probe statistics: every field present, numbers where there were probes.
    expect(primary.checks.total).toBe(360 + 60 + (660 + 110));
    expect(primary.latencyMs.ttft.p50).toEqual(expect.any(Number));
    expect(primary.latencyMs.ttft.p99).toBeGreaterThanOrEqual(primary.latencyMs.ttft.p95);
    expect(primary.latencyMs.total.p95).toEqual(expect.any(Number));
    expect(primary.latencyMs.liveness.p50).toEqual(expect.any(Number));
    expect(primary.tokensPerSec.p50).toBeGreaterThan(0);
    expect(primary.coldStarts).toEqual(expect.any(Number));
    expect(j.canaryCost.tokens).toBe(primary.canaryTokens + fallback.canaryTokens);
    expect(j.canaryCost.tokens).toBeGreaterThan(0);
  });

  test('human output: a table with uptime and coverage side by side, and the incident', async () => {
    const c = capture();
    const code = await reportCli(['--config', configFile, '--from', iso(T0), '--to', iso(T0 + 4 * HOUR_MS)], c.io, () => T0 + 5 * HOUR_MS);
    expect(code).toBe(0);
    const text = c.out();
    expect(text).toMatch(/NODE\s+UPTIME\s+COVERAGE/);
    expect(text).toMatch(/^primary\s+\d+\.\d{3} %\s+\d+\.\d{3} %/m);
    expect(text).toMatch(/^fallback\s+100\.0 %\s+62\.\d{3} %/m);
    expect(text).toMatch(/cloudflare_tunnel_down\s+fallback/);
    expect(text).toContain('1 unclean stop');
  });

  test('--node limits the report; bad flags, unknown nodes and a missing database are errors', async () => {
    const c = capture();
    expect(await reportCli(['--config', configFile, '--since', '6h', '--node', 'fallback', '--json'], c.io, () => T0 + 5 * HOUR_MS)).toBe(0);
    expect(JSON.parse(c.out()).nodes.map((n: { name: string }) => n.name)).toEqual(['fallback']);

    const bad = capture();
    expect(await reportCli(['--config', configFile, '--since', '1d', '--from', iso(T0)], bad.io)).toBe(64);
    expect(bad.err()).toMatch(/not both/);
    expect(await reportCli(['--config', configFile, '--node', 'nope'], bad.io)).toBe(64);
    expect(await reportCli(['--config', configFile, '--since', 'soon'], bad.io)).toBe(64);
    const missing = capture();
    expect(await reportCli(['--database', path.join(tmp, 'nope.db')], missing.io)).toBe(1);
    expect(missing.err()).toMatch(/no database at/);
    expect(fs.existsSync(path.join(tmp, 'nope.db'))).toBe(false);
  });
});

describe('maintenance windows (from the alerts migration, read if present)', () => {
  test('one-off windows in maintenance_windows are shown beside uptime and on the incident; ended_at wins', () => {
    const file = path.join(tmp, 'maint.db');
    const storage = openStorage(file, { clock: new FakeClock(T0) });
    try {
      const run = storage.startRun({ instance: 't', pid: 1, version: '0', at: T0 }).runId;
      storage.insertTransition({ node: 'primary', from: 'unknown', to: 'up', reason: 'ok', at: T0 });
      storage.insertTransition({ node: 'primary', from: 'up', to: 'down', reason: 'refused', at: T0 + 20 * MIN });
      storage.insertTransition({ node: 'primary', from: 'down', to: 'up', reason: 'ok', at: T0 + 30 * MIN });
      storage.endRun(run, T0 + HOUR_MS, 'signal');
      // Planned for 30 minutes, ended early after 15 with `maintenance end`; fallback's window is not primary's.
      const insert = storage.db.prepare('INSERT INTO maintenance_windows (node, starts_at, ends_at, reason, created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)');
      insert.run('primary', T0 + 18 * MIN, T0 + 48 * MIN, 'upgrade', T0, T0 + 33 * MIN);
      insert.run('fallback', T0, T0 + HOUR_MS, 'move', T0, null);
      const r = buildReport(storage.history, { from: T0, to: T0 + HOUR_MS, now: T0 + HOUR_MS, nodes: ['primary'] });
      expect(r.nodes[0]?.time).toMatchObject({ maintenanceMs: 15 * MIN, downMs: 10 * MIN });
      expect(r.incidents[0]?.inMaintenance).toBe(true);
    } finally {
      storage.close();
    }
  });

  test('a database without a maintenance table simply has no maintenance time', () => {
    const db = new Database(path.join(tmp, 'old.db'));
    try {
      migrate(db, loadMigrations(path.join(__dirname, '../../migrations')).filter((m) => m.version !== 2), { logger: silentLogger(), clock: new FakeClock(T0) });
      expect(db.prepare("SELECT 1 FROM sqlite_master WHERE name LIKE 'maintenance%'").get()).toBeUndefined();
      db.prepare("INSERT INTO runs (instance, pid, version, started_at, last_seen_at, ended_at, clean_exit) VALUES ('t', 1, '0', ?, ?, ?, 1)").run(T0, T0 + HOUR_MS, T0 + HOUR_MS);
      db.prepare("INSERT INTO transitions (node, from_status, to_status, reason, at) VALUES ('primary', 'unknown', 'up', 'ok', ?)").run(T0);
      const r = buildReport(createHistory(db), { from: T0, to: T0 + HOUR_MS, now: T0 + HOUR_MS });
      expect(r.nodes.map((n) => [n.name, n.uptime, n.time.maintenanceMs])).toEqual([['primary', 100, 0]]);
    } finally {
      db.close();
    }
  });
});
