import type { Config } from '../config';
import type { MaintenanceView } from '../core/alert-types';
import { activeMaintenance, MINUTE_MS, recurringStart, type RecurringWindow } from '../core/maintenance';
import type { MaintenanceStore } from '../storage/maintenance';
import { compileCron, type CronMatcher } from './cron';

/** Recurring windows from the config (compiled once) plus one-off windows from the database. */
export class MaintenanceCalendar {
  readonly #store: MaintenanceStore;
  readonly #matchers: CronMatcher[];
  readonly #recurring: RecurringWindow[];
  /** Per recurring window: the start found in a given minute. Walking back a day is ~10 ms; once a minute is plenty. */
  #memo: Array<{ minute: number; start: number | undefined } | undefined> = [];

  constructor(store: MaintenanceStore, recurring: Config['maintenance']['recurring']) {
    this.#store = store;
    this.#matchers = recurring.map((w) => compileCron(w.cron, w.timezone));
    this.#recurring = recurring.map((w, i) => {
      const m = this.#matchers[i] as CronMatcher;
      return { node: w.node, duration: w.duration, reason: w.reason, startsAt: (minute: number) => m.matches(minute) };
    });
  }

  /** Windows active at `at`, by node. Reads the database (one-off windows may be added by the CLI at any time). */
  at(at: number): MaintenanceView {
    const minute = Math.floor(at / MINUTE_MS);
    const starts = this.#recurring.map((w, i) => {
      const memo = this.#memo[i];
      if (memo && memo.minute === minute) return memo.start;
      const start = recurringStart(w, at);
      this.#memo[i] = { minute, start };
      return start;
    });
    return activeMaintenance(this.#store.activeAt(at), this.#recurring, at, starts);
  }

  dispose(): void {
    for (const m of this.#matchers) m.dispose();
  }
}
