import { incidentDuration } from '../history/incidents';
import type { DayBar, StatusModel, StatusNode } from '../uptime/status-model';
import { formatDuration } from '../util/duration';

export { buildStatusModel, type StatusModel } from '../uptime/status-model';

/**
 * The status page: one self-contained HTML document (inline CSS, inline SVG, no script, no external URL of
 * any kind) so it works offline, behind a tunnel, and leaks nothing to a CDN. It refreshes itself with a meta
 * refresh; the data: favicon stops browsers asking for /favicon.ico, which the token would refuse. Every value
 * from the database or the config goes through esc(). Pure: the model in, a string out.
 */
export function renderStatusPage(m: StatusModel): string {
  const title = `llm-sentinel${m.instance ? ` · ${m.instance}` : ''}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${Math.max(5, Math.round(m.refreshSeconds))}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><p class="meta">${esc(headerLine(m))}</p></header>
${banner(m)}
<section class="nodes">
${m.nodes.map((n) => nodeCard(n, m)).join('\n')}
</section>
${peersTable(m)}
<section class="latency">
<h2>${m.latency.metric === 'ttft' ? 'Time to first token' : 'Liveness probe time'}, last 24 hours <small>(median per ${formatDuration(m.latency.slotMs)})</small></h2>
${latencyChart(m)}
</section>
<section class="incidents">
<h2>Recent incidents</h2>
${incidentTable(m)}
</section>
<footer>Generated ${esc(iso(m.now))} · refreshes every ${m.refreshSeconds} s · day bars are UTC days; grey = not watched</footer>
</body>
</html>
`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

const iso = (t: number): string => `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const pct = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(v === 100 ? 0 : 2)} %`);

/** The monitors (one voice): heard, the age of the last answer, who speaks, what disagrees. */
function peersTable(m: StatusModel): string {
  if (!m.peers || m.peers.length === 0) return '';
  const rows = m.peers.map(
    (p, i) =>
      `<tr><td>${esc(p.name)}${i === 0 ? ' <small>(this monitor)</small>' : ''}</td><td>${p.heard ? 'heard' : 'SILENT'}</td><td>${p.ageSeconds === null ? 'never' : `${p.ageSeconds} s ago`}</td><td>${p.speaks ? 'speaks' : ''}</td><td>${esc(p.problem ? `monitors disagree: ${p.problem}` : (p.lastError ?? ''))}</td></tr>`,
  );
  return `<section class="peers">
<h2>Monitors</h2>
<table><tr><th>Monitor</th><th>Heard</th><th>Last heard</th><th>Voice</th><th>Note</th></tr>
${rows.join('\n')}
</table>
</section>`;
}

function headerLine(m: StatusModel): string {
  const parts: string[] = [];
  if (m.version) parts.push(`v${m.version}`);
  parts.push(m.stateAgeMs === null ? 'no state published yet' : `state written ${formatDuration(Math.max(0, m.stateAgeMs))} ago`);
  return parts.join(' · ');
}

function banner(m: StatusModel): string {
  const rows: string[] = [];
  if (m.stale) {
    rows.push(
      `<div class="banner bad">The monitor has not written its state for ${esc(formatDuration(m.stateAgeMs ?? 0))}: it may be dead. What follows is its last view.</div>`,
    );
  }
  if (m.monitorOffline) rows.push('<div class="banner bad">The monitor\'s own network is down: node statuses are frozen, not judged.</div>');
  if (m.preferred === null) rows.push('<div class="banner warn">No preferred node yet: the monitor has not published a state.</div>');
  else if (m.allDown) rows.push(`<div class="banner bad">All nodes are down. Apps are told to stay on <b>${esc(m.preferred)}</b>.</div>`);
  else {
    const p = m.nodes.find((n) => n.name === m.preferred);
    const others = m.nodes.filter((n) => n.name !== m.preferred && (n.status === 'down' || n.status === 'degraded'));
    const cls = p?.status === 'up' && others.length === 0 ? 'ok' : 'warn';
    const note = others.map((n) => ` ${esc(n.name)} is ${esc(n.status)}.`).join('');
    rows.push(`<div class="banner ${cls}">Apps are using <b>${esc(m.preferred)}</b>${p ? ` (${esc(p.status)})` : ''}.${note}</div>`);
  }
  return rows.join('\n');
}

