import { perCanary } from './model';
import { ms, num, table } from '../util/table';
import { incidentDuration } from '../history/incidents';
import { formatDuration } from '../util/duration';
import type { Report } from './model';

/** Incidents listed in the human report; --json has them all. */
const MAX_INCIDENT_ROWS = 30;

const pct = (v: number | null): string => (v === null ? '-' : `${v.toFixed(v === 100 ? 1 : 3)} %`);
const dur = (v: number): string => (v > 0 ? formatDuration(v) : '-');
const when = (t: number): string => `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')}Z`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The human report: plain text tables, uptime and coverage always side by side. */
export function renderReportText(r: Report): string {
  const out: string[] = [];
  const m = r.monitor;
  out.push(`llm-sentinel report  ${when(r.from)} → ${when(r.to)}  (${formatDuration(m.wallMs)})`);
  out.push(
    `Monitor watched ${formatDuration(m.observedMs)} of ${formatDuration(m.wallMs)} (coverage ${pct(m.coverage)}): ${plural(m.runs, 'run')}, ` +
      `${plural(m.uncleanStops, 'unclean stop')}, ${m.sleepMs > 0 ? `host asleep ${formatDuration(m.sleepMs)}` : 'no sleep recorded'}` +
      `${m.offlineMs > 0 ? `, own network down ${formatDuration(m.offlineMs)}` : ''}.`,
  );
  out.push('Uptime = serving (up or degraded) / time with a verdict. Coverage = time with a verdict / wall time.');
  out.push('');
  out.push(
    table(
      ['NODE', 'UPTIME', 'COVERAGE', 'DEGRADED', 'DOWN', 'UNKNOWN', 'NOT WATCHED', 'MAINTENANCE', 'INCIDENTS', 'PREFERRED'],
      r.nodes.map((n) => [
        n.name,
        pct(n.uptime),
        pct(n.coverage),
        dur(n.time.degradedMs),
        dur(n.time.downMs),
        dur(n.time.unknownMs),
        dur(n.time.notObservedMs),
        dur(n.time.maintenanceMs),
        String(n.incidents),
        dur(n.preferredMs),
      ]),
    ),
  );
  out.push(
    table(
      ['NODE', 'CHECKS', 'FAILED', 'TTFT p50', 'p95', 'p99', 'TOTAL p50', 'p95', 'LIVENESS p50', 'TOK/S p50', 'COLD STARTS', 'CANARY TOKENS'],
      r.nodes.map((n) => [
        n.name,
        String(n.checks.total),
        String(n.checks.total - n.checks.ok),
        ms(n.latency.ttftMs.p50),
        ms(n.latency.ttftMs.p95),
        ms(n.latency.ttftMs.p99),
        ms(n.latency.totalMs.p50),
        ms(n.latency.totalMs.p95),
        ms(n.latency.livenessMs.p50),
        num(n.tokensPerSec.p50),
        String(n.coldStarts),
        String(n.canaryTokens),
      ]),
    ),
  );
  for (const n of r.nodes) {
    const reasons = Object.entries(n.checks.failures).sort((a, b) => b[1] - a[1]);
    if (reasons.length > 0) out.push(`Failures on ${n.name}: ${reasons.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  const traffic = r.traffic.byNode.filter((t) => t.ms > 0);
  out.push(
    `Traffic (while watched): ${traffic.length === 0 ? 'no preferred node recorded' : traffic.map((t) => `${t.node} ${pct(t.percent)} (${formatDuration(t.ms)})`).join(', ')}` +
      (r.traffic.allDownMs > 0 ? `; all nodes down for ${formatDuration(r.traffic.allDownMs)}` : ''),
  );
  const each = (n: { canaryTokens: number; canaries: number }) => { const p = perCanary(n.canaryTokens, n.canaries); return p === null ? '' : `, ${p} per canary`; };
  out.push(`Canary cost: ${r.canaryTokens} tokens generated${r.tokensPerCanary === null ? '' : ` (${r.tokensPerCanary} per canary)`}${r.nodes.length > 1 ? `: ${r.nodes.map((n) => `${n.name} ${n.canaryTokens}${each(n)}`).join('; ')}` : ''}.`);
  const cold = r.nodes.filter((n) => n.coldEvents > 0);
  out.push(`Keep-warm: ${cold.length === 0 ? 'no app model found unloaded' : cold.map((n) => `${n.name} ${n.coldEvents} cold model${n.coldEvents === 1 ? '' : 's'} loaded again`).join(', ')}.`);
  out.push(`Model loads the monitor caused: ${monitorLoads(r.nodes)}.`);
  // Busy (issue 19): canaries that queued behind the apps. A node that waits often is saturated, not down.
  const queued = r.nodes.filter((n) => n.queue.measured > 0);
  out.push(
    `Queue (canary wait for a generation slot): ${
      queued.length === 0
        ? 'not measured (no node gave durations)'
        : queued.map((n) => `${n.name} waited in ${pct(n.queue.waitedPercent)} of ${n.queue.measured} canaries, p50 ${ms(n.queue.waitMs.p50)}, p95 ${ms(n.queue.waitMs.p95)}`).join('; ')
    }.`,
  );
  out.push('');
  if (r.incidents.length === 0) {
    out.push('Incidents: none.');
  } else {
    out.push(`Incidents (${r.incidents.length}):`);
    const shown = r.incidents.slice(-MAX_INCIDENT_ROWS);
    out.push(
      table(
        ['START', 'END', 'DURATION', 'NODE', 'STATUS', 'CAUSE', 'TRAFFIC WENT TO', 'MAINTENANCE'],
        shown.map((i) => [
          when(i.start),
          i.end === null ? 'ongoing' : when(i.end),
          formatDuration(incidentDuration(i, r.generatedAt)),
          i.node,
          i.status,
          i.cause,
          i.trafficTo.join(' → ') || '-',
          i.inMaintenance ? 'yes' : '-',
        ]),
      ).trimEnd(),
    );
    if (shown.length < r.incidents.length) out.push(`(${r.incidents.length - shown.length} older incidents not shown; --json lists them all)`);
  }
  return `${out.join('\n')}\n`;
}

const LOAD_WORDS: Record<string, string> = {
  first_load: 'first load',
  own_eviction: 'after its own eviction',
  app_switch: 'after an app switched models',
  not_loaded: 'cold model loaded again',
  canary_cold: 'canary cold start',
};

/** "node1 1 first load, 1 after its own eviction; …" (first loads are not cold starts: docs/keep-warm.md). */
function monitorLoads(nodes: ReadonlyArray<{ name: string; monitorLoads: Record<string, number> }>): string {
  const parts = nodes
    .filter((n) => Object.keys(n.monitorLoads).length > 0)
    .map((n) => `${n.name} ${Object.entries(n.monitorLoads).map(([why, c]) => `${c} ${LOAD_WORDS[why] ?? why}${c === 1 || !(why === 'first_load') ? '' : 's'}`).join(', ')}`);
  return parts.length === 0 ? 'none' : `${parts.join('; ')} (first loads are not cold starts)`;
}
