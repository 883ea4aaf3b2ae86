import { incidentsIn, type Incident } from '../history/incidents';
import { DAY_MS, floorTo, percent } from '../history/intervals';
import { observe } from './observe';
import { breakdown, judgedMs, servingMs } from '../history/timeline';
import type { PublishedState, PublishedStatus } from '../state/types';
import type { History } from '../storage/history';

export interface DayBar {
  /** Start of the UTC day. */
  day: number;
  /** null: the monitor never had a verdict on the node that day (drawn grey). */
  uptime: number | null;
  coverage: number | null;
  downMs: number;
  degradedMs: number;
}

export interface StatusNode {
  name: string;
  model: string | null;
  status: PublishedStatus;
  statusReason: string;
  since: number | null;
  preferred: boolean;
  days: DayBar[];
  uptime: number | null;
  coverage: number | null;
  /** The last working canary waited for a generation slot (state file `queue`): serving others, not sick. */
  busy: { waitMs: number | null } | null;
}

export interface LatencySeries {
  node: string;
  /** One point per slot that had samples: the slot's median. */
  points: Array<{ at: number; ms: number }>;
}

export interface StatusModel {
  now: number;
  instance: string | null;
  version: string | null;
  /** ms since the published state was written; null when there is none. */
  stateAgeMs: number | null;
  /** The monitor stopped writing its state: what the page shows is its last view. */
  stale: boolean;
  preferred: string | null;
  allDown: boolean;
  /** The monitor's own network is down: statuses are frozen, not judged. */
  monitorOffline: boolean;
  nodes: StatusNode[];
  /** With peers (one voice): every monitor, this one first; who is heard, how long ago, who speaks. */
  peers?: ReadonlyArray<{ name: string; heard: boolean; ageSeconds: number | null; speaks: boolean; problem: string | null; lastError: string | null }>;
  latency: { metric: 'ttft' | 'liveness'; from: number; to: number; slotMs: number; series: LatencySeries[] };
  /** Newest first. */
  incidents: Incident[];
  days: number;
  refreshSeconds: number;
}

export interface StatusModelOptions {
  days?: number;
  incidents?: number;
  refreshSeconds?: number;
}

const LATENCY_WINDOW_MS = DAY_MS;
const SLOT_MS = 15 * 60_000;
/** Incidents listed: the last few weeks is what someone opening the page wants to see. */
const INCIDENT_WINDOW_MS = 30 * DAY_MS;

/**
 * Everything the status page shows, from the published state (who is preferred, each node's status now) and
 * the history (90 daily bars, the last 24 hours of latency, recent incidents). Day bars are UTC days.
 */
export function buildStatusModel(history: History, publishedState: PublishedState | undefined, now: number, opts: StatusModelOptions = {}): StatusModel {
  const dayCount = opts.days ?? 90;
  const firstDay = floorTo(now, DAY_MS) - (dayCount - 1) * DAY_MS;
  const ps = publishedState;
  const names = ps ? ps.nodes.map((n) => n.name) : history.nodeNames();
  const obs = observe(history, names, firstDay, now, now);

  const nodes = names.map((name): StatusNode => {
    const o = obs.nodes.get(name);
    const pn = ps?.nodes.find((n) => n.name === name);
    const days: DayBar[] = [];
    for (let i = 0; i < dayCount; i++) {
      const d = firstDay + i * DAY_MS;
      const b = breakdown(o?.segments ?? [], obs.observed, o?.maintenance ?? [], d, Math.min(d + DAY_MS, now));
      days.push({ day: d, uptime: percent(servingMs(b), judgedMs(b)), coverage: percent(judgedMs(b), b.wallMs), downMs: b.downMs, degradedMs: b.degradedMs });
    }
    const all = breakdown(o?.segments ?? [], obs.observed, o?.maintenance ?? [], firstDay, now);
    return {
      name,
      model: pn?.model ?? null,
      status: pn?.status ?? 'unknown',
      statusReason: pn?.statusReason ?? 'no state published',
      since: pn ? Date.parse(pn.since) : null,
      preferred: ps?.preferred.name === name,
      days,
      uptime: percent(servingMs(all), judgedMs(all)),
      coverage: percent(judgedMs(all), all.wallMs),
      busy: pn?.queue?.busy ? { waitMs: pn.queue.waitMs } : null,
    };
  });

  const incidents = names
    .flatMap((n) => incidentsIn(obs.nodes.get(n)?.incidents ?? [], now - INCIDENT_WINDOW_MS, now, now))
    .sort((a, b) => b.start - a.start)
    .slice(0, opts.incidents ?? 10);

  const updatedAt = ps ? Date.parse(ps.updatedAt) : NaN;
  const stateAgeMs = Number.isFinite(updatedAt) ? now - updatedAt : null;
  return {
    now,
    instance: ps?.monitor.instance ?? null,
    version: ps?.monitor.version ?? null,
    stateAgeMs,
    stale: ps !== undefined && stateAgeMs !== null && stateAgeMs > ps.staleAfterMs,
    preferred: ps?.preferred.name ?? null,
    allDown: ps?.allDown ?? false,
    monitorOffline: ps?.monitorOffline === true,
    nodes,
    latency: latencySeries(history, names, now),
    incidents,
    days: dayCount,
    refreshSeconds: opts.refreshSeconds ?? 30,
  };
}

/** Median canary TTFT per 15 minutes; liveness probe time when no canary produced a token (canary off). */
function latencySeries(history: History, names: readonly string[], now: number): StatusModel['latency'] {
  const from = now - LATENCY_WINDOW_MS;
  const probes = history.probesBetween(from, now).filter((p) => p.ok && names.includes(p.node));
  const metric: 'ttft' | 'liveness' = probes.some((p) => p.kind === 'canary' && p.ttftMs !== null) ? 'ttft' : 'liveness';
  const slots = new Map<string, number[]>();
  for (const p of probes) {
    const v = metric === 'ttft' ? (p.kind === 'canary' ? p.ttftMs : null) : p.kind === 'liveness' ? p.durationMs : null;
    if (v === null || !Number.isFinite(v)) continue;
    const key = `${p.node}\u0000${floorTo(p.startedAt - from, SLOT_MS)}`;
    const list = slots.get(key);
    if (list) list.push(v);
    else slots.set(key, [v]);
  }
  const series = names.map((node): LatencySeries => {
    const points: LatencySeries['points'] = [];
    for (let offset = 0; offset < LATENCY_WINDOW_MS; offset += SLOT_MS) {
      const values = slots.get(`${node}\u0000${offset}`);
      if (values) points.push({ at: from + offset + SLOT_MS / 2, ms: median(values) });
    }
    return { node, points };
  });
  return { metric, from, to: now, slotMs: SLOT_MS, series };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
