import type BetterSqlite3 from 'better-sqlite3';

/**
 * Model loads the monitor sent (migrations/0004_cold_events.sql): written by the daemon, counted by the report.
 * `why` (src/core/residency.ts): `not_loaded` = a cold event (an app model unloaded behind everyone's back,
 * loaded again by keep-warm), `expiring` = a refresh; the loads that are no cold start of the node:
 * `first_load` (not seen in memory since the monitor started), `own_eviction` (the monitor's own load had
 * evicted it), `app_switch` (an app's switch to another model had evicted it), and `canary_cold` (the canary
 * met it unloaded: counted as the probe's cold start, not twice here).
 */
export type ColdEventWhy = 'not_loaded' | 'expiring' | 'first_load' | 'own_eviction' | 'app_switch' | 'canary_cold';

export interface ColdEvent {
  node: string;
  model: string;
  at: number;
  why: ColdEventWhy;
  ok: boolean;
  loadMs?: number;
  detail?: string;
}

export interface ColdEvents {
  insert(e: ColdEvent): void;
  /** Cold events (why = not_loaded) per node with from ≤ at < to. */
  countsBetween(from: number, to: number): Map<string, number>;
  /** Successful loads per node and why, with from ≤ at < to (refreshes excluded: they load nothing). */
  loadsBetween(from: number, to: number): Map<string, Partial<Record<ColdEventWhy, number>>>;
  deleteBefore(before: number): number;
  /** Why a canary's model was not in memory (migrations/0007 probes.load_cause); undefined: nothing to write. */
  setLoadCause(probeId: number, cause: string | undefined): void;
}

export function createColdEvents(db: BetterSqlite3.Database): ColdEvents {
  const insert = db.prepare(`INSERT INTO cold_events (node, model, at, why, ok, load_ms, detail) VALUES (@node, @model, @at, @why, @ok, @loadMs, @detail)`);
  const counts = db.prepare<[number, number], { node: string; n: number }>(`SELECT node, count(*) AS n FROM cold_events
    WHERE why = 'not_loaded' AND at >= ? AND at < ? GROUP BY node`);
  const loads = db.prepare<[number, number], { node: string; why: ColdEventWhy; n: number }>(`SELECT node, why, count(*) AS n FROM cold_events
    WHERE ok = 1 AND why <> 'expiring' AND at >= ? AND at < ? GROUP BY node, why ORDER BY node, why`);
  const prune = db.prepare<[number]>('DELETE FROM cold_events WHERE at < ?');
  const cause = db.prepare<[string, number]>('UPDATE probes SET load_cause = ? WHERE id = ?');
  return {
    insert: (e) => void insert.run({ node: e.node, model: e.model, at: Math.round(e.at), why: e.why, ok: e.ok ? 1 : 0, loadMs: e.loadMs ?? null, detail: e.detail ?? null }),
    countsBetween: (from, to) => new Map(counts.all(from, to).map((r) => [r.node, r.n])),
    loadsBetween: (from, to) => {
      const out = new Map<string, Partial<Record<ColdEventWhy, number>>>();
      for (const r of loads.all(from, to)) out.set(r.node, { ...out.get(r.node), [r.why]: r.n });
      return out;
    },
    deleteBefore: (before) => prune.run(before).changes,
    setLoadCause: (probeId, c) => void (c === undefined ? undefined : cause.run(c, probeId)),
  };
}
