import type { Clock } from '../util/clock';

export interface ClockJump {
  kind: 'sleep' | 'clock_back';
  /** Wall time before the jump (last tick). */
  from: number;
  /** Wall time after the jump (this tick). */
  to: number;
  /** How far the wall clock moved beyond (or behind) the monotonic clock. */
  deltaMs: number;
}

/**
 * Watches the wall clock against the monotonic one. The monotonic clock (performance.now: mach_absolute_time
 * on macOS, CLOCK_MONOTONIC on Linux) does not advance while the host sleeps, the wall clock does: a
 * forward gap is a sleep (or an NTP step forward), a backward one is the clock being set back.
 */
export function watchClock(clock: Clock, onJump: (j: ClockJump) => void, opts: { tickMs?: number; thresholdMs?: number } = {}): () => void {
  const tick = opts.tickMs ?? 1000;
  const threshold = opts.thresholdMs ?? 5000;
  let lastWall = clock.now();
  let lastMono = clock.mono();
  const timer = setInterval(() => {
    const wall = clock.now();
    const mono = clock.mono();
    const drift = wall - lastWall - (mono - lastMono);
    if (drift > threshold) onJump({ kind: 'sleep', from: lastWall, to: wall, deltaMs: drift });
    else if (drift < -threshold) onJump({ kind: 'clock_back', from: lastWall, to: wall, deltaMs: drift });
    lastWall = wall;
    lastMono = mono;
  }, tick);
  return () => clearInterval(timer);
}
