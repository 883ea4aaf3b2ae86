/** Half-open time intervals [from, to) in epoch ms, and the monitor's own observed time built from them. */
export interface Interval {
  from: number;
  to: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Periods are UTC: epoch ms are UTC already, so flooring needs no time-zone table. */
export const floorTo = (t: number, step: number): number => Math.floor(t / step) * step;
export const ceilTo = (t: number, step: number): number => Math.ceil(t / step) * step;

/** Sorted, non-empty, non-overlapping; touching intervals are joined. */
export function normalize(ivs: readonly Interval[]): Interval[] {
  const sorted = ivs.filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv.from <= last.to) last.to = Math.max(last.to, iv.to);
    else out.push({ from: iv.from, to: iv.to });
  }
  return out;
}

export function clip(ivs: readonly Interval[], from: number, to: number): Interval[] {
  const out: Interval[] = [];
  for (const iv of ivs) {
    const f = Math.max(iv.from, from);
    const t = Math.min(iv.to, to);
    if (t > f) out.push({ from: f, to: t });
  }
  return out;
}

/** Both inputs normalized; result normalized. */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Interval;
    const y = b[j] as Interval;
    const f = Math.max(x.from, y.from);
    const t = Math.min(x.to, y.to);
    if (t > f) out.push({ from: f, to: t });
    if (x.to < y.to) i++;
    else j++;
  }
  return out;
}

/** a minus b; both normalized. */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const iv of a) {
    let cur = iv.from;
    while (j < b.length && (b[j] as Interval).to <= cur) j++;
    let k = j;
    while (k < b.length && (b[k] as Interval).from < iv.to) {
      const cut = b[k] as Interval;
      if (cut.from > cur) out.push({ from: cur, to: cut.from });
      cur = Math.max(cur, cut.to);
      k++;
    }
    if (cur < iv.to) out.push({ from: cur, to: iv.to });
  }
  return out;
}

export function totalMs(ivs: readonly Interval[]): number {
  let n = 0;
  for (const iv of ivs) n += iv.to - iv.from;
  return n;
}

/** One lifetime of the monitor (a row of `runs`). */
export interface RunSpan {
  startedAt: number;
  lastSeenAt: number;
  /** null while running, or after a crash not yet noticed by the next start. */
  endedAt: number | null;
  /** false: it crashed or was killed (closed at its last heartbeat); null: still open. */
  cleanExit?: boolean | null;
}

/**
 * A stretch inside a run when the monitor was not really watching: the host slept ('sleep'), or its own
 * network was down so nothing was judged ('offline'); or the wall clock was set back ('clock_back').
 */
export interface GapSpan {
  kind: string;
  from: number;
  to: number;
}

/**
 * The time the monitor really watched, within [from, to). A run covers [started_at, ended_at]; a run that
 * has not ended (still running, or crashed and not yet closed) only up to its last heartbeat, never beyond
 * what it proved. Every forward gap is cut out, whatever its kind: asleep or offline, nothing was checked.
 * A clock_back gap goes backwards (from > to) and hides nothing: its wall time is counted once, like any other.
 */
export function observedIntervals(runs: readonly RunSpan[], gaps: readonly GapSpan[], from: number, to: number): Interval[] {
  const covered = normalize(clip(runs.map((r) => ({ from: r.startedAt, to: r.endedAt ?? r.lastSeenAt })), from, to));
  return subtract(covered, gapIntervals(gaps, from, to));
}

/** Forward gaps (of one kind, or all) as normalized intervals within [from, to). */
export function gapIntervals(gaps: readonly GapSpan[], from: number, to: number, kind?: string): Interval[] {
  return normalize(clip(gaps.filter((g) => g.to > g.from && (kind === undefined || g.kind === kind)).map((g) => ({ from: g.from, to: g.to })), from, to));
}

/** Percent with three decimals (a 30-day month is 43 200 minutes: 0.001 % ≈ 26 s), or null for 0/0. */
export function percent(part: number, whole: number): number | null {
  if (!(whole > 0)) return null;
  return Math.round((part / whole) * 100_000) / 1000;
}
