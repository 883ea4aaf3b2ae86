import { nextCronMatch, type CronSpec } from '../core/cron';
import type { Clock } from '../util/clock';

/** Waits are cut into pieces of at most this, so a clock step or a sleep is noticed within the hour. */
const MAX_WAIT_MS = 60 * 60_000;

/**
 * Runs `fire` at each local time `spec` matches (see core/cron for why not node-cron). A Mac that slept
 * through a slot runs once on waking, as node-cron does; a run is never repeated for the same slot.
 */
export function scheduleLocal(spec: CronSpec, clock: Clock, fire: () => void): { start(): void; destroy(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;
  const arm = (from: number): void => {
    const next = nextCronMatch(spec, from);
    if (next === undefined || stopped) return;
    const tick = (): void => {
      if (stopped) return;
      const now = clock.now();
      // Woke before the slot (a piece of a long wait, or the clock went back): wait again.
      if (now < next - 1_000) {
        timer = setTimeout(tick, Math.min(next - now, MAX_WAIT_MS));
        timer.unref();
        return;
      }
      fire();
      arm(Math.max(now, next));
    };
    timer = setTimeout(tick, Math.min(Math.max(0, next - clock.now()), MAX_WAIT_MS));
    // The daemon's own loops keep the process alive; a job waiting for its hour must not on its own.
    timer.unref();
  };
  return {
    start() {
      if (!stopped) return;
      stopped = false;
      arm(clock.now());
    },
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
