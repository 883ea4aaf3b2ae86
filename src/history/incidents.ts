import { normalize, type Interval } from './intervals';
import { preferredSegments, type PreferredChange, type StatusChange } from './timeline';

/** A stretch when a node was not serving well: it left `up` for `degraded` or `down` and had not come back. */
export interface Incident {
  node: string;
  start: number;
  /** null: still going at the end of the data. */
  end: number | null;
  /** The worst status reached: down beats degraded. */
  status: 'down' | 'degraded';
  /** The reason recorded when the incident reached its worst status (e.g. cloudflare_tunnel_down). */
  cause: string;
  /** Nodes apps were pointed at during the incident, in order (the node itself when nothing better was up). */
  trafficTo: string[];
  /** It overlapped a maintenance window for this node. */
  inMaintenance: boolean;
}

const severity = (s: string): number => (s === 'down' ? 2 : s === 'degraded' ? 1 : 0);

/**
 * Incidents of one node from its transitions (oldest first), which must reach back to before the first
 * incident of interest started (the caller loads from the last `up` before its window). An incident opens on a
 * flip to degraded or down, gets worse on a flip to down, and ends on the next flip to up. A flip to
 * `unknown` (restart without a state file) neither opens nor ends one: the monitor did not see it recover.
 */
export function deriveIncidents(
  node: string,
  changes: readonly StatusChange[],
  preferred: { initial: PreferredChange | undefined; changes: readonly PreferredChange[] },
  maintenance: readonly Interval[],
  now: number,
): Incident[] {
  const out: Incident[] = [];
  let open: Incident | undefined;
  for (const c of [...changes].sort((a, b) => a.at - b.at)) {
    const sev = severity(c.to);
    if (sev > 0) {
      if (!open) {
        open = { node, start: c.at, end: null, status: c.to as Incident['status'], cause: c.reason, trafficTo: [], inMaintenance: false };
        out.push(open);
      } else if (sev > severity(open.status)) {
        open.status = c.to as Incident['status'];
        open.cause = c.reason;
      }
    } else if (c.to === 'up' && open) {
      open.end = c.at;
      open = undefined;
    }
  }
  const windows = normalize(maintenance);
  for (const inc of out) {
    const end = inc.end ?? Math.max(now, inc.start);
    inc.trafficTo = trafficDuring(preferred, inc.start, end);
    inc.inMaintenance = windows.some((w) => w.from < Math.max(end, inc.start + 1) && w.to > inc.start);
  }
  return out;
}

function trafficDuring(preferred: { initial: PreferredChange | undefined; changes: readonly PreferredChange[] }, from: number, to: number): string[] {
  // The preferred node in force at `from`, including a switch recorded in the same millisecond as the flip.
  const before = [preferred.initial, ...preferred.changes].filter((c): c is PreferredChange => c !== undefined && c.at <= from);
  const atStart = before.sort((a, b) => a.at - b.at)[before.length - 1];
  const during = preferred.changes.filter((c) => c.at > from && c.at < to);
  const segs = preferredSegments(atStart, during, from, Math.max(to, from + 1));
  const names: string[] = [];
  for (const s of segs) if (names[names.length - 1] !== s.node) names.push(s.node);
  return names;
}

/** Incidents that overlap [from, to) (an incident still open counts as lasting until `now`). */
export function incidentsIn(incidents: readonly Incident[], from: number, to: number, now: number): Incident[] {
  return incidents.filter((i) => i.start < to && (i.end ?? Math.max(now, i.start + 1)) > from);
}

export const incidentDuration = (i: Incident, now: number): number => (i.end ?? Math.max(now, i.start)) - i.start;
