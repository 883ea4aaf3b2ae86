/**
 * HAProxy-style fall/rise counting for one signal (reachability, generation, speed).
 * A track starts `unknown`; it becomes `ok` after `rise` consecutive good samples and `failing` after `fall`
 * consecutive bad ones. A single opposite sample only starts a streak: one blip never flips a track.
 */
export type TrackState = 'unknown' | 'ok' | 'failing';

export interface Track {
  state: TrackState;
  /** Consecutive good samples (reset by a bad one). */
  okStreak: number;
  /** Consecutive bad samples (reset by a good one). */
  failStreak: number;
}

export const newTrack = (state: TrackState = 'unknown'): Track => ({ state, okStreak: 0, failStreak: 0 });

export function applySample(t: Track, good: boolean, fall: number, rise: number): Track {
  const okStreak = good ? t.okStreak + 1 : 0;
  const failStreak = good ? 0 : t.failStreak + 1;
  let state = t.state;
  if (good && state !== 'ok' && okStreak >= rise) state = 'ok';
  if (!good && state !== 'failing' && failStreak >= fall) state = 'failing';
  return { state, okStreak, failStreak };
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
