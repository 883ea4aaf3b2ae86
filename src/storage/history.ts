import type BetterSqlite3 from 'better-sqlite3';
import { decodeHistogram, encodeHistogram } from '../history/histogram';
import type { GapSpan, RunSpan } from '../history/intervals';
import type { RawProbe, Rollup } from '../history/rollup';
import type { PreferredChange, StatusChange } from '../history/timeline';
import { toStorageError } from './errors';

export type RollupLevel = 'hourly' | 'daily';

export interface MaintenanceSpan {
  /** null: every node. */
  node: string | null;
  from: number;
  to: number;
}

/**
 * All SQL for history: rollups, retention, and the reads reports and the status page need. A sibling of the
 * core storage functions, over the same connection (`storage.db`), so the daemon, the job and the CLI share it.
 */
export interface History {
  /** Raw probes with from ≤ started_at < to, all nodes and kinds. */
  probesBetween(from: number, to: number): RawProbe[];
  /** started_at of the first probe at or after `at` (to skip empty stretches quickly). */
  nextProbeAt(at: number): number | undefined;
  /** Deletes at most `limit` probes older than `before` (oldest first); returns how many. */
  deleteProbesBefore(before: number, limit: number): number;

  /** Replaces every rollup row of the period starting at `at` with `rows` (so a re-run is an upsert). */
  replaceRollups(level: RollupLevel, at: number, rows: readonly Rollup[]): void;
  rollupsBetween(level: RollupLevel, from: number, to: number): Rollup[];
  nextRollupAt(level: RollupLevel, at: number): number | undefined;
  deleteRollupsBefore(level: RollupLevel, before: number): number;
  /** Progress marks (history_marks): every period before the mark has been summarised. */
  mark(name: string): number | undefined;
  setMark(name: string, at: number): void;

  /** Runs overlapping [from, to). */
  runsBetween(from: number, to: number): RunSpan[];
  /** Gaps overlapping [from, to) (a clock_back gap is included when either end is inside). */
  gapsBetween(from: number, to: number): GapSpan[];
  /** Start times of every run that started before `to` (to place silent restarts on the timeline). */
  runStartsBefore(to: number): number[];
  /** The node's last transition strictly before `at`. */
  statusBefore(node: string, at: number): StatusChange | undefined;
  /** The node's transitions with from ≤ at < to, oldest first. */
  transitionsBetween(node: string, from: number, to: number): StatusChange[];
  /** `at` of the node's last transition to `up` strictly before `at`. */
  lastUpBefore(node: string, at: number): number | undefined;
  preferredBefore(at: number): PreferredChange | undefined;
  preferredBetween(from: number, to: number): PreferredChange[];
  /** Maintenance windows overlapping [from, to), when the alerts migration has a maintenance table; else []. */
  maintenanceBetween(from: number, to: number): MaintenanceSpan[];
  /** Every node named in transitions, preferred changes or rollups, sorted. */
  nodeNames(): string[];
  counts(): { probes: number; hourly: number; daily: number };

  transaction<T>(fn: () => T): T;
  /** Pages on the free list (what incremental_vacuum can give back). */
  freelistCount(): number;
  /** Gives at most `pages` free pages back to the file system. */
  incrementalVacuum(pages: number): void;
  /** PASSIVE: copies what it can without waiting for readers or blocking the writer. */
  checkpoint(): void;
}

interface RollupRow {
  at: number;
  node: string;
  kind: string;
  checks: number;
  ok: number;
  failures: string;
  ttft_hist: string | null;
  total_hist: string | null;
  tps_hist: string | null;
  cold_starts: number;
  eval_tokens: number;
  /** Added by 0006_queue_wait. */
  queue_hist: string | null;
  waited: number;
}

interface ProbeRow {
  node: string;
  kind: string;
  started_at: number;
  ok: number;
  reason: string;
  duration_ms: number;
  ttft_ms: number | null;
  total_ms: number | null;
  tokens_per_sec: number | null;
  load_ms: number | null;
  eval_count: number | null;
  load_cause: string | null;
  queue_ms: number | null;
}

const TABLE: Record<RollupLevel, string> = { hourly: 'rollups_hourly', daily: 'rollups_daily' };

