import type { Clock } from '../util/clock';

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  /** Spends one token for `key`; says how long to wait when there is none. */
  take(key: string): Take;
}

/**
 * A token bucket per key: up to `perMinute` at once, refilled at perMinute/60 per second. Measured on the
 * monotonic clock, so a wall-clock jump (a Mac waking up, an NTP step) neither empties nor floods it.
 * Keys are validated node names, so the map stays small; `maxKeys` is a guard should a caller forget that.
 */
export function createRateLimiter(opts: { perMinute: number; clock: Clock; maxKeys?: number }): RateLimiter {
  if (!(opts.perMinute > 0)) throw new RangeError(`perMinute must be positive, got ${opts.perMinute}`);
  const capacity = opts.perMinute;
  const perMs = opts.perMinute / 60_000;
  const maxKeys = opts.maxKeys ?? 1024;
  const buckets = new Map<string, { tokens: number; at: number }>();

  return {
    take(key) {
      const now = opts.clock.mono();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (!oldest.done) buckets.delete(oldest.value);
        }
        b = { tokens: capacity, at: now };
        buckets.set(key, b);
      }
      b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.at) * perMs);
      b.at = now;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / perMs) };
    },
  };
}
