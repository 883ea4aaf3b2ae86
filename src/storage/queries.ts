import type BetterSqlite3 from 'better-sqlite3';
import type { ProbeKind, ProbeResult, Reason } from '../probes/types';
import { StorageError } from './errors';
import type {
  GapInput,
  LastPreferred,
  LastTransition,
  NodeStatus,
  PreferredChangeInput,
  RecentProbesOptions,
  RecentTransitionsOptions,
  RunStarted,
  RunStartInput,
  Storage,
  StorageCounts,
  StoredProbe,
  StoredTransition,
  TransitionInput,
} from './types';

export type Queries = Omit<Storage, 'transaction' | 'schemaVersion' | 'integrityCheck' | 'close' | 'db' | 'history' | 'outbox' | 'maintenance' | 'coldEvents' | 'peers'>;

const DETAIL_MAX = 300;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

interface ProbeRow {
  id: number;
  node: string;
  kind: string;
  started_at: number;
  ok: number;
  reason: string;
  http_status: number | null;
  duration_ms: number;
  ttfb_ms: number | null;
  ttft_ms: number | null;
  total_ms: number | null;
  tokens_per_sec: number | null;
  load_ms: number | null;
  eval_count: number | null;
  detail: string | null;
}

interface TransitionRow {
  id: number;
  node: string;
  from_status: string;
  to_status: string;
  reason: string;
  detail: string | null;
  at: number;
}

type ProbeFilter = { node: string | null; kind: string | null; since: number; limit: number };
type TransitionFilter = { node: string | null; since: number; limit: number };

const PROBE_COLUMNS = `id, node, kind, started_at, ok, reason, http_status, duration_ms, ttfb_ms, ttft_ms, total_ms,
  tokens_per_sec, load_ms, eval_count, detail`;

