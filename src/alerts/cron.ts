import { nodeCron } from '../config/cron';

export interface CronMatcher {
  /** True when the expression matches this moment (read in the matcher's time zone). */
  matches(epochMs: number): boolean;
  /** The next match after the real current time (for `maintenance list`). */
  nextFromNow(): number | undefined;
  /** Unregisters the task from node-cron's registry. */
  dispose(): void;
}

/**
 * node-cron 4 has no public "does this expression match that instant" function; an unstarted task does
 * (`match`, with the time zone applied). The task is never started, so it schedules nothing, but node-cron
 * registers it globally: dispose() removes it.
 */
export function compileCron(expression: string, timezone?: string): CronMatcher {
  const task = nodeCron().createTask(expression, () => undefined, timezone ? { timezone } : {});
  return {
    matches: (ms) => task.match(new Date(ms)),
    nextFromNow: () => task.getNextRuns(1)[0]?.getTime(),
    dispose: () => void task.destroy(),
  };
}
