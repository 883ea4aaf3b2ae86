import type { NodeStatus } from '../core/status';
import { clip, intersect, normalize, totalMs, type Interval } from './intervals';

export type TimelineStatus = NodeStatus;

/** A row of `transitions`. */
export interface StatusChange {
  at: number;
  from: string;
  to: string;
  reason: string;
}

/** The node's status from `from` to `to`. */
export interface Segment extends Interval {
  status: TimelineStatus;
  reason: string;
}

const asStatus = (s: string): TimelineStatus => (s === 'up' || s === 'degraded' || s === 'down' ? s : 'unknown');

/**
 * A node's status over [from, to), from its transitions. The status at `from` is the last transition before
 * it (`initial`), else unknown.
 *
 * The daemon restores each node's status from the state file when it restarts; without that file it starts at
 * `unknown` and records nothing until the first flip. So a transition whose `from` differs from the status we
 * are tracking means the node silently became `from` at a restart: we place that at the latest run start
 * between the two transitions (and only if there is one; otherwise the flip happened at the transition itself).
 */
export function statusSegments(initial: StatusChange | undefined, changes: readonly StatusChange[], runStarts: readonly number[], from: number, to: number): Segment[] {
  const sortedStarts = [...runStarts].sort((a, b) => a - b);
  let status: TimelineStatus = initial ? asStatus(initial.to) : 'unknown';
  let reason = initial?.reason ?? 'no data';
  let lastAt = initial?.at ?? Number.NEGATIVE_INFINITY;
  const points: Array<{ at: number; status: TimelineStatus; reason: string }> = [{ at: from, status, reason }];
  // Anything at or before `from` only decides the status the window opens with.
  const push = (at: number, st: TimelineStatus, why: string): void => {
    if (at <= from) points[0] = { at: from, status: st, reason: why };
    else points.push({ at, status: st, reason: why });
  };
  for (const c of [...changes].sort((a, b) => a.at - b.at)) {
    const before = asStatus(c.from);
    if (before !== status) {
      const restart = latestBetween(sortedStarts, lastAt, c.at);
      if (restart !== undefined) push(restart, before, 'monitor restarted');
    }
    status = asStatus(c.to);
    reason = c.reason;
    lastAt = c.at;
    push(c.at, status, reason);
  }
  const segments: Segment[] = [];
  points.forEach((p, i) => {
    const next = points[i + 1];
    const f = Math.max(p.at, from);
    const t = Math.min(next ? next.at : to, to);
    if (t <= f) return;
    const last = segments[segments.length - 1];
    if (last && last.status === p.status && last.to === f) last.to = t;
    else segments.push({ from: f, to: t, status: p.status, reason: p.reason });
  });
  return segments;
}

function latestBetween(sorted: readonly number[], after: number, atOrBefore: number): number | undefined {
  let found: number | undefined;
  for (const s of sorted) {
    if (s > atOrBefore) break;
    if (s > after) found = s;
  }
  return found;
}

/** Where every millisecond of a window went, for one node. */
export interface TimeBreakdown {
  wallMs: number;
  upMs: number;
  degradedMs: number;
  downMs: number;
  /** The monitor was watching but had no verdict yet (just started, no state file). */
  unknownMs: number;
  /** No run covered it, or the host slept. */
  notObservedMs: number;
  /** Wall time inside a maintenance window (overlaps the categories above; shown beside them). */
  maintenanceMs: number;
}

/** `observed` and `maintenance` normalized. */
export function breakdown(segments: readonly Segment[], observed: readonly Interval[], maintenance: readonly Interval[], from: number, to: number): TimeBreakdown {
  const watched = clip(observed, from, to);
  const b: TimeBreakdown = {
    wallMs: Math.max(0, to - from),
    upMs: 0,
    degradedMs: 0,
    downMs: 0,
    unknownMs: 0,
    notObservedMs: 0,
    maintenanceMs: totalMs(clip(maintenance, from, to)),
  };
  for (const s of segments) {
    const ms = totalMs(intersect(watched, clip([s], from, to)));
    if (s.status === 'up') b.upMs += ms;
    else if (s.status === 'degraded') b.degradedMs += ms;
    else if (s.status === 'down') b.downMs += ms;
    else b.unknownMs += ms;
  }
  b.notObservedMs = b.wallMs - b.upMs - b.degradedMs - b.downMs - b.unknownMs;
  return b;
}

/** Time with a verdict: what uptime is a share of. */
export const judgedMs = (b: TimeBreakdown): number => b.upMs + b.degradedMs + b.downMs;
/** Degraded still serves (slow, or only liveness answers), so it counts as up; it is reported separately. */
export const servingMs = (b: TimeBreakdown): number => b.upMs + b.degradedMs;

/** Which node apps were told to use, over [from, to). */
export interface PreferredChange {
  at: number;
  to: string;
  allDown: boolean;
}

export interface PreferredSegment extends Interval {
  node: string;
  allDown: boolean;
}

export function preferredSegments(initial: PreferredChange | undefined, changes: readonly PreferredChange[], from: number, to: number): PreferredSegment[] {
  const points = [...(initial ? [{ ...initial, at: from }] : []), ...[...changes].sort((a, b) => a.at - b.at)];
  const out: PreferredSegment[] = [];
  points.forEach((p, i) => {
    const next = points[i + 1];
    const f = Math.max(p.at, from);
    const t = Math.min(next ? next.at : to, to);
    if (t > f) out.push({ from: f, to: t, node: p.to, allDown: p.allDown });
  });
  return out;
}

/** Observed time apps were pointed at each node, and observed time with every node down. */
export function trafficTime(segments: readonly PreferredSegment[], observed: readonly Interval[]): { byNode: Map<string, number>; allDownMs: number } {
  const byNode = new Map<string, number>();
  let allDownMs = 0;
  for (const s of segments) {
    const ms = totalMs(intersect(observed, normalize([s])));
    byNode.set(s.node, (byNode.get(s.node) ?? 0) + ms);
    if (s.allDown) allDownMs += ms;
  }
  return { byNode, allDownMs };
}