function nodeCard(n: StatusNode, m: StatusModel): string {
  const since = n.since !== null && Number.isFinite(n.since) ? ` for ${formatDuration(Math.max(0, m.now - n.since))}` : '';
  const why = n.status === 'up' ? '' : ` <span class="why">${esc(n.statusReason)}</span>`;
  // Busy is not a status: a node serving long drafts is up, and says how long a request waits for a slot.
  const busy = n.busy ? ` <span class="why">busy${n.busy.waitMs !== null ? `: requests wait ${esc(formatDuration(n.busy.waitMs))} for a slot` : ''}</span>` : '';
  return `<article class="node">
<div class="node-head"><h2>${esc(n.name)}${n.preferred ? ' <span class="tag">preferred</span>' : ''}</h2>
<span class="pill s-${esc(n.status)}">${esc(n.status)}</span><span class="since">${esc(since)}</span>${why}${busy}</div>
${n.model ? `<p class="model">model ${esc(n.model)}</p>` : ''}
${dayBars(n.days, n.name)}
<p class="summary"><span>${m.days} days ago</span><span>uptime ${esc(pct(n.uptime))} · watched ${esc(pct(n.coverage))}</span><span>today</span></p>
</article>`;
}

/** Colour by uptime; grey where the monitor had no verdict at all. Thresholds are the usual status-page ones. */
export function barColour(uptime: number | null): string {
  if (uptime === null) return '#c5cad3';
  if (uptime >= 99.9) return '#2f9e5b';
  if (uptime >= 99) return '#7cbf5a';
  if (uptime >= 95) return '#e2b33c';
  if (uptime >= 90) return '#e9853a';
  return '#d64545';
}

const BAR_W = 6;
const BAR_GAP = 2;
const BAR_H = 32;

function dayBars(days: readonly DayBar[], node: string): string {
  const width = days.length * (BAR_W + BAR_GAP) - BAR_GAP;
  const rects = days.map((d, i) => {
    const day = new Date(d.day).toISOString().slice(0, 10);
    const tip =
      d.uptime === null
        ? `${day}: not watched`
        : `${day}: uptime ${pct(d.uptime)}, watched ${pct(d.coverage)}${d.downMs > 0 ? `, down ${formatDuration(d.downMs)}` : ''}${d.degradedMs > 0 ? `, degraded ${formatDuration(d.degradedMs)}` : ''}`;
    const x = i * (BAR_W + BAR_GAP);
    // The coloured part's height is the share of the day that was watched; the grey rest was not.
    const h = d.uptime === null ? BAR_H : Math.max(4, Math.round((BAR_H * (d.coverage ?? 0)) / 100));
    const backing = h < BAR_H ? `<rect class="bar-bg" x="${x}" y="0" width="${BAR_W}" height="${BAR_H}" rx="1.5" fill="${barColour(null)}"/>` : '';
    return `${backing}<rect class="bar" x="${x}" y="${BAR_H - h}" width="${BAR_W}" height="${h}" rx="1.5" fill="${barColour(d.uptime)}"><title>${esc(tip)}</title></rect>`;
  });
  return `<svg class="bars" viewBox="0 0 ${width} ${BAR_H}" preserveAspectRatio="none" role="img" aria-label="${esc(`${node}: uptime per day, last ${days.length} days`)}">${rects.join('')}</svg>`;
}

const SERIES_COLOURS = ['#2563eb', '#d97706', '#7c3aed', '#059669', '#db2777', '#4b5563'];
const CHART = { w: 720, h: 220, left: 56, right: 12, top: 12, bottom: 28 };

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least the largest value. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

