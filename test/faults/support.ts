import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { readState } from '../../src/demo/harness';
import type { PublishedState } from '../../src/state/types';

/**
 * Small shared pieces of the fault suite: reading a child's memory, watching the state file, reading the
 * daemon's database from the outside and reading its JSON log. Nothing here starts anything on its own.
 */

/** Resident memory of a process in MiB (Linux /proc); undefined once the process is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface ProbeRow {
  id: number;
  node: string;
  kind: 'liveness' | 'canary';
  started_at: number;
  ok: number;
  reason: string;
  detail: string | null;
}

/**
 * The daemon's database seen by another process, read-only. WAL lets it read while the daemon writes;
 * each call sees the latest committed rows.
 */
export class DbView {
  readonly db: Database.Database;
  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
  }
  maxProbeId(): number {
    return (this.db.prepare('SELECT coalesce(max(id), 0) AS n FROM probes').get() as { n: number }).n;
  }
  probeCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM probes').get() as { n: number }).n;
  }
  probesAfter(id: number, node?: string): ProbeRow[] {
    const sql = `SELECT id, node, kind, started_at, ok, reason, detail FROM probes WHERE id > ?${node ? ' AND node = ?' : ''} ORDER BY id`;
    return this.db.prepare(sql).all(...(node ? [id, node] : [id])) as ProbeRow[];
  }
  close(): void {
    this.db.close();
  }
}

export interface StateSample {
  /** Wall time of the read. */
  at: number;
  state: PublishedState;
}

/**
 * Reads the state file (and the daemon's memory) every `everyMs` in the background, so a test can look at
 * any window afterwards. Samples are small; a few minutes at 50 ms is a few thousand.
 */
export class Watcher {
  readonly states: StateSample[] = [];
  readonly rss: Array<{ at: number; mib: number }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stateFile: string,
    private readonly pid: number,
    everyMs = 50,
  ) {
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const at = Date.now();
    const state = readState(this.stateFile);
    if (state) this.states.push({ at, state });
    const mib = rssMiB(this.pid);
    if (mib !== undefined) this.rss.push({ at, mib });
  }

  statesBetween(from: number, to: number): StateSample[] {
    return this.states.filter((s) => s.at >= from && s.at <= to);
  }
  maxRss(from = 0, to = Infinity): number {
    return Math.max(0, ...this.rss.filter((r) => r.at >= from && r.at <= to).map((r) => r.mib));
  }
  /** The last RSS reading at or before `at`. */
  rssAt(at: number): number | undefined {
    let v: number | undefined;
    for (const r of this.rss) if (r.at <= at) v = r.mib;
    return v;
  }
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Largest difference between consecutive numbers (sorted ascending first); 0 for fewer than two. */
export function maxGap(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < t.length; i++) gap = Math.max(gap, (t[i] as number) - (t[i - 1] as number));
  return gap;
}

/**
 * The largest wait, within [from, to], between consecutive events of a sorted-or-not list of times: each
 * pair that overlaps the window counts whole, and so does the wait from the last event to `to`.
 */
export function maxGapIn(times: number[], from: number, to: number): number {
  const t = [...times].sort((a, b) => a - b);
  let gap = 0;
  let last: number | undefined;
  for (const x of t) {
    if (x > to) break;
    if (last !== undefined && x >= from) gap = Math.max(gap, x - last);
    last = x;
  }
  return last === undefined ? Infinity : Math.max(gap, to - Math.max(last, from));
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The daemon's pino JSON lines (non-JSON lines, e.g. a crash trace, are skipped). */
export function logLines(output: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by kill -9 mid-write
    }
  }
  return lines;
}

export interface ReaderReport {
  reads: number;
  ok: number;
  /** ENOENT before the first successful read (the daemon had not written yet). */
  missingBeforeFirst: number;
  /** ENOENT after a successful read: the file vanished, which an atomic writer never allows. */
  missingAfterFirst: number;
  /** Other read errors by code (e.g. ENOTDIR while a test has replaced the folder on purpose). */
  readErrors: Record<string, number>;
  /** Reads that parseState rejected, or (with `known`) whose text was none of the documents written. */
  torn: number;
  examples: string[];
  /** Distinct documents seen (by updatedAt + pid). */
  distinct: number;
}

/*
 * Plain JavaScript for a worker thread: it loops reading the file until told to stop, so the reads are not
 * paced by the test's event loop. It validates with the BUILT parseState (dist/), the same code apps load.
 */
const READER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { parseState } = require(workerData.validate);
const stop = new Int32Array(workerData.stop);
const known = workerData.known ? new Set(workerData.known) : undefined;
const r = { reads: 0, ok: 0, missingBeforeFirst: 0, missingAfterFirst: 0, readErrors: {}, torn: 0, examples: [], distinct: 0 };
const seen = new Set();
while (Atomics.load(stop, 0) === 0) {
  let text;
  try {
    text = readFileSync(workerData.file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') { if (r.ok === 0) r.missingBeforeFirst++; else r.missingAfterFirst++; }
    else r.readErrors[e.code] = (r.readErrors[e.code] || 0) + 1;
  }
  if (text !== undefined) {
    r.reads++;
    const p = parseState(text);
    if (p.ok && (!known || known.has(text))) {
      r.ok++;
      seen.add(p.state.updatedAt + '/' + p.state.monitor.pid);
    } else {
      r.torn++;
      if (r.examples.length < 5) r.examples.push((p.ok ? 'parseable but never written' : p.error) + ' :: ' + JSON.stringify(text.slice(0, 120)));
    }
  }
  if (workerData.pauseMs > 0) Atomics.wait(stop, 0, 0, workerData.pauseMs);
}
r.distinct = seen.size;
parentPort.postMessage(r);
`;

/** The built validator the reader worker loads; the fault suite runs against the built CLI anyway. */
export const BUILT_VALIDATE = join(__dirname, '..', '..', 'dist', 'state', 'validate.js');

/**
 * Starts a worker that reads and validates `file` in a loop (pausing `pauseMs` between reads, 0 = none)
 * until stop() is called. With `known`, a read must also be byte-identical to one of those documents.
 */
export function startStateReader(file: string, opts: { pauseMs?: number; known?: string[] } = {}): { stop(): Promise<ReaderReport> } {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(READER_SOURCE, { eval: true, workerData: { file, stop, validate: BUILT_VALIDATE, pauseMs: opts.pauseMs ?? 0.2, known: opts.known } });
  const report = new Promise<ReaderReport>((resolve, reject) => {
    worker.once('message', (m: ReaderReport) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`state reader exited (${code}) without a report`)));
  });
  // A worker that dies early (dist/ not built) rejects before anyone awaits: stop() still sees the error.
  report.catch(() => undefined);
  let stopped: Promise<ReaderReport> | undefined;
  return {
    // Idempotent, so a `finally` can call it again after a failed assertion without masking the failure.
    stop() {
      stopped ??= (async () => {
        const flag = new Int32Array(stop);
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        try {
          return await report;
        } finally {
          await worker.terminate();
        }
      })();
      return stopped;
    },
  };
}
