/**
 * Fixed log-scale histograms for latencies (ms) and tokens/s. Fixed buckets, unlike t-digest or HDR
 * sketches, merge by adding counts, so an hour, a day or a year of rollups combine exactly, and the stored
 * form is a short sparse JSON object.
 *
 * Bucket 0 holds values below MIN; bucket i ≥ 1 holds [MIN·B^(i-1), MIN·B^i) with B = 2^(1/8). A percentile
 * is reported as the bucket's geometric midpoint, so it is within B^(1/2) − 1 ≈ 4.4 % of the exact value.
 * 8 steps per doubling keeps that error below what a person reading "p95 1.2 s" cares about, while a
 * typical hour of canaries touches only a dozen buckets.
 */
export type Histogram = Map<number, number>;

export const HIST_MIN = 0.1;
const STEPS_PER_DOUBLING = 8;
/** 0.1 · 2^30 ≈ 1.07e8: 30 hours in ms, far beyond any probe timeout; larger values land in the last bucket. */
export const HIST_MAX_INDEX = 30 * STEPS_PER_DOUBLING + 1;
/** Largest relative error of a percentile read from a histogram (for values ≥ HIST_MIN). */
export const HIST_RELATIVE_ERROR = 2 ** (1 / (2 * STEPS_PER_DOUBLING)) - 1;

export function bucketOf(value: number): number {
  if (!(value >= HIST_MIN)) return 0; // also NaN and negatives
  const i = 1 + Math.floor(Math.log2(value / HIST_MIN) * STEPS_PER_DOUBLING);
  return Math.min(i, HIST_MAX_INDEX);
}

/** [low, high) of a bucket; bucket 0 is [0, MIN). */
export function bucketBounds(i: number): [number, number] {
  if (i <= 0) return [0, HIST_MIN];
  return [HIST_MIN * 2 ** ((i - 1) / STEPS_PER_DOUBLING), HIST_MIN * 2 ** (i / STEPS_PER_DOUBLING)];
}

/** The value a bucket stands for: its geometric midpoint (half of MIN for bucket 0). */
export function bucketValue(i: number): number {
  if (i <= 0) return HIST_MIN / 2;
  return HIST_MIN * 2 ** ((i - 0.5) / STEPS_PER_DOUBLING);
}

export function addValue(h: Histogram, value: number, n = 1): void {
  const i = bucketOf(value);
  h.set(i, (h.get(i) ?? 0) + n);
}

export function mergeInto(target: Histogram, source: Histogram): Histogram {
  for (const [i, n] of source) target.set(i, (target.get(i) ?? 0) + n);
  return target;
}

export function countOf(h: Histogram): number {
  let n = 0;
  for (const c of h.values()) n += c;
  return n;
}

/**
 * Nearest-rank percentile (q in 0..1): the value of the ceil(q·n)-th smallest sample, read from its bucket.
 * null for an empty histogram.
 */
export function quantile(h: Histogram, q: number): number | null {
  const n = countOf(h);
  if (n === 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  let seen = 0;
  for (const i of [...h.keys()].sort((a, b) => a - b)) {
    seen += h.get(i) ?? 0;
    if (seen >= rank) return bucketValue(i);
  }
  return bucketValue(HIST_MAX_INDEX);
}

/** Sparse JSON {"index": count}, keys ascending; null when empty (stored as SQL NULL). */
export function encodeHistogram(h: Histogram): string | null {
  const keys = [...h.keys()].filter((k) => (h.get(k) ?? 0) > 0).sort((a, b) => a - b);
  if (keys.length === 0) return null;
  return `{${keys.map((k) => `"${k}":${h.get(k)}`).join(',')}}`;
}

/** Reads what encodeHistogram wrote; anything malformed reads as empty rather than failing a report. */
export function decodeHistogram(text: string | null | undefined): Histogram {
  const h: Histogram = new Map();
  if (!text) return h;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return h;
  }
  if (typeof parsed !== 'object' || parsed === null) return h;
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || typeof v !== 'number' || !(v > 0)) continue;
    const j = Math.min(i, HIST_MAX_INDEX);
    h.set(j, (h.get(j) ?? 0) + v);
  }
  return h;
}
