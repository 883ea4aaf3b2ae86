import {
  addValue,
  bucketBounds,
  bucketOf,
  countOf,
  decodeHistogram,
  encodeHistogram,
  HIST_MAX_INDEX,
  HIST_MIN,
  HIST_RELATIVE_ERROR,
  mergeInto,
  quantile,
  type Histogram,
} from '../../src/history/histogram';
import { mulberry32 } from '../../src/util/random';

/** Nearest-rank percentile of exact values: the definition the histogram approximates. */
function exact(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil(q * s.length))) - 1] as number;
}

const rng = mulberry32;

describe('histogram buckets', () => {
  test('every value falls inside the bounds of its bucket', () => {
    for (const v of [0.1, 0.1234, 1, 1.5, 42, 999.9, 1000, 12_345, 3_600_000]) {
      const [lo, hi] = bucketBounds(bucketOf(v));
      expect(v).toBeGreaterThanOrEqual(lo * (1 - 1e-12));
      expect(v).toBeLessThan(hi * (1 + 1e-12));
    }
  });

  test('tiny, zero, negative and NaN values go to bucket 0; huge ones to the last bucket', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(HIST_MIN / 2)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(1e15)).toBe(HIST_MAX_INDEX);
  });

  test('percentiles are within the documented relative error of the exact nearest-rank value', () => {
    const r = rng(7);
    // Log-normal-ish latencies from ~20 ms to ~20 s, the range TTFT lives in.
    const values = Array.from({ length: 5000 }, () => Math.exp(3 + r() * 7));
    const h: Histogram = new Map();
    for (const v of values) addValue(h, v);
    expect(countOf(h)).toBe(5000);
    for (const q of [0.01, 0.5, 0.9, 0.95, 0.99, 1]) {
      const est = quantile(h, q) as number;
      const truth = exact(values, q);
      expect(Math.abs(est - truth) / truth).toBeLessThanOrEqual(HIST_RELATIVE_ERROR + 1e-9);
    }
    expect(HIST_RELATIVE_ERROR).toBeLessThan(0.045);
  });

  test('an empty histogram has no percentile', () => {
    expect(quantile(new Map(), 0.5)).toBeNull();
  });

  test('merging adds counts exactly, so merged percentiles equal those of the union', () => {
    const r = rng(3);
    const a = Array.from({ length: 300 }, () => 50 + r() * 400);
    const b = Array.from({ length: 700 }, () => 900 + r() * 2000);
    const ha: Histogram = new Map();
    const hb: Histogram = new Map();
    const hAll: Histogram = new Map();
    a.forEach((v) => addValue(ha, v));
    b.forEach((v) => addValue(hb, v));
    [...a, ...b].forEach((v) => addValue(hAll, v));
    const merged = mergeInto(new Map(ha), hb);
    expect(merged).toEqual(hAll);
    expect(quantile(merged, 0.95)).toBe(quantile(hAll, 0.95));
  });

  test('encode/decode round-trips, empty encodes as null, garbage decodes as empty', () => {
    const h: Histogram = new Map();
    [12, 12.1, 480, 480, 9000].forEach((v) => addValue(h, v));
    const text = encodeHistogram(h) as string;
    expect(text).toMatch(/^\{"\d+":\d+(,"\d+":\d+)*\}$/);
    expect(decodeHistogram(text)).toEqual(h);
    expect(encodeHistogram(new Map())).toBeNull();
    expect(decodeHistogram('not json').size).toBe(0);
    expect(decodeHistogram('{"x":1,"3":-2,"4":2}')).toEqual(new Map([[4, 2]]));
  });
});
