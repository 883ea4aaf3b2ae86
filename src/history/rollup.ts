import { WAITED_MS } from '../core/busy';
import { addValue, mergeInto, quantile, type Histogram } from './histogram';

/** The probe facts a rollup needs (a row of `probes`, minus what is only kept for debugging). */
export interface RawProbe {
  node: string;
  kind: string;
  startedAt: number;
  ok: boolean;
  reason: string;
  durationMs: number;
  ttftMs: number | null;
  totalMs: number | null;
  tokensPerSec: number | null;
  loadMs: number | null;
  evalCount: number | null;
  /** Why the canary's model was not in memory (migrations/0007); null: judged by load time alone. */
  loadCause?: string | null;
  /** Canary: the measured wait for a generation slot (null: not measured). */
  queueMs?: number | null;
}

/** One node, one probe kind, one period (an hour, a day, or a whole report window). */
export interface Rollup {
  /** Start of the period (epoch ms). */
  at: number;
  node: string;
  kind: string;
  checks: number;
  ok: number;
  failures: Record<string, number>;
  /** Canary time to first token, ok probes only. */
  ttft: Histogram;
  /** Canary whole generation, or the liveness probe's whole duration; ok probes only. */
  total: Histogram;
  /** Canary tokens per second, ok probes only. */
  tps: Histogram;
  coldStarts: number;
  evalTokens: number;
  /** Canary wait for a generation slot, ok canaries with a measured wait only (its count: how many). */
  queue: Histogram;
  /** Of those, how many waited WAITED_MS or more. */
  waited: number;
}

export function emptyRollup(at: number, node: string, kind: string): Rollup {
  return { at, node, kind, checks: 0, ok: 0, failures: {}, ttft: new Map(), total: new Map(), tps: new Map(), coldStarts: 0, evalTokens: 0, queue: new Map(), waited: 0 };
}

const finite = (v: number | null): v is number => v !== null && Number.isFinite(v);

export function addProbe(r: Rollup, p: RawProbe, coldStartMs: number): void {
  r.checks++;
  if (p.ok) {
    r.ok++;
    // A failed probe's duration is its timeout or its error path, not how fast the node answers.
    if (p.kind === 'canary') {
      if (finite(p.ttftMs)) addValue(r.ttft, p.ttftMs);
      const total = finite(p.totalMs) ? p.totalMs : p.durationMs;
      if (finite(total)) addValue(r.total, total);
      if (finite(p.tokensPerSec)) addValue(r.tps, p.tokensPerSec);
      if (p.queueMs !== undefined && finite(p.queueMs) && p.queueMs >= 0) {
        addValue(r.queue, p.queueMs);
        if (p.queueMs >= WAITED_MS) r.waited++;
      }
    } else if (finite(p.durationMs)) {
      addValue(r.total, p.durationMs);
    }
  } else {
    r.failures[p.reason] = (r.failures[p.reason] ?? 0) + 1;
  }
  // Counted like the daemon's coldStarts counter (src/daemon/daemon.ts): successful canaries only.
  // A first load, or one after the monitor's own or an app's eviction, is not a cold start (core/residency).
  if (p.ok && p.kind === 'canary' && finite(p.loadMs) && p.loadMs > coldStartMs && (p.loadCause ?? 'cold') === 'cold') r.coldStarts++;
  if (finite(p.evalCount) && p.evalCount > 0) r.evalTokens += p.evalCount;
}

export function mergeRollup(into: Rollup, r: Rollup): Rollup {
  into.checks += r.checks;
  into.ok += r.ok;
  for (const [reason, n] of Object.entries(r.failures)) into.failures[reason] = (into.failures[reason] ?? 0) + n;
  mergeInto(into.ttft, r.ttft);
  mergeInto(into.total, r.total);
  mergeInto(into.tps, r.tps);
  into.coldStarts += r.coldStarts;
  into.evalTokens += r.evalTokens;
  mergeInto(into.queue, r.queue);
  into.waited += r.waited;
  return into;
}

const key = (node: string, kind: string): string => `${node}\u0000${kind}`;

/** Groups probes (all in one period) by node and kind. Sorted by node, then kind, for stable output. */
export function rollupProbes(probes: Iterable<RawProbe>, at: number, coldStartMs: number): Rollup[] {
  const byKey = new Map<string, Rollup>();
  for (const p of probes) {
    const k = key(p.node, p.kind);
    let r = byKey.get(k);
    if (!r) byKey.set(k, (r = emptyRollup(at, p.node, p.kind)));
    addProbe(r, p, coldStartMs);
  }
  return sorted([...byKey.values()]);
}

/** Merges rollups of shorter periods into one per node and kind, starting at `at`. */
export function mergeRollups(rows: Iterable<Rollup>, at: number): Rollup[] {
  const byKey = new Map<string, Rollup>();
  for (const r of rows) {
    const k = key(r.node, r.kind);
    let m = byKey.get(k);
    if (!m) byKey.set(k, (m = emptyRollup(at, r.node, r.kind)));
    mergeRollup(m, r);
  }
  return sorted([...byKey.values()]);
}

function sorted(rows: Rollup[]): Rollup[] {
  return rows.sort((a, b) => (a.node === b.node ? (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) : a.node < b.node ? -1 : 1));
}

/** Percentiles of a histogram in one go; nulls when it is empty. */
export function percentiles<Q extends string>(h: Histogram, qs: Record<Q, number>): Record<Q, number | null> {
  const out = {} as Record<Q, number | null>;
  for (const [name, q] of Object.entries(qs) as Array<[Q, number]>) out[name] = quantile(h, q);
  return out;
}
