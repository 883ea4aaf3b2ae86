import type { History } from '../storage/history';
import { deriveIncidents, type Incident } from '../history/incidents';
import { gapIntervals, normalize, observedIntervals, totalMs, type Interval, type RunSpan } from '../history/intervals';
import { preferredSegments, statusSegments, type PreferredChange, type PreferredSegment, type Segment } from '../history/timeline';

/** Everything the database says about who watched what, over one window. */
export interface Observation {
  from: number;
  to: number;
  runs: RunSpan[];
  /** Monitor-observed time in the window (runs minus sleep gaps). */
  observed: Interval[];
  /** Wall time the host slept inside a run (recorded sleep gaps). */
  sleepMs: number;
  /** Wall time the monitor's own network was down inside a run (recorded offline gaps): nothing was judged. */
  offlineMs: number;
  nodes: Map<string, NodeObservation>;
  /** Who apps were pointed at, over the window. */
  preferred: PreferredSegment[];
}

export interface NodeObservation {
  segments: Segment[];
  maintenance: Interval[];
  /** Every incident of the node that overlaps the window or led into it. */
  incidents: Incident[];
}

/**
 * Reads runs, gaps, transitions, preferred changes and maintenance windows for [from, to) and turns them into
 * timelines. These tables are small (a row per flip, per run, per sleep) and are never pruned, so a year reads
 * in milliseconds and old reports stay exact.
 */
export function observe(history: History, nodeNames: readonly string[], from: number, to: number, now: number): Observation {
  const runs = history.runsBetween(from, to);
  const gaps = history.gapsBetween(from, to);
  const observed = observedIntervals(runs, gaps, from, to);
  const runStarts = history.runStartsBefore(to);
  const maintenance = history.maintenanceBetween(Number.MIN_SAFE_INTEGER, to);

  // Incidents that were already running at `from` began after the node's last `up` before it.
  const lookback = new Map(nodeNames.map((n) => [n, history.lastUpBefore(n, from) ?? Number.MIN_SAFE_INTEGER]));
  const earliest = Math.min(from, ...lookback.values());
  const pInitial = history.preferredBefore(earliest);
  const pChanges = history.preferredBetween(earliest, to);

  const nodes = new Map<string, NodeObservation>();
  for (const name of nodeNames) {
    const since = lookback.get(name) ?? from;
    const changes = history.transitionsBetween(name, since, to);
    const initial = history.statusBefore(name, from);
    const inWindow = changes.filter((c) => c.at >= from);
    const windows = normalize(maintenance.filter((m) => m.node === null || m.node === name).map((m) => ({ from: m.from, to: m.to })));
    nodes.set(name, {
      segments: statusSegments(initial, inWindow, runStarts, from, to),
      maintenance: windows,
      incidents: deriveIncidents(name, changes, { initial: pInitial, changes: pChanges }, windows, now),
    });
  }
  return {
    from,
    to,
    runs,
    observed,
    sleepMs: totalMs(gapIntervals(gaps, from, to, 'sleep')),
    offlineMs: totalMs(gapIntervals(gaps, from, to, 'offline')),
    nodes,
    preferred: preferredSegments(lastBefore(pInitial, pChanges, from), pChanges.filter((c) => c.at >= from), from, to),
  };
}

function lastBefore(initial: PreferredChange | undefined, changes: readonly PreferredChange[], at: number): PreferredChange | undefined {
  let found = initial;
  for (const c of changes) if (c.at < at) found = c;
  return found;
}
