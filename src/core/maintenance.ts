import type { MaintenanceView } from './alert-types';

/**
 * Which maintenance windows cover a moment. Pure: recurring windows come with a matcher (built from a cron
 * expression by src/alerts/cron.ts) so this file needs neither a clock nor node-cron.
 */

export const MINUTE_MS = 60_000;

export interface OneOffWindow {
  node: string;
  startsAt: number;
  endsAt: number;
  reason: string;
}

export interface RecurringWindow {
  node: string;
  duration: number;
  reason: string;
  /** True when the cron expression matches this whole minute (epoch ms). */
  startsAt(minute: number): boolean;
}

/**
 * The start of the recurring window that covers `at`: the latest matching minute in (at - duration, at].
 * Walks back minute by minute, so the duration is bounded by the config (at most a day).
 */
export function recurringStart(w: RecurringWindow, at: number): number | undefined {
  for (let m = Math.floor(at / MINUTE_MS) * MINUTE_MS; m > at - w.duration; m -= MINUTE_MS) {
    if (w.startsAt(m)) return m;
  }
  return undefined;
}

/**
 * Active windows by node. When several cover a node, the one ending last wins (its reason is shown).
 * `recurringStarts` may be given precomputed (the caller memoises per minute); by default it is computed.
 */
export function activeMaintenance(
  oneOff: ReadonlyArray<OneOffWindow>,
  recurring: ReadonlyArray<RecurringWindow>,
  at: number,
  recurringStarts: ReadonlyArray<number | undefined> = recurring.map((w) => recurringStart(w, at)),
): MaintenanceView {
  const out = new Map<string, { reason: string; until: number }>();
  const offer = (node: string, reason: string, until: number) => {
    const cur = out.get(node);
    if (!cur || until > cur.until) out.set(node, { reason, until });
  };
  for (const w of oneOff) if (w.startsAt <= at && at < w.endsAt) offer(w.node, w.reason, w.endsAt);
  recurring.forEach((w, i) => {
    const start = recurringStarts[i];
    // Checked again here: a start memoised earlier in the same minute may have run out since.
    if (start !== undefined && at < start + w.duration) offer(w.node, w.reason, start + w.duration);
  });
  return out;
}
