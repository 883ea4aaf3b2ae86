import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { run as reportCli } from '../cli/report';
import { parseConfig } from '../config';
import { DAY_MS } from '../history/intervals';
import { buildStatusModel, renderStatusPage } from '../http/status-page';
import { createHistoryJob } from '../jobs/history';
import { silentLogger } from '../logging';
import type { ProbeResult, Reason } from '../probes/types';
import { buildReport } from '../uptime/model';
import { reportJson } from '../uptime/json';
import { renderReportText } from '../uptime/text';
import { openStorage, type Storage } from '../storage';
import { FakeClock } from '../util/clock';
import { mulberry32 } from '../util/random';

export interface BenchHistoryOptions {
  /** Days to synthesise (365). */
  days?: number;
  /** Keep the database here instead of a temp folder that is removed afterwards. */
  dir?: string;
}

const NODES = ['primary', 'fallback'] as const;
const LIVENESS_MS = 10_000;
const CANARY_MS = 60_000;
/** The synthetic year ends here; fixed so two runs produce the same database. */
const END = Date.UTC(2026, 0, 1);

const rng = mulberry32;

interface Outage {
  node: string;
  from: number;
  to: number;
  status: 'down' | 'degraded';
  reason: Reason | 'slow';
}

const DETAIL: Partial<Record<Reason, string>> = {
  cloudflare_tunnel_down: 'HTTP 530 from Cloudflare (error 1033: tunnel has no connector)',
  refused: 'connect ECONNREFUSED 10.0.0.5:11434',
  timeout: 'no response headers within 3000ms',
};

/**
 * One year of probes at the default cadence (liveness 10 s, canary 60 s, two nodes: 7.36 M rows), replayed
 * day by day through the real code path: each day's probes go in through storage.insertProbe, then the real
 * history job runs with the clock at the end of that day (rolls up 24 hours, prunes the raw day that left the
 * 30-day window, vacuums). Nothing is written straight into rollups. Then: database size, and the time
 * `report --since 365d` takes.
 */
export async function benchHistory(opts: BenchHistoryOptions = {}): Promise<Record<string, number | string>> {
  const days = opts.days ?? 365;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sentinel-bench-history-'));
  const file = join(dir, 'sentinel.db');
  const clock = new FakeClock(END - days * DAY_MS);
  const config = parseConfig({ nodes: NODES.map((name, i) => ({ name, url: `http://127.0.0.1:${11434 + i}` })), database: file }, {}, { baseDir: dir });
  const storage = openStorage(file, { clock });
  const job = createHistoryJob({ storage, config, logger: silentLogger(), clock });
  const r = rng(42);
  const delayMax: number[] = [];
  let probes = 0;
  let insertMs = 0;
  let jobMs = 0;
  let jobMaxMs = 0;
  try {
    let runId = storage.startRun({ instance: 'bench', pid: 1, version: 'bench', at: clock.now() }).runId;
    for (const node of NODES) storage.insertTransition({ node, from: 'unknown', to: 'up', reason: 'ok', at: clock.now() + 5_000 });
    storage.insertPreferredChange({ from: null, to: 'primary', reason: 'start', allDown: false, at: clock.now() + 5_000 });

    for (let d = 0; d < days; d++) {
      const day = END - (days - d) * DAY_MS;
      // A restart every week; every fifth one a crash (closed at its last heartbeat by the next start).
      if (d > 0 && d % 7 === 0) {
        if ((d / 7) % 5 !== 0) storage.endRun(runId, day - 60_000, 'signal');
        runId = storage.startRun({ instance: 'bench', pid: d, version: 'bench', at: day }).runId;
      }
      // The monitor's host sleeps two hours once a month: no probes, a recorded gap.
      const sleep = d % 30 === 15 ? { from: day + 3 * 3_600_000, to: day + 5 * 3_600_000 } : undefined;
      if (sleep) storage.insertGap({ runId, kind: 'sleep', from: sleep.from, to: sleep.to });
      const outages = planOutages(day, r);
      recordOutages(storage, outages);

      const t0 = performance.now();
      storage.transaction(() => {
        for (const node of NODES) {
          for (let t = day; t < day + DAY_MS; t += LIVENESS_MS) {
            if (sleep && t >= sleep.from && t < sleep.to) continue;
            const out = outages.find((o) => o.node === node && t >= o.from && t < o.to);
            storage.insertProbe(liveness(node, t, out, r));
            probes++;
            if ((t - day) % CANARY_MS === 0) {
              storage.insertProbe(canary(node, t + 250, out, r));
              probes++;
            }
          }
        }
        storage.touchRun(runId, day + DAY_MS - 5_000);
      });
      insertMs += performance.now() - t0;

      clock.advance(day + DAY_MS + 20 * 60_000 - clock.now());
      // Let the insert's garbage collection and pending timers settle, so the delay measured is the job's own.
      await new Promise((resolve) => setTimeout(resolve, 5));
      // A fresh monitor per run: a re-enabled one would count the insert above as its first delay.
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const j0 = performance.now();
      await job.runOnce();
      const took = performance.now() - j0;
      delay.disable();
      delayMax.push(delay.max / 1e6);
      jobMs += took;
      jobMaxMs = Math.max(jobMaxMs, took);
    }
    storage.endRun(runId, END, 'signal');
    const counts = storage.history.counts();
    storage.close();
    const sizeMb = dbBytes(file) / 2 ** 20;

    // The report, as `llm-sentinel report --since 365d` computes it (median of 5, after one warm-up).
    const reader = openStorage(file);
    const names = [...NODES];
    const times: number[] = [];
    const pageTimes: number[] = [];
    let sample = '';
    try {
      for (let i = 0; i < 6; i++) {
        const t = performance.now();
        const report = buildReport(reader.history, { from: END - 365 * DAY_MS, to: END, now: END, nodes: names });
        sample = renderReportText(report);
        JSON.stringify(reportJson(report));
        if (i > 0) times.push(performance.now() - t);
        const p = performance.now();
        renderStatusPage(buildStatusModel(reader.history, undefined, END));
        if (i > 0) pageTimes.push(performance.now() - p);
      }
    } finally {
      reader.close();
    }
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    const c0 = performance.now();
    const code = await reportCli(['--database', file, '--since', '365d', '--json'], { stdout: sink, stderr: sink, env: {} }, () => END);
    const cliMs = performance.now() - c0;
    return {
      days,
      'probes synthesised': probes,
      'raw probes kept': counts.probes,
      'hourly rollup rows': counts.hourly,
      'daily rollup rows': counts.daily,
      'db size MB': round(sizeMb, 1),
      'db size target MB': 100,
      'report --since 365d ms (median of 5)': round(median(times), 1),
      'report --since 365d target ms': 200,
      'status page build ms (median of 5)': round(median(pageTimes), 1),
      'report CLI in-process ms (open + report + close)': round(cliMs, 1),
      'report CLI exit code': code,
      'insert s (all days)': round(insertMs / 1000, 1),
      'history job s (all runs)': round(jobMs / 1000, 1),
      'history job longest run ms': round(jobMaxMs, 1),
      // Wall-clock timer lateness while the job ran: includes time the process waited for a CPU.
      'event loop delay during a job run, median of runs ms': round(median(delayMax), 1),
      'event loop delay during a job run, worst run ms': round(Math.max(...delayMax), 1),
      'report first line': sample.split('\n')[1] ?? '',
      method: 'replayed day by day through insertProbe + the real history job (no direct rollup writes)',
    };
  } finally {
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  }
}

