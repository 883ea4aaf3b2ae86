import type BetterSqlite3 from 'better-sqlite3';

/** Keep-warm loads (migrations/0004_cold_events.sql): written by the daemon, counted by the report. */
export interface ColdEvent {
  node: string;
  model: string;
  at: number;
  why: 'not_loaded' | 'expiring';
  ok: boolean;
  loadMs?: number;
  detail?: string;
}

export interface ColdEvents {
  insert(e: ColdEvent): void;
  /** Cold events (why = not_loaded) per node with from ≤ at < to. */
  countsBetween(from: number, to: number): Map<string, number>;
  deleteBefore(before: number): number;
}

export function createColdEvents(db: BetterSqlite3.Database): ColdEvents {
  const insert = db.prepare(`INSERT INTO cold_events (node, model, at, why, ok, load_ms, detail) VALUES (@node, @model, @at, @why, @ok, @loadMs, @detail)`);
  const counts = db.prepare<[number, number], { node: string; n: number }>(`SELECT node, count(*) AS n FROM cold_events
    WHERE why = 'not_loaded' AND at >= ? AND at < ? GROUP BY node`);
  const prune = db.prepare<[number]>('DELETE FROM cold_events WHERE at < ?');
  return {
    insert: (e) => void insert.run({ node: e.node, model: e.model, at: Math.round(e.at), why: e.why, ok: e.ok ? 1 : 0, loadMs: e.loadMs ?? null, detail: e.detail ?? null }),
    countsBetween: (from, to) => new Map(counts.all(from, to).map((r) => [r.node, r.n])),
    deleteBefore: (before) => prune.run(before).changes,
  };
}
