import type BetterSqlite3 from 'better-sqlite3';
import { guarded } from './errors';

/** Maintenance windows set from the CLI (`llm-sentinel maintenance`): alerts for a node in one are held. */

export interface MaintenanceWindow {
  id: number;
  node: string;
  startsAt: number;
  endsAt: number;
  reason: string;
  createdAt: number;
  endedAt: number | null;
}

export interface MaintenanceStore {
  insertWindow(w: { node: string; startsAt: number; endsAt: number; reason: string; createdAt: number }): number;
  /** Ends the windows active at `at` (of one node, or all); returns how many. */
  endWindows(at: number, node?: string): number;
  /** Windows covering `at`. */
  activeAt(at: number): MaintenanceWindow[];
  /** Windows that have not ended by `at` (active or future), soonest first. */
  currentAndFuture(at: number): MaintenanceWindow[];
}

interface WindowRow {
  id: number;
  node: string;
  starts_at: number;
  ends_at: number;
  reason: string;
  created_at: number;
  ended_at: number | null;
}

const toWindow = (r: WindowRow): MaintenanceWindow => ({
  id: r.id,
  node: r.node,
  startsAt: r.starts_at,
  endsAt: r.ends_at,
  reason: r.reason,
  createdAt: r.created_at,
  endedAt: r.ended_at,
});

export function createMaintenanceStore(db: BetterSqlite3.Database): MaintenanceStore {
  const s = {
    insert: db.prepare(`INSERT INTO maintenance_windows (node, starts_at, ends_at, reason, created_at)
      VALUES (@node, @startsAt, @endsAt, @reason, @createdAt)`),
    end: db.prepare<{ at: number; node: string | null }>(`UPDATE maintenance_windows SET ended_at = @at
      WHERE ended_at IS NULL AND starts_at <= @at AND ends_at > @at AND (@node IS NULL OR node = @node)`),
    active: db.prepare<[number, number], WindowRow>(`SELECT * FROM maintenance_windows
      WHERE ended_at IS NULL AND starts_at <= ? AND ends_at > ? ORDER BY id`),
    open: db.prepare<[number], WindowRow>(`SELECT * FROM maintenance_windows
      WHERE ended_at IS NULL AND ends_at > ? ORDER BY starts_at, id`),
  };
  return guarded<MaintenanceStore>({
    insertWindow: (w) =>
      Number(s.insert.run({ node: w.node, startsAt: Math.round(w.startsAt), endsAt: Math.round(w.endsAt), reason: w.reason, createdAt: Math.round(w.createdAt) }).lastInsertRowid),
    endWindows: (at, node) => s.end.run({ at: Math.round(at), node: node ?? null }).changes,
    activeAt: (at) => s.active.all(at, at).map(toWindow),
    currentAndFuture: (at) => s.open.all(at).map(toWindow),
  });
}
