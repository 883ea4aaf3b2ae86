import { incidentDuration } from '../history/incidents';
import type { Report } from './model';

/** Bumped only for incompatible changes; fields may be added within a version (docs/report.md). */
export const REPORT_FORMAT = 'llm-sentinel.report/1';

const iso = (ms: number): string => new Date(ms).toISOString();
const round = (v: number | null, digits: number): number | null => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits);
const ms = (v: number): number => Math.round(v);

/** The stable --json document. Times ISO 8601 UTC, durations integer ms, percentages 0-100 with 3 decimals. */
export function reportJson(r: Report): Record<string, unknown> {
  return {
    format: REPORT_FORMAT,
    generatedAt: iso(r.generatedAt),
    window: { from: iso(r.from), to: iso(r.to), wallMs: ms(r.monitor.wallMs) },
    monitor: {
      coverage: r.monitor.coverage,
      observedMs: ms(r.monitor.observedMs),
      runs: r.monitor.runs,
      uncleanStops: r.monitor.uncleanStops,
      sleepMs: ms(r.monitor.sleepMs),
      offlineMs: ms(r.monitor.offlineMs),
    },
    nodes: r.nodes.map((n) => ({
      name: n.name,
      uptime: n.uptime,
      coverage: n.coverage,
      time: {
        upMs: ms(n.time.upMs),
        degradedMs: ms(n.time.degradedMs),
        downMs: ms(n.time.downMs),
        unknownMs: ms(n.time.unknownMs),
        notObservedMs: ms(n.time.notObservedMs),
        maintenanceMs: ms(n.time.maintenanceMs),
      },
      incidents: n.incidents,
      checks: n.checks,
      latencyMs: {
        ttft: { p50: round(n.latency.ttftMs.p50, 1), p95: round(n.latency.ttftMs.p95, 1), p99: round(n.latency.ttftMs.p99, 1) },
        total: { p50: round(n.latency.totalMs.p50, 1), p95: round(n.latency.totalMs.p95, 1) },
        liveness: { p50: round(n.latency.livenessMs.p50, 1), p95: round(n.latency.livenessMs.p95, 1) },
      },
      tokensPerSec: { p50: round(n.tokensPerSec.p50, 1) },
      queue: { waitMs: { p50: round(n.queue.waitMs.p50, 1), p95: round(n.queue.waitMs.p95, 1) }, waitedPercent: n.queue.waitedPercent, measured: n.queue.measured },
      coldStarts: n.coldStarts,
      canaryTokens: n.canaryTokens,
      canaries: n.canaries,
      coldEvents: n.coldEvents,
      monitorLoads: n.monitorLoads,
      preferredMs: ms(n.preferredMs),
    })),
    traffic: {
      byNode: r.traffic.byNode.map((t) => ({ node: t.node, ms: ms(t.ms), percent: t.percent })),
      allDownMs: ms(r.traffic.allDownMs),
    },
    incidents: r.incidents.map((i) => ({
      node: i.node,
      start: iso(i.start),
      end: i.end === null ? null : iso(i.end),
      ongoing: i.end === null,
      durationMs: ms(incidentDuration(i, r.generatedAt)),
      status: i.status,
      cause: i.cause,
      trafficTo: i.trafficTo,
      inMaintenance: i.inMaintenance,
    })),
    canaryCost: { tokens: r.canaryTokens, perCanary: r.tokensPerCanary },
    sources: r.sources,
  };
}
