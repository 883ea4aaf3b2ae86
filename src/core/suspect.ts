/**
 * Suspect reports (a client's "my request to this node is silent: look now") are cheap to send and may come
 * from many apps at once; each admitted one costs the node a liveness probe, two lines in Ollama's access log.
 * This pure rule caps that: at most one extra probe per node per `minGapMs` (monotonic ms), and never a
 * second one while the first is still running (its answer is the answer for every waiting request).
 *
 *   probe in flight | last suspect probe started | verdict
 *   ----------------+----------------------------+--------------------------------------------
 *   yes             | -                          | busy  (its result will be published anyway)
 *   no              | never                      | probe
 *   no              | < minGapMs ago             | limited
 *   no              | >= minGapMs ago            | probe
 *   no              | in the future (clock went  | probe (a monotonic clock should not, but a
 *                   |   backwards)               |   stuck limiter would silence a node for good)
 */
export const SUSPECT_MIN_GAP_MS = 1_000;
/** Attempts of a suspect probe before it publishes "no answer" (retries on fresh connections). */
export const SUSPECT_ATTEMPTS = 3;
/** A further attempt starts when the earlier ones have been silent this long (a healthy node answers in ms). */
export const SUSPECT_STAGGER_MS = 500;

/** The stagger for a liveness timeout: every attempt keeps most of the deadline (short timeouts in tests, benches). */
export function suspectStagger(livenessTimeoutMs: number, attempts = SUSPECT_ATTEMPTS): number {
  return Math.min(SUSPECT_STAGGER_MS, Math.floor(livenessTimeoutMs / (attempts + 1)));
}

export interface SuspectSlot {
  /** Monotonic ms when the last suspect probe of this node started. */
  lastStartedAt?: number;
  inFlight: boolean;
}

export type SuspectVerdict = 'probe' | 'busy' | 'limited';

export function admitSuspect(slot: SuspectSlot | undefined, mono: number, minGapMs = SUSPECT_MIN_GAP_MS): SuspectVerdict {
  if (!slot) return 'probe';
  if (slot.inFlight) return 'busy';
  const last = slot.lastStartedAt;
  if (last === undefined || mono < last || mono - last >= minGapMs) return 'probe';
  return 'limited';
}
