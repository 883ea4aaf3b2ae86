import { ceilTo, DAY_MS, floorTo, HOUR_MS } from '../history/intervals';
import { emptyRollup, mergeRollups, rollupProbes, type Rollup } from '../history/rollup';
import type { History } from '../storage/history';

export interface ProbeStats {
  /** node → kind → everything the window's probes add up to. */
  byNode: Map<string, Map<string, Rollup>>;
  /** How many rows each source contributed (so a reader can tell a thin sample from a full one). */
  sources: { dailyRows: number; hourlyRows: number; rawProbes: number };
}

/**
 * Probe statistics for [from, to): whole days from daily rollups, whole hours from hourly rollups, and the
 * rest (the current, not yet rolled up hours, and partial hours at the edges) from raw probes. Daily and
 * hourly rollups are only read where the job has finished them (history_marks), so no period is counted twice.
 * An edge hour whose raw probes were already pruned is left out: a one-hour blur at the start of a window
 * older than the raw retention.
 */
export function loadProbeStats(history: History, from: number, to: number, coldStartMs: number): ProbeStats {
  const hourlyMark = history.mark('hourly') ?? Number.NEGATIVE_INFINITY;
  const dailyMark = history.mark('daily') ?? Number.NEGATIVE_INFINITY;
  const rows: Rollup[] = [];
  const sources = { dailyRows: 0, hourlyRows: 0, rawProbes: 0 };
  const raw = (f: number, t: number): void => {
    if (t <= f) return;
    const probes = history.probesBetween(f, t);
    sources.rawProbes += probes.length;
    rows.push(...rollupProbes(probes, f, coldStartMs));
  };
  const hourly = (f: number, t: number): void => {
    if (t <= f) return;
    const r = history.rollupsBetween('hourly', f, t);
    sources.hourlyRows += r.length;
    rows.push(...r);
  };

  const a = ceilTo(from, HOUR_MS);
  const b = Math.min(floorTo(to, HOUR_MS), hourlyMark);
  if (a < b) {
    const c = ceilTo(a, DAY_MS);
    const d = Math.min(floorTo(b, DAY_MS), dailyMark);
    if (c < d) {
      hourly(a, c);
      const daily = history.rollupsBetween('daily', c, d);
      sources.dailyRows += daily.length;
      rows.push(...daily);
      hourly(d, b);
    } else {
      hourly(a, b);
    }
    raw(from, a);
    raw(b, to);
  } else {
    raw(from, to);
  }

  const byNode = new Map<string, Map<string, Rollup>>();
  for (const r of mergeRollups(rows, from)) {
    let kinds = byNode.get(r.node);
    if (!kinds) byNode.set(r.node, (kinds = new Map()));
    kinds.set(r.kind, r);
  }
  return { byNode, sources };
}

/** The node's rollup for a kind, empty when it had no such probes. */
export function statsFor(stats: ProbeStats, node: string, kind: string, from: number): Rollup {
  return stats.byNode.get(node)?.get(kind) ?? emptyRollup(from, node, kind);
}
