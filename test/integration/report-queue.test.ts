/**
 * `report` shows how saturated a node is (issue 19): the canaries' wait for a generation slot, p50/p95 per
 * node, and the share of canaries that waited, through the real database (migration 0006), the hourly rollup
 * and the raw probes alike.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOUR_MS } from '../../src/history/intervals';
import { rollupProbes } from '../../src/history/rollup';
import type { ProbeResult } from '../../src/probes/types';
import { openStorage, type Storage } from '../../src/storage';
import { FakeClock } from '../../src/util/clock';
import { buildReport } from '../../src/uptime/model';
import { renderReportText } from '../../src/uptime/text';

const T0 = Date.UTC(2026, 5, 1);
let dir: string;
let storage: Storage;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-report-queue-'));
  storage = openStorage(path.join(dir, 'sentinel.db'), { clock: new FakeClock(T0) });
});
afterEach(() => {
  storage.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** 10 canaries on the primary: 6 queued (10–20 s), 4 not; 5 on the fallback over /v1 (no wait measured). */
function insert(): void {
  const canary = (node: string, i: number, queueMs: number | undefined): ProbeResult => ({ node, kind: 'canary', ok: true, reason: 'ok', startedAt: T0 + i * 60_000, durationMs: 500 + (queueMs ?? 0), ttftMs: 300 + (queueMs ?? 0), totalMs: 500 + (queueMs ?? 0), ...(queueMs !== undefined ? { queueMs } : {}) });
  const waits = [10_000, 12_000, 14_000, 16_000, 18_000, 20_000, 0, 3, 50, 100];
  waits.forEach((w, i) => storage.insertProbe(canary('primary', i, w)));
  for (let i = 0; i < 5; i++) storage.insertProbe(canary('fallback', i, undefined));
  for (const node of ['primary', 'fallback']) storage.insertTransition({ node, from: 'unknown', to: 'up', reason: 'ok', at: T0 });
}

test('raw probes: wait p50/p95 per node and the share of canaries that waited', () => {
  insert();
  const r = buildReport(storage.history, { from: T0, to: T0 + HOUR_MS, now: T0 + HOUR_MS });
  const p = r.nodes.find((n) => n.name === 'primary');
  expect(p?.queue.measured).toBe(10);
  expect(p?.queue.waitedPercent).toBe(60);
  // Histogram buckets: within 4.5 % of the true value.
  expect(p?.queue.waitMs.p95).toBeGreaterThan(18_000 * 0.95);
  expect(p?.queue.waitMs.p50).toBeGreaterThan(10_000 * 0.95);
  expect(r.nodes.find((n) => n.name === 'fallback')?.queue).toMatchObject({ measured: 0, waitedPercent: null, waitMs: { p50: null, p95: null } });
  expect(renderReportText(r)).toMatch(/Queue \(canary wait for a generation slot\): primary waited in 60\.000 % of 10 canaries, p50 [\d.,]+ ?m?s, p95 [\d.,]+ ?m?s\./);
});

test('the hourly rollup keeps the wait (0006 columns), so the report reads the same after raw probes are pruned', () => {
  insert();
  const rows = rollupProbes(storage.history.probesBetween(T0, T0 + HOUR_MS), T0, 2_000);
  storage.history.replaceRollups('hourly', T0, rows);
  const back = storage.history.rollupsBetween('hourly', T0, T0 + HOUR_MS).find((x) => x.node === 'primary' && x.kind === 'canary');
  expect(back?.waited).toBe(6);
  expect([...(back?.queue.values() ?? [])].reduce((a, b) => a + b, 0)).toBe(10);
});
