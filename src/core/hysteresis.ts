/**
 * HAProxy-style fall/rise counting for one signal (reachability, generation, speed).
 * A track starts `unknown`; it becomes `ok` after `rise` consecutive good samples and `failing` after `fall`
 * consecutive bad ones, or `softFall` when all of them are ambiguous. A single opposite sample only starts a
 * streak: one blip never flips a track.
 *
 * Why two thresholds: a refused connection or Cloudflare's 1033 is not noise, it persists; a timeout or a
 * 5xx happens at random on a healthy node. With i.i.d. 5 % failures, three in a row happen once in ~8,000
 * samples (a false failover a day at a 10 s cadence), four in a row once in ~160,000.
 */
export type TrackState = 'unknown' | 'ok' | 'failing';

export interface Track {
  state: TrackState;
  /** The current bad streak holds at least one unambiguous failure (so `fall`, not `softFall`, applies). */
  hardInStreak: boolean;
  /** Consecutive good samples (reset by a bad one). */
  okStreak: number;
  /** Consecutive bad samples (reset by a good one). */
  failStreak: number;
}

export const newTrack = (state: TrackState = 'unknown'): Track => ({ state, okStreak: 0, failStreak: 0, hardInStreak: false });

/** A sample: good, an unambiguous failure (refused, tunnel down), or an ambiguous one (a timeout, a 5xx). */
export type Sample = 'ok' | 'hard' | 'soft';

export interface Thresholds {
  fall: number;
  /** Bad samples needed when every one of them is ambiguous (a blip until proven otherwise). */
  softFall: number;
  rise: number;
}

export function applySample(t: Track, sample: Sample, th: Thresholds): Track {
  const good = sample === 'ok';
  const okStreak = good ? t.okStreak + 1 : 0;
  const failStreak = good ? 0 : t.failStreak + 1;
  const hardInStreak = !good && (t.hardInStreak || sample === 'hard');
  let state = t.state;
  if (good && state !== 'ok' && okStreak >= th.rise) state = 'ok';
  if (!good && state !== 'failing' && failStreak >= (hardInStreak ? th.fall : th.softFall)) state = 'failing';
  return { state, okStreak, failStreak, hardInStreak };
}

/**
 * Transitional = the track may be about to change, so it deserves a fast re-check:
 *   unknown                      → yes (resolve it quickly at start-up)
 *   ok      with a bad streak    → yes (between first failure and `fall`)
 *   failing with a good streak   → yes (between first success and `rise`)
 *   otherwise                    → no
 */
export function isTransitional(t: Track): boolean {
  return t.state === 'unknown' || (t.state === 'ok' && t.failStreak > 0) || (t.state === 'failing' && t.okStreak > 0);
}