/** Column names the maintenance table might use, best first; the alerts engineer owns that schema. */
const MAINT_START = ['starts_at', 'start_at', 'started_at', 'from_at', 'start', 'from'];
const MAINT_END = ['ended_at', 'ends_at', 'end_at', 'to_at', 'until_at', 'until', 'end', 'to'];

export function createHistory(db: BetterSqlite3.Database): History {
  const s = {
    probesBetween: db.prepare<[number, number], ProbeRow>(`SELECT node, kind, started_at, ok, reason, duration_ms, ttft_ms, total_ms,
      tokens_per_sec, load_ms, eval_count, load_cause, queue_ms FROM probes WHERE started_at >= ? AND started_at < ?`),
    nextProbeAt: db.prepare<[number], { at: number | null }>('SELECT min(started_at) AS at FROM probes WHERE started_at >= ?'),
    // Through the probes_started index, oldest first, a bounded batch: each statement holds the write lock briefly.
    deleteProbes: db.prepare<[number, number]>(
      'DELETE FROM probes WHERE id IN (SELECT id FROM probes WHERE started_at < ? ORDER BY started_at LIMIT ?)',
    ),
    runsBetween: db.prepare<[number, number], { started_at: number; last_seen_at: number; ended_at: number | null; clean_exit: number | null }>(
      'SELECT started_at, last_seen_at, ended_at, clean_exit FROM runs WHERE started_at < ? AND coalesce(ended_at, last_seen_at) > ? ORDER BY started_at',
    ),
    gapsBetween: db.prepare<[number, number], { kind: string; from_at: number; to_at: number }>(
      'SELECT kind, from_at, to_at FROM gaps WHERE min(from_at, to_at) < ? AND max(from_at, to_at) > ? ORDER BY from_at',
    ),
    runStarts: db.prepare<[number], { started_at: number }>('SELECT started_at FROM runs WHERE started_at < ? ORDER BY started_at'),
    statusBefore: db.prepare<[string, number], { at: number; from_status: string; to_status: string; reason: string }>(
      'SELECT at, from_status, to_status, reason FROM transitions WHERE node = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1',
    ),
    transitions: db.prepare<[string, number, number], { at: number; from_status: string; to_status: string; reason: string }>(
      'SELECT at, from_status, to_status, reason FROM transitions WHERE node = ? AND at >= ? AND at < ? ORDER BY at, id',
    ),
    lastUp: db.prepare<[string, number], { at: number | null }>("SELECT max(at) AS at FROM transitions WHERE node = ? AND at < ? AND to_status = 'up'"),
    preferredBefore: db.prepare<[number], { at: number; to_node: string; all_down: number }>(
      'SELECT at, to_node, all_down FROM preferred_changes WHERE at < ? ORDER BY at DESC, id DESC LIMIT 1',
    ),
    preferredBetween: db.prepare<[number, number], { at: number; to_node: string; all_down: number }>(
      'SELECT at, to_node, all_down FROM preferred_changes WHERE at >= ? AND at < ? ORDER BY at, id',
    ),
    nodeNames: db.prepare<[], { node: string }>(`SELECT node FROM transitions UNION SELECT to_node FROM preferred_changes
      UNION SELECT node FROM rollups_daily UNION SELECT node FROM rollups_hourly ORDER BY 1`),
    counts: db.prepare<[], { probes: number; hourly: number; daily: number }>(`SELECT (SELECT count(*) FROM probes) AS probes,
      (SELECT count(*) FROM rollups_hourly) AS hourly, (SELECT count(*) FROM rollups_daily) AS daily`),
    mark: db.prepare<[string], { at: number }>('SELECT at FROM history_marks WHERE name = ?'),
    setMark: db.prepare<[string, number]>('INSERT INTO history_marks (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at'),
    freelist: db.prepare<[], { freelist_count: number }>('PRAGMA freelist_count'),
  };
  const levels = Object.fromEntries(
    (Object.keys(TABLE) as RollupLevel[]).map((level) => {
      const t = TABLE[level];
      return [
        level,
        {
          clear: db.prepare<[number]>(`DELETE FROM ${t} WHERE at = ?`),
          insert: db.prepare(`INSERT INTO ${t} (at, node, kind, checks, ok, failures, ttft_hist, total_hist, tps_hist, cold_starts, eval_tokens, queue_hist, waited)
            VALUES (@at, @node, @kind, @checks, @ok, @failures, @ttft_hist, @total_hist, @tps_hist, @cold_starts, @eval_tokens, @queue_hist, @waited)`),
          between: db.prepare<[number, number], RollupRow>(`SELECT * FROM ${t} WHERE at >= ? AND at < ? ORDER BY at, node, kind`),
          next: db.prepare<[number], { at: number | null }>(`SELECT min(at) AS at FROM ${t} WHERE at >= ?`),
          prune: db.prepare<[number]>(`DELETE FROM ${t} WHERE at < ?`),
        },
      ];
    }),
  ) as Record<RollupLevel, { clear: BetterSqlite3.Statement<[number]>; insert: BetterSqlite3.Statement; between: BetterSqlite3.Statement<[number, number], RollupRow>; next: BetterSqlite3.Statement<[number], { at: number | null }>; prune: BetterSqlite3.Statement<[number]> }>;

  const replace = db.transaction((level: RollupLevel, at: number, rows: readonly Rollup[]) => {
    const l = levels[level];
    l.clear.run(at);
    for (const r of rows) l.insert.run(toRow(r));
  });

  let maintenance: BetterSqlite3.Statement<[], { node: unknown; f: unknown; t: unknown }> | null | undefined;
  function maintenanceStatement() {
    if (maintenance !== undefined) return maintenance;
    maintenance = null;
    const table = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('maintenance', 'maintenance_windows') ORDER BY name").get();
    if (!table) return null;
    const columns = new Set(db.prepare<[], { name: string }>(`PRAGMA table_info(${table.name})`).all().map((c) => c.name));
    const start = MAINT_START.find((c) => columns.has(c));
    const ends = MAINT_END.filter((c) => columns.has(c));
    if (!start || ends.length === 0) return null;
    const q = (c: string) => `"${c}"`;
    const end = ends.length === 1 ? q(ends[0] as string) : `coalesce(${ends.map(q).join(', ')})`;
    const node = columns.has('node') ? q('node') : 'NULL';
    // Rows are filtered in TypeScript: the times may be stored as epoch ms, epoch s or ISO text.
    maintenance = db.prepare(`SELECT ${node} AS node, ${q(start)} AS f, ${end} AS t FROM ${table.name}`);
    return maintenance;
  }

  const run = <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      try {
        return fn(...args);
      } catch (err) {
        throw toStorageError(err);
      }
    };

  return {
    probesBetween: run((from: number, to: number) => s.probesBetween.all(from, to).map(toProbe)),
    nextProbeAt: run((at: number) => s.nextProbeAt.get(at)?.at ?? undefined),
    deleteProbesBefore: run((before: number, limit: number) => s.deleteProbes.run(before, limit).changes),
    replaceRollups: run((level: RollupLevel, at: number, rows: readonly Rollup[]) => replace(level, at, rows)),
    rollupsBetween: run((level: RollupLevel, from: number, to: number) => levels[level].between.all(from, to).map(fromRow)),
    nextRollupAt: run((level: RollupLevel, at: number) => levels[level].next.get(at)?.at ?? undefined),
    deleteRollupsBefore: run((level: RollupLevel, before: number) => levels[level].prune.run(before).changes),
    mark: run((name: string) => s.mark.get(name)?.at),
    setMark: run((name: string, at: number) => void s.setMark.run(name, Math.round(at))),
    runsBetween: run((from: number, to: number) =>
      s.runsBetween.all(to, from).map((r) => ({ startedAt: r.started_at, lastSeenAt: r.last_seen_at, endedAt: r.ended_at, cleanExit: r.clean_exit === null ? null : r.clean_exit === 1 })),
    ),
    gapsBetween: run((from: number, to: number) => s.gapsBetween.all(to, from).map((g) => ({ kind: g.kind, from: g.from_at, to: g.to_at }))),
    runStartsBefore: run((to: number) => s.runStarts.all(to).map((r) => r.started_at)),
    statusBefore: run((node: string, at: number) => {
      const r = s.statusBefore.get(node, at);
      return r && { at: r.at, from: r.from_status, to: r.to_status, reason: r.reason };
    }),
    transitionsBetween: run((node: string, from: number, to: number) =>
      s.transitions.all(node, from, to).map((r) => ({ at: r.at, from: r.from_status, to: r.to_status, reason: r.reason })),
    ),
    lastUpBefore: run((node: string, at: number) => s.lastUp.get(node, at)?.at ?? undefined),
    preferredBefore: run((at: number) => {
      const r = s.preferredBefore.get(at);
      return r && { at: r.at, to: r.to_node, allDown: r.all_down === 1 };
    }),
    preferredBetween: run((from: number, to: number) => s.preferredBetween.all(from, to).map((r) => ({ at: r.at, to: r.to_node, allDown: r.all_down === 1 }))),
    maintenanceBetween: run((from: number, to: number) => {
      const stmt = maintenanceStatement();
      if (!stmt) return [];
      const out: MaintenanceSpan[] = [];
      for (const r of stmt.all()) {
        const f = epochMs(r.f);
        if (f === undefined) continue;
        const t = epochMs(r.t) ?? to; // no end yet: still in maintenance
        if (f < to && t > from) out.push({ node: typeof r.node === 'string' && r.node !== '' && r.node !== '*' ? r.node : null, from: f, to: t });
      }
      return out;
    }),
    nodeNames: run(() => s.nodeNames.all().map((r) => r.node)),
    counts: run(() => s.counts.get() ?? { probes: 0, hourly: 0, daily: 0 }),
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    freelistCount: run(() => s.freelist.get()?.freelist_count ?? 0),
    incrementalVacuum: run((pages: number) => void db.pragma(`incremental_vacuum(${Math.max(1, Math.trunc(pages))})`)),
    checkpoint: run(() => void db.pragma('wal_checkpoint(PASSIVE)')),
  };
}