/** Prepares every statement once; the returned functions only bind and map. */
export function prepareQueries(db: BetterSqlite3.Database): Queries {
  let insertProbeStmt: BetterSqlite3.Statement | undefined;
  const s = {
    insertTransition: db.prepare(`INSERT INTO transitions (node, from_status, to_status, reason, detail, at)
      VALUES (@node, @from, @to, @reason, @detail, @at)`),
    insertPreferred: db.prepare(`INSERT INTO preferred_changes (from_node, to_node, reason, all_down, at)
      VALUES (@from, @to, @reason, @allDown, @at)`),
    closeUnclean: db.prepare<[], { id: number; last_seen_at: number }>(`UPDATE runs
      SET ended_at = last_seen_at, clean_exit = 0, end_reason = 'unclean'
      WHERE ended_at IS NULL RETURNING id, last_seen_at`),
    insertRun: db.prepare(`INSERT INTO runs (instance, pid, version, started_at, last_seen_at)
      VALUES (@instance, @pid, @version, @at, @at)`),
    touchRun: db.prepare<[number, number]>('UPDATE runs SET last_seen_at = ? WHERE id = ? AND ended_at IS NULL'),
    endRun: db.prepare<{ runId: number; at: number; reason: string }>(`UPDATE runs
      SET ended_at = @at, last_seen_at = max(last_seen_at, @at), clean_exit = 1, end_reason = @reason
      WHERE id = @runId AND ended_at IS NULL`),
    runExists: db.prepare<[number], { one: number }>('SELECT 1 AS one FROM runs WHERE id = ?'),
    insertGap: db.prepare('INSERT INTO gaps (run_id, kind, from_at, to_at) VALUES (@runId, @kind, @from, @to)'),
    // "Latest" is the highest id (insertion order), not the highest `at`: after the wall clock is stepped
    // back, the newest row can carry an older timestamp, and restoring the older flip would be wrong.
    lastTransitions: db.prepare<[], { node: string; to_status: string; at: number; reason: string }>(`
      SELECT t.node, t.to_status, t.at, t.reason
      FROM transitions t JOIN (SELECT max(id) AS id FROM transitions GROUP BY node) latest ON latest.id = t.id
      ORDER BY t.node`),
    lastPreferred: db.prepare<[], { to_node: string; at: number; all_down: number }>(
      'SELECT to_node, at, all_down FROM preferred_changes ORDER BY id DESC LIMIT 1',
    ),
    // Two shapes so each can use its own index; a `(@node IS NULL OR node = @node)` filter would defeat
    // probes_node_started. kind is not indexed, so its optional filter costs nothing.
    recentProbesByNode: db.prepare<ProbeFilter, ProbeRow>(`SELECT ${PROBE_COLUMNS} FROM probes
      WHERE node = @node AND started_at >= @since AND (@kind IS NULL OR kind = @kind)
      ORDER BY started_at DESC, id DESC LIMIT @limit`),
    recentProbesAll: db.prepare<ProbeFilter, ProbeRow>(`SELECT ${PROBE_COLUMNS} FROM probes
      WHERE started_at >= @since AND (@kind IS NULL OR kind = @kind)
      ORDER BY started_at DESC, id DESC LIMIT @limit`),
    recentTransitionsByNode: db.prepare<TransitionFilter, TransitionRow>(`SELECT * FROM transitions
      WHERE node = @node AND at >= @since ORDER BY at DESC, id DESC LIMIT @limit`),
    recentTransitionsAll: db.prepare<TransitionFilter, TransitionRow>(`SELECT * FROM transitions
      WHERE at >= @since ORDER BY at DESC, id DESC LIMIT @limit`),
    // Uses the partial index probes_node_ok, whose entries are (node, rowid): one step to the newest ok row.
    lastOk: db.prepare<[string], { started_at: number }>(
      'SELECT started_at FROM probes WHERE node = ? AND ok = 1 ORDER BY id DESC LIMIT 1',
    ),
    counts: db.prepare<[], { probes: number; transitions: number; preferred: number }>(`SELECT
      (SELECT count(*) FROM probes) AS probes,
      (SELECT count(*) FROM transitions) AS transitions,
      (SELECT count(*) FROM preferred_changes) AS preferred`),
  };

  const startRun = db.transaction((r: RunStartInput): RunStarted => {
    const unclean = s.closeUnclean.all().sort((a, b) => a.id - b.id);
    const info = s.insertRun.run({ instance: r.instance, pid: r.pid, version: r.version, at: epoch(r.at) });
    return {
      runId: Number(info.lastInsertRowid),
      uncleanPrevious: unclean.map((u) => ({ runId: u.id, lastSeenAt: u.last_seen_at })),
    };
  });

  function requireRun(runId: number, changes: number): void {
    if (changes === 0 && !s.runExists.get(runId)) throw new StorageError('NO_SUCH_RUN', `no run with id ${runId}`);
  }

  return {
    insertProbe(r: ProbeResult): number {
      // Prepared on first use: queue_ms comes with 0006, and a database opened at an older version (tests of
      // the migration runner) must still open.
      insertProbeStmt ??= db.prepare(`INSERT INTO probes (node, kind, started_at, ok, reason, http_status, duration_ms, ttfb_ms,
      ttft_ms, total_ms, tokens_per_sec, load_ms, eval_count, detail, queue_ms)
      VALUES (@node, @kind, @startedAt, @ok, @reason, @httpStatus, @durationMs, @ttfbMs, @ttftMs, @totalMs,
      @tokensPerSec, @loadMs, @evalCount, @detail, @queueMs)`);
      const info = insertProbeStmt.run({
        node: r.node,
        kind: r.kind,
        startedAt: epoch(r.startedAt),
        ok: r.ok ? 1 : 0,
        reason: r.reason,
        httpStatus: num(r.httpStatus),
        durationMs: num(r.durationMs) ?? 0,
        ttfbMs: num(r.ttfbMs),
        ttftMs: num(r.ttftMs),
        totalMs: num(r.totalMs),
        tokensPerSec: num(r.tokensPerSec),
        loadMs: num(r.loadMs),
        evalCount: num(r.evalCount),
        detail: truncate(r.detail),
        queueMs: num(r.queueMs),
      });
      return Number(info.lastInsertRowid);
    },

    insertTransition(t: TransitionInput): number {
      const info = s.insertTransition.run({
        node: t.node,
        from: t.from,
        to: t.to,
        reason: t.reason,
        detail: truncate(t.detail),
        at: epoch(t.at),
      });
      return Number(info.lastInsertRowid);
    },

    insertPreferredChange(c: PreferredChangeInput): number {
      const info = s.insertPreferred.run({ from: c.from, to: c.to, reason: c.reason, allDown: c.allDown ? 1 : 0, at: epoch(c.at) });
      return Number(info.lastInsertRowid);
    },

    // IMMEDIATE: take the write lock before reading which runs are open, so two daemons started on one
    // file at once cannot both see the other's run as open and close it.
    startRun: (r: RunStartInput): RunStarted => startRun.immediate(r),

    touchRun(runId: number, at: number): void {
      requireRun(runId, s.touchRun.run(epoch(at), runId).changes);
    },

    endRun(runId: number, at: number, reason: string): void {
      requireRun(runId, s.endRun.run({ runId, at: epoch(at), reason }).changes);
    },

    insertGap(g: GapInput): void {
      s.insertGap.run({ runId: g.runId, kind: g.kind, from: epoch(g.from), to: epoch(g.to) });
    },

    lastTransitions(): LastTransition[] {
      return s.lastTransitions.all().map((r) => ({ node: r.node, to: r.to_status as NodeStatus, at: r.at, reason: r.reason }));
    },

    lastPreferred(): LastPreferred | undefined {
      const r = s.lastPreferred.get();
      return r && { to: r.to_node, at: r.at, allDown: r.all_down === 1 };
    },

    recentProbes(opts: RecentProbesOptions): StoredProbe[] {
      const filter: ProbeFilter = { node: opts.node ?? null, kind: opts.kind ?? null, since: since(opts.sinceMs), limit: limit(opts.limit) };
      const stmt = opts.node === undefined ? s.recentProbesAll : s.recentProbesByNode;
      return stmt.all(filter).map(toProbe);
    },

    recentTransitions(opts: RecentTransitionsOptions): StoredTransition[] {
      const filter: TransitionFilter = { node: opts.node ?? null, since: since(opts.sinceMs), limit: limit(opts.limit) };
      const stmt = opts.node === undefined ? s.recentTransitionsAll : s.recentTransitionsByNode;
      return stmt.all(filter).map(toTransition);
    },

    lastOk(node: string): number | undefined {
      return s.lastOk.get(node)?.started_at;
    },

    counts(): StorageCounts {
      const r = s.counts.get();
      return { probes: r?.probes ?? 0, transitions: r?.transitions ?? 0, preferredChanges: r?.preferred ?? 0 };
    },
  };
}

