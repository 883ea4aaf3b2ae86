import { isTransitional } from './hysteresis';
import type { NodeRuntime } from './decide';

/**
 * Timing judgements the daemon's loops ask for: how soon to probe again, whether a probe straddled a sleep,
 * and how long without a finished probe means the monitor itself is stuck. Pure: numbers in, numbers out.
 */

export type LoopKind = 'liveness' | 'canary';

export interface Cadence {
  liveness: number;
  canary: number;
  /** The fast re-check interval while a track is between its first sample and fall/rise. */
  fast: number;
}

type Scheduled = Pick<NodeRuntime, 'reach' | 'gen' | 'speed'> & Partial<Pick<NodeRuntime, 'lastError' | 'lastCheckAt' | 'queue'>>;

/**
 * The node's latest probe met Cloudflare's rate limit (either loop's probe: both go through it). Latest by
 * start: a probe that started before the rate limit and ended after it (a canary waiting for a slot may run
 * 75 s) says nothing about it, so it does not lift the hold.
 */
export const rateLimited = (n: Scheduled | undefined): boolean =>
  n?.lastError?.reason === 'cloudflare_rate_limited' && typeof n.lastCheckAt === 'number' && n.lastCheckAt <= n.lastError.at;

/**
 * How long (ms) the node's probes must still wait out Cloudflare's rate limit: its `Retry-After`, counted from
 * the probe that met it. Cloudflare's error-1015 page: retrying within a short period "may extend the block",
 * so no probe goes out before then, neither the cadence, a client report, a suspect report nor a wake. At most
 * `Retry-After` from now, so a wall clock stepped backwards cannot stretch the hold.
 */
export function rateLimitHold(n: Scheduled | undefined, now: number): number {
  if (!rateLimited(n)) return 0;
  const e = n?.lastError;
  const wait = e?.retryAfterMs ?? 0;
  return e ? Math.min(wait, Math.max(0, e.at + wait - now)) : 0;
}

/**
 * A loop re-checks fast while the tracks it feeds are undecided (never into a Cloudflare rate limit):
 *   liveness: reachability is transitional;
 *   canary:   generation is, or speed is (once measured, and the node is not busy), or reachability is on its way up from unknown
 *             (a node that answers liveness but has never generated should be judged soon).
 */
export function wantsFastRecheck(n: Scheduled, kind: LoopKind): boolean {
  if (rateLimited(n)) return false;
  if (kind === 'liveness') return isTransitional(n.reach);
  // A busy node's speed is not re-checked fast: each re-check would only queue behind the apps' drafts again.
  const speedUndecided = n.speed.state !== 'unknown' && isTransitional(n.speed) && n.queue?.busy !== true;
  return isTransitional(n.gen) || speedUndecided || (n.reach.state === 'unknown' && isTransitional(n.reach));
}

/** The delay before a loop's next probe (jitter is the loop's own business). Unknown node: the normal cadence. */
export function nextProbeDelay(n: Scheduled | undefined, kind: LoopKind, c: Cadence): number {
  const normal = kind === 'liveness' ? c.liveness : c.canary;
  return n && wantsFastRecheck(n, kind) ? Math.min(c.fast, normal) : normal;
}

/** A probe whose wall-clock span exceeds its monotonic span by this much straddled a sleep or clock step. */
export const STRADDLE_MS = 2000;

/**
 * The probe spanned a sleep or a wall-clock step: its wall-clock end minus start exceeds the monotonic
 * duration it measured. Such a result is recorded but never judged (a Mac waking mid-probe is not an outage).
 */
export const spannedSleep = (r: { startedAt: number; durationMs: number }, endedAtWall: number): boolean => endedAtWall - r.startedAt - r.durationMs > STRADDLE_MS;

export interface HealthInput {
  /** Time since the last probe finished. */
  ageMs: number;
  stopping: boolean;
  staleAfter: number;
  liveness: { interval: number; timeout: number };
  jitter: number;
}

/**
 * Probing is current when a probe finished within `staleAfter`, or within one whole liveness cycle when
 * that is longer (interval stretched by jitter, plus the probe's own timeout, plus 5 s of slack), so a long
 * interval never makes /healthz flap. systemd's watchdog is fed only while this says ok.
 */
export function probingHealth(h: HealthInput): { ok: boolean; detail: string } {
  const limit = Math.max(h.staleAfter, h.liveness.interval * (1 + h.jitter) + h.liveness.timeout + 5_000);
  const ok = !h.stopping && h.ageMs <= limit;
  const seconds = Math.round(h.ageMs / 1000);
  return { ok, detail: ok ? `last probe ${seconds}s ago` : h.stopping ? 'stopping' : `no probe finished for ${seconds}s` };
}