function planOutages(day: number, r: () => number): Outage[] {
  const out: Outage[] = [];
  const reasons: Reason[] = ['cloudflare_tunnel_down', 'refused', 'timeout'];
  if (r() < 0.25) {
    const from = day + Math.floor(r() * 20 * 3_600_000);
    out.push({ node: 'primary', from, to: from + (5 + r() * 85) * 60_000, status: 'down', reason: reasons[Math.floor(r() * reasons.length)] as Reason });
  }
  if (r() < 0.1) {
    const from = day + 21 * 3_600_000 + Math.floor(r() * 3_600_000);
    out.push({ node: 'primary', from, to: from + (10 + r() * 20) * 60_000, status: 'degraded', reason: 'slow' });
  }
  if (r() < 0.05) {
    const from = day + Math.floor(r() * 20 * 3_600_000);
    out.push({ node: 'fallback', from, to: from + (5 + r() * 25) * 60_000, status: 'down', reason: 'refused' });
  }
  return out;
}

/** The transitions and preferred changes the daemon would have written for these outages. */
function recordOutages(storage: Storage, outages: Outage[]): void {
  for (const o of outages) {
    storage.insertTransition({ node: o.node, from: 'up', to: o.status, reason: o.reason, at: o.from + 30_000 });
    storage.insertTransition({ node: o.node, from: o.status, to: 'up', reason: 'ok', at: o.to + 20_000 });
    if (o.node === 'primary' && o.status === 'down') {
      storage.insertPreferredChange({ from: 'primary', to: 'fallback', reason: `primary is down (${o.reason})`, allDown: false, at: o.from + 30_000 });
      storage.insertPreferredChange({ from: 'fallback', to: 'primary', reason: 'failback: primary is up again', allDown: false, at: o.to + 80_000 });
    }
  }
}

function liveness(node: string, t: number, out: Outage | undefined, r: () => number): ProbeResult {
  if (out?.status === 'down') {
    const reason = out.reason as Reason;
    return { node, kind: 'liveness', startedAt: t, ok: false, reason, durationMs: reason === 'timeout' ? 3000 : 20 + r() * 30, detail: DETAIL[reason] };
  }
  const base = node === 'primary' ? 35 : 4;
  return { node, kind: 'liveness', startedAt: t, ok: true, reason: 'ok', httpStatus: 200, durationMs: base * (0.6 + r() * r() * 4), ttfbMs: base * 0.8 };
}

function canary(node: string, t: number, out: Outage | undefined, r: () => number): ProbeResult {
  if (out?.status === 'down') {
    const reason = out.reason as Reason;
    return { node, kind: 'canary', startedAt: t, ok: false, reason, durationMs: reason === 'timeout' ? 30_000 : 25, detail: DETAIL[reason] };
  }
  const primary = node === 'primary';
  const slow = out?.status === 'degraded' ? 8 : 1;
  const cold = r() < 0.01;
  const loadMs = cold ? 3000 + r() * 5000 : r() * 40;
  const ttft = ((primary ? 250 : 1800) * (0.7 + r() * r() * 3) * slow) + (cold ? loadMs : 0);
  const tokens = 4 + Math.floor(r() * 5);
  const tps = (primary ? 45 : 9) * (0.8 + r() * 0.4) / slow;
  const total = ttft + (tokens / tps) * 1000;
  return { node, kind: 'canary', startedAt: t, ok: true, reason: 'ok', httpStatus: 200, durationMs: total, ttfbMs: ttft * 0.9, ttftMs: ttft, totalMs: total, tokensPerSec: tps, loadMs, evalCount: tokens };
}

function dbBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      n += statSync(f).size;
    } catch {
      // -wal and -shm are gone after a clean close.
    }
  }
  return n;
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