function latencyChart(m: StatusModel): string {
  const { from, to, slotMs, series } = m.latency;
  const values = series.flatMap((s) => s.points.map((p) => p.ms));
  if (values.length === 0) return '<p class="empty">No successful probes in the last 24 hours.</p>';
  const sorted = [...values].sort((a, b) => a - b);
  // Scale to the 99th percentile so one stuck probe does not flatten every other line; above it is clipped.
  const yMax = niceMax(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number);
  const pw = CHART.w - CHART.left - CHART.right;
  const ph = CHART.h - CHART.top - CHART.bottom;
  const x = (t: number): number => CHART.left + ((t - from) / Math.max(1, to - from)) * pw;
  const y = (v: number): number => CHART.top + ph - (Math.min(v, yMax) / yMax) * ph;
  const f = (n: number): string => n.toFixed(1);
  const grid: string[] = [];
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    const v = yMax * frac;
    grid.push(`<line class="grid" x1="${CHART.left}" x2="${CHART.w - CHART.right}" y1="${f(y(v))}" y2="${f(y(v))}"/>`);
    grid.push(`<text class="axis" x="${CHART.left - 6}" y="${f(y(v) + 4)}" text-anchor="end">${esc(msLabel(v))}</text>`);
  }
  for (let h = 24; h >= 0; h -= 6) {
    const t = to - h * 3_600_000;
    grid.push(`<text class="axis" x="${f(x(t))}" y="${CHART.h - 8}" text-anchor="middle">${h === 0 ? 'now' : `-${h}h`}</text>`);
  }
  const lines = series.map((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
    // Break the line where a slot had no sample (node down, monitor stopped): never draw across a gap.
    let d = '';
    let prev: number | undefined;
    for (const p of s.points) {
      d += `${prev !== undefined && p.at - prev <= slotMs * 1.5 ? 'L' : 'M'}${f(x(p.at))} ${f(y(p.ms))} `;
      prev = p.at;
    }
    const dots = s.points.length <= 3 ? s.points.map((p) => `<circle cx="${f(x(p.at))}" cy="${f(y(p.ms))}" r="2.5" fill="${colour}"/>`).join('') : '';
    return `<path class="series" d="${d.trim()}" stroke="${colour}" fill="none"><title>${esc(s.node)}</title></path>${dots}`;
  });
  const legend = series
    .map((s, i) => `<span class="key"><span class="swatch" style="background:${SERIES_COLOURS[i % SERIES_COLOURS.length]}"></span>${esc(s.node)}</span>`)
    .join(' ');
  return `<svg class="chart" viewBox="0 0 ${CHART.w} ${CHART.h}" role="img" aria-label="latency chart">${grid.join('')}${lines.join('')}</svg>
<p class="legend">${legend}</p>`;
}

function msLabel(v: number): string {
  if (v === 0) return '0';
  return v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}s` : `${Math.round(v)}ms`;
}

function incidentTable(m: StatusModel): string {
  if (m.incidents.length === 0) return '<p class="empty">No incidents in the last 30 days.</p>';
  const rows = m.incidents.map(
    (i) => `<tr><td>${esc(iso(i.start))}</td><td>${i.end === null ? '<b>ongoing</b>' : esc(formatDuration(incidentDuration(i, m.now)))}</td>
<td>${esc(i.node)}</td><td><span class="pill s-${esc(i.status)}">${esc(i.status)}</span></td><td>${esc(i.cause)}</td>
<td>${esc(i.trafficTo.join(' → ') || '-')}</td><td>${i.inMaintenance ? 'maintenance' : ''}</td></tr>`,
  );
  return `<table><thead><tr><th>Started</th><th>Duration</th><th>Node</th><th>Status</th><th>Cause</th><th>Traffic went to</th><th></th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
}

const CSS = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--text:#1f2430;--muted:#677083;--line:#e3e6eb}
@media (prefers-color-scheme:dark){:root{--bg:#14161b;--card:#1d2027;--text:#e6e8ec;--muted:#9aa2b1;--line:#2c313b}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:860px;padding:24px 16px;background:var(--bg);color:var(--text);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:22px;margin:0}h2{font-size:16px;margin:0 0 8px}small{color:var(--muted);font-weight:normal}
.meta,.model,.since,.why,footer,.summary,.empty{color:var(--muted);font-size:13px}
header{margin-bottom:12px}
.banner{padding:10px 14px;border-radius:8px;margin:8px 0;border:1px solid var(--line);background:var(--card)}
.banner.ok{border-left:5px solid #2f9e5b}.banner.warn{border-left:5px solid #e2b33c}.banner.bad{border-left:5px solid #d64545}
section{margin-top:18px}
.node,.latency,.incidents{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;margin-bottom:12px}
.node-head{display:flex;align-items:center;gap:10px;flex-wrap:wrap}.node-head h2{margin:0}
.tag{font-size:11px;font-weight:600;padding:1px 6px;border-radius:4px;background:#dbe7ff;color:#1e3a8a;vertical-align:middle}
.pill{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;color:#fff;text-transform:uppercase}
.s-up{background:#2f9e5b}.s-degraded{background:#d39b1f}.s-down{background:#d64545}.s-unknown{background:#8a93a3}
.model{margin:4px 0 8px}
.bars{display:block;width:100%;height:34px}
.summary{display:flex;justify-content:space-between;margin:4px 0 0}
.chart{display:block;width:100%;height:auto}
.chart .grid{stroke:var(--line);stroke-width:1}.chart .axis{fill:var(--muted);font-size:11px}
.chart .series{stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
.legend{margin:6px 0 0;font-size:13px}.key{margin-right:14px}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
table{width:100%;border-collapse:collapse;font-size:13px}th,td{text-align:left;padding:5px 6px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
footer{margin-top:18px;text-align:center}
`;