/** Epoch ms from what a maintenance table might hold: ms, seconds, or ISO text. */
function epochMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'bigint') return epochMs(Number(v));
  if (typeof v === 'string' && v !== '') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

function toProbe(r: ProbeRow): RawProbe {
  return {
    node: r.node,
    kind: r.kind,
    startedAt: r.started_at,
    ok: r.ok === 1,
    reason: r.reason,
    durationMs: r.duration_ms,
    ttftMs: r.ttft_ms,
    totalMs: r.total_ms,
    tokensPerSec: r.tokens_per_sec,
    loadMs: r.load_ms,
    evalCount: r.eval_count,
    loadCause: r.load_cause,
    queueMs: r.queue_ms,
  };
}

function toRow(r: Rollup): RollupRow {
  return {
    at: Math.round(r.at),
    node: r.node,
    kind: r.kind,
    checks: r.checks,
    ok: r.ok,
    failures: JSON.stringify(r.failures),
    ttft_hist: encodeHistogram(r.ttft),
    total_hist: encodeHistogram(r.total),
    tps_hist: encodeHistogram(r.tps),
    cold_starts: r.coldStarts,
    eval_tokens: r.evalTokens,
    queue_hist: encodeHistogram(r.queue),
    waited: r.waited,
  };
}

function fromRow(r: RollupRow): Rollup {
  let failures: Record<string, number> = {};
  try {
    const parsed: unknown = JSON.parse(r.failures);
    if (parsed && typeof parsed === 'object') failures = parsed as Record<string, number>;
  } catch {
    // A damaged row still counts its checks; only the reason split is lost.
  }
  return {
    at: r.at,
    node: r.node,
    kind: r.kind,
    checks: r.checks,
    ok: r.ok,
    failures,
    ttft: decodeHistogram(r.ttft_hist),
    total: decodeHistogram(r.total_hist),
    tps: decodeHistogram(r.tps_hist),
    coldStarts: r.cold_starts,
    evalTokens: r.eval_tokens,
    queue: decodeHistogram(r.queue_hist),
    waited: r.waited ?? 0,
  };
}
