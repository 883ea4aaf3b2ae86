import { countOf } from '../history/histogram';
import { incidentsIn, type Incident } from '../history/incidents';
import { percent, totalMs } from '../history/intervals';
import { observe } from './observe';
import { emptyRollup, mergeRollup, percentiles } from '../history/rollup';
import { breakdown, judgedMs, servingMs, trafficTime, type TimeBreakdown } from '../history/timeline';
import type { History } from '../storage/history';
import { loadProbeStats, statsFor } from './stats';

export interface ReportOptions {
  from: number;
  to: number;
  /** Wall clock "now": an incident still open lasts until then. */
  now: number;
  /** The nodes to report, in this order (the config's). Default: every node the database names. */
  nodes?: readonly string[];
  /** probes.canary.coldStart: load time above which a raw canary counts as a cold start (rollups counted theirs when written). */
  coldStartMs?: number;
  /** Keep-warm cold events per node in the window (storage/cold-events.ts); absent: none counted. */
  coldEvents?: ReadonlyMap<string, number>;
  /** Model loads the monitor caused per node and why (storage/cold-events.ts loadsBetween); absent: none counted. */
  monitorLoads?: ReadonlyMap<string, Readonly<Record<string, number | undefined>>>;
}

export interface NodeReport {
  name: string;
  time: TimeBreakdown;
  /** Percent of judged time the node served (up or degraded); null when never judged in the window. */
  uptime: number | null;
  /** Percent of the window's wall time with a verdict on this node. */
  coverage: number | null;
  incidents: number;
  checks: { total: number; ok: number; failures: Record<string, number> };
  latency: {
    ttftMs: { p50: number | null; p95: number | null; p99: number | null };
    totalMs: { p50: number | null; p95: number | null };
    livenessMs: { p50: number | null; p95: number | null };
  };
  tokensPerSec: { p50: number | null };
  /**
   * Busy (issue 19): working canaries' wait for a generation slot (p50/p95, ms) and the share of measured
   * canaries that waited 250 ms or more (percent); nulls where no wait was measured (servers without durations).
   */
  queue: { waitMs: { p50: number | null; p95: number | null }; waitedPercent: number | null; measured: number };
  coldStarts: number;
  /** Tokens the node's canaries generated: what monitoring cost it. */
  canaryTokens: number;
  /** Canaries run (the cost per canary is canaryTokens / canaries). */
  canaries: number;
  /** App models keep-warm found unloaded and loaded again. */
  coldEvents: number;
  /** Model loads the monitor caused, by why (first_load, own_eviction, app_switch, not_loaded, canary_cold). */
  monitorLoads: Record<string, number>;
  /** Observed time apps were pointed at this node. */
  preferredMs: number;
}

export interface Report {
  generatedAt: number;
  from: number;
  to: number;
  monitor: { wallMs: number; observedMs: number; coverage: number | null; runs: number; uncleanStops: number; sleepMs: number; offlineMs: number };
  nodes: NodeReport[];
  traffic: { byNode: Array<{ node: string; ms: number; percent: number | null }>; allDownMs: number };
  incidents: Incident[];
  canaryTokens: number;
  /** Tokens per canary over the window (null without canaries): ≤ 8 where thinking is off, ≤ 64 otherwise. */
  tokensPerCanary: number | null;
  sources: { dailyRows: number; hourlyRows: number; rawProbes: number };
}

/** The default of probes.canary.coldStart, for --database without a config. */
const DEFAULT_COLD_START_MS = 2000;

/** Reads what the window needs and computes the whole report; pure apart from those reads. */
export function buildReport(history: History, opts: ReportOptions): Report {
  const { from, to, now } = opts;
  const names = opts.nodes ? [...opts.nodes] : history.nodeNames();
  const obs = observe(history, names, from, to, now);
  const stats = loadProbeStats(history, from, to, opts.coldStartMs ?? DEFAULT_COLD_START_MS);
  const traffic = trafficTime(obs.preferred, obs.observed);
  const observedMs = totalMs(obs.observed);
  const incidents: Incident[] = [];

  const nodes = names.map((name): NodeReport => {
    const o = obs.nodes.get(name);
    const time = breakdown(o?.segments ?? [], obs.observed, o?.maintenance ?? [], from, to);
    const inc = incidentsIn(o?.incidents ?? [], from, to, now);
    incidents.push(...inc);
    const live = statsFor(stats, name, 'liveness', from);
    const canary = statsFor(stats, name, 'canary', from);
    const all = mergeRollup(mergeRollup(emptyRollup(from, name, '*'), live), canary);
    return {
      name,
      time,
      uptime: percent(servingMs(time), judgedMs(time)),
      coverage: percent(judgedMs(time), time.wallMs),
      incidents: inc.length,
      checks: { total: all.checks, ok: all.ok, failures: all.failures },
      latency: {
        ttftMs: percentiles(canary.ttft, { p50: 0.5, p95: 0.95, p99: 0.99 }),
        totalMs: percentiles(canary.total, { p50: 0.5, p95: 0.95 }),
        livenessMs: percentiles(live.total, { p50: 0.5, p95: 0.95 }),
      },
      tokensPerSec: percentiles(canary.tps, { p50: 0.5 }),
      queue: { waitMs: percentiles(canary.queue, { p50: 0.5, p95: 0.95 }), waitedPercent: percent(canary.waited, countOf(canary.queue)), measured: countOf(canary.queue) },
      coldStarts: all.coldStarts,
      canaryTokens: canary.evalTokens,
      canaries: canary.checks,
      coldEvents: opts.coldEvents?.get(name) ?? 0,
      monitorLoads: Object.fromEntries(Object.entries(opts.monitorLoads?.get(name) ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0)),
      preferredMs: traffic.byNode.get(name) ?? 0,
    };
  });

  // Traffic is global: with --node, other nodes that carried traffic still appear there.
  const trafficNodes = [...names, ...[...traffic.byNode.keys()].filter((n) => !names.includes(n))];
  return {
    generatedAt: now,
    from,
    to,
    monitor: {
      wallMs: Math.max(0, to - from),
      observedMs,
      coverage: percent(observedMs, to - from),
      runs: obs.runs.length,
      uncleanStops: obs.runs.filter((r) => r.cleanExit === false).length,
      sleepMs: obs.sleepMs,
      offlineMs: obs.offlineMs,
    },
    nodes,
    traffic: {
      byNode: trafficNodes.map((node) => {
        const ms = traffic.byNode.get(node) ?? 0;
        return { node, ms, percent: percent(ms, observedMs) };
      }),
      allDownMs: traffic.allDownMs,
    },
    incidents: incidents.sort((a, b) => a.start - b.start),
    canaryTokens: nodes.reduce((n, r) => n + r.canaryTokens, 0),
    tokensPerCanary: perCanary(nodes.reduce((n, r) => n + r.canaryTokens, 0), nodes.reduce((n, r) => n + r.canaries, 0)),
    sources: stats.sources,
  };
}

export function perCanary(tokens: number, canaries: number): number | null {
  return canaries > 0 ? Math.round((tokens / canaries) * 10) / 10 : null;
}