function toProbe(r: ProbeRow): StoredProbe {
  const p: StoredProbe = {
    id: r.id,
    node: r.node,
    kind: r.kind as ProbeKind,
    ok: r.ok === 1,
    reason: r.reason as Reason,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
  };
  if (r.http_status !== null) p.httpStatus = r.http_status;
  if (r.detail !== null) p.detail = r.detail;
  if (r.ttfb_ms !== null) p.ttfbMs = r.ttfb_ms;
  if (r.ttft_ms !== null) p.ttftMs = r.ttft_ms;
  if (r.total_ms !== null) p.totalMs = r.total_ms;
  if (r.tokens_per_sec !== null) p.tokensPerSec = r.tokens_per_sec;
  if (r.load_ms !== null) p.loadMs = r.load_ms;
  if (r.eval_count !== null) p.evalCount = r.eval_count;
  return p;
}

function toTransition(r: TransitionRow): StoredTransition {
  const t: StoredTransition = {
    id: r.id,
    node: r.node,
    from: r.from_status as NodeStatus,
    to: r.to_status as NodeStatus,
    reason: r.reason,
    at: r.at,
  };
  if (r.detail !== null) t.detail = r.detail;
  return t;
}

/** Epoch ms are stored as INTEGER; a fractional value would otherwise be kept as REAL in that column. */
function epoch(ms: number): number {
  return Math.round(ms);
}

/** NaN and ±Infinity (e.g. tokens/sec over a zero duration) are not facts worth keeping. */
function num(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

function truncate(text: string | undefined): string | null {
  if (text === undefined) return null;
  if (text.length <= DETAIL_MAX) return text;
  let cut = text.slice(0, DETAIL_MAX - 1);
  // Never leave half of a surrogate pair: it would be stored as U+FFFD.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function since(ms: number | undefined): number {
  return ms === undefined ? Number.MIN_SAFE_INTEGER : ms;
}

function limit(n: number | undefined): number {
  if (n === undefined || !Number.isFinite(n)) return DEFAULT_LIMIT;
  return Math.min(Math.max(Math.trunc(n), 0), MAX_LIMIT);
}
