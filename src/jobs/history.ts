import { parseCron } from '../core/cron';
import { nodeCron } from '../config/cron';
import { scheduleLocal } from './local-schedule';
import type { Config } from '../config';
import type { Logger } from '../logging';
import type { Storage } from '../storage';
import type { History } from '../storage/history';
import type { Clock } from '../util/clock';
import { DAY_MS, floorTo, HOUR_MS } from '../history/intervals';
import { mergeRollups, rollupProbes } from '../history/rollup';

export interface HistoryJobDeps {
  storage: Pick<Storage, 'history' | 'coldEvents'>;
  config: Pick<Config, 'history' | 'probes'>;
  logger: Logger;
  clock: Clock;
}

export interface RunSummary {
  /** Wall time the run started (epoch ms). */
  startedAt: number;
  durationMs: number;
  hoursRolled: number;
  daysRolled: number;
  /** Every hour before this is in rollups_hourly (null: no probe yet). */
  hourlyThrough: number | null;
  dailyThrough: number | null;
  probesDeleted: number;
  hourlyDeleted: number;
  dailyDeleted: number;
  /** Pages incremental_vacuum gave back to the file system. */
  pagesFreed: number;
  /** stop() was called and the run ended early; the next run continues where it left off. */
  interrupted: boolean;
}

export interface HistoryJob {
  /** Schedules runOnce on config.history.schedule (node-cron, local time). */
  start(): void;
  /** Unschedules and waits for a run in progress to reach its next batch boundary. */
  stop(): Promise<void>;
  /** Rolls up, prunes and reclaims space now. Concurrent calls share one run. */
  runOnce(): Promise<RunSummary>;
}

/** Rows per DELETE: a few milliseconds of write lock, so a probe write waits at most that long. */
export const PRUNE_BATCH = 5000;
/** Pages (4 KiB) per incremental_vacuum step, for the same reason: moving a page costs a read and a write. */
const VACUUM_PAGES = 512;
/**
 * A probe row is written when the probe ends, up to its timeout after `started_at`: only hours older than
 * that (and at least 5 minutes) are complete enough to roll up.
 */
const MIN_SETTLE_MS = 5 * 60_000;

/** Gives the event loop a turn: a probe that finished meanwhile gets written and the next one scheduled. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function createHistoryJob(deps: HistoryJobDeps): HistoryJob {
  const { config, clock } = deps;
  const log = deps.logger.child({ component: 'history' });
  const history: History = deps.storage.history;
  const h = config.history;
  const settleMs = Math.max(MIN_SETTLE_MS, config.probes.canary.timeout + config.probes.liveness.timeout);
  let task: { start(): unknown; destroy(): unknown } | undefined;
  let inflight: Promise<RunSummary> | undefined;
  let stopping = false;

  async function rollHours(s: RunSummary, now: number): Promise<void> {
    const limit = floorTo(now - settleMs, HOUR_MS);
    let at = history.mark('hourly');
    if (at === undefined) {
      const first = history.nextProbeAt(Number.MIN_SAFE_INTEGER);
      if (first === undefined) return;
      at = floorTo(first, HOUR_MS);
    }
    while (at < limit && !stopping) {
      const next = history.nextProbeAt(at);
      // Nothing more to roll: move the mark anyway so retention may proceed past the empty stretch.
      if (next === undefined || next >= limit) {
        history.setMark('hourly', limit);
        at = limit;
        break;
      }
      const hour = floorTo(next, HOUR_MS);
      const rows = rollupProbes(history.probesBetween(hour, hour + HOUR_MS), hour, config.probes.canary.coldStart);
      history.transaction(() => {
        history.replaceRollups('hourly', hour, rows);
        history.setMark('hourly', hour + HOUR_MS);
      });
      s.hoursRolled++;
      at = hour + HOUR_MS;
      await yieldToLoop();
    }
    s.hourlyThrough = history.mark('hourly') ?? null;
  }

  async function rollDays(s: RunSummary): Promise<void> {
    const hourly = history.mark('hourly');
    if (hourly === undefined) return;
    const limit = floorTo(hourly, DAY_MS);
    let at = history.mark('daily');
    if (at === undefined) {
      const first = history.nextRollupAt('hourly', Number.MIN_SAFE_INTEGER);
      if (first === undefined) return;
      at = floorTo(first, DAY_MS);
    }
    while (at < limit && !stopping) {
      const next = history.nextRollupAt('hourly', at);
      if (next === undefined || next >= limit) {
        history.setMark('daily', limit);
        break;
      }
      const day = floorTo(next, DAY_MS);
      const rows = mergeRollups(history.rollupsBetween('hourly', day, day + DAY_MS), day);
      history.transaction(() => {
        history.replaceRollups('daily', day, rows);
        history.setMark('daily', day + DAY_MS);
      });
      s.daysRolled++;
      at = day + DAY_MS;
      await yieldToLoop();
    }
    s.dailyThrough = history.mark('daily') ?? null;
  }

  async function prune(s: RunSummary, now: number): Promise<void> {
    // Never past the rollup marks: a row is deleted only once it has been summarised.
    const hourly = history.mark('hourly');
    if (hourly !== undefined) {
      const cutoff = Math.min(now - h.keepRaw, hourly);
      while (!stopping) {
        const n = history.deleteProbesBefore(cutoff, PRUNE_BATCH);
        s.probesDeleted += n;
        if (n < PRUNE_BATCH) break;
        await yieldToLoop();
      }
    }
    const daily = history.mark('daily');
    if (h.keepHourly > 0 && daily !== undefined && !stopping) s.hourlyDeleted = history.deleteRollupsBefore('hourly', Math.min(now - h.keepHourly, daily));
    if (h.keepDaily > 0 && !stopping) s.dailyDeleted = history.deleteRollupsBefore('daily', now - h.keepDaily);
    // Keep-warm cold events are few (one per cold model) and the report counts them over any window: kept as long as daily rollups.
    if (h.keepDaily > 0 && !stopping) deps.storage.coldEvents.deleteBefore(now - h.keepDaily);
  }

  async function reclaim(s: RunSummary): Promise<void> {
    let free = history.freelistCount();
    while (free > 0 && !stopping) {
      history.incrementalVacuum(VACUUM_PAGES);
      const after = history.freelistCount();
      // auto_vacuum is off on a database created by a build older than 0001 set it: nothing to give back.
      if (after >= free) break;
      s.pagesFreed += free - after;
      free = after;
      await yieldToLoop();
    }
    history.checkpoint();
  }

  async function run(): Promise<RunSummary> {
    const started = clock.mono();
    const now = clock.now();
    const s: RunSummary = {
      startedAt: now,
      durationMs: 0,
      hoursRolled: 0,
      daysRolled: 0,
      hourlyThrough: history.mark('hourly') ?? null,
      dailyThrough: history.mark('daily') ?? null,
      probesDeleted: 0,
      hourlyDeleted: 0,
      dailyDeleted: 0,
      pagesFreed: 0,
      interrupted: false,
    };
    await rollHours(s, now);
    await rollDays(s);
    await prune(s, now);
    await reclaim(s);
    s.interrupted = stopping;
    s.durationMs = clock.mono() - started;
    log.info(s, 'history rollup and retention done');
    return s;
  }

  function runOnce(): Promise<RunSummary> {
    if (!inflight) {
      stopping = false;
      inflight = run().finally(() => {
        inflight = undefined;
      });
    }
    return inflight;
  }

  return {
    start(): void {
      if (task) return;
      stopping = false;
      const fire = () =>
        void runOnce().catch((err: unknown) => {
          log.error({ err }, 'history rollup failed; raw probes are kept until a run succeeds');
        });
      // A plain expression (the default among them) is scheduled without node-cron's Intl (core/cron.ts).
      const spec = parseCron(h.schedule);
      task = spec
        ? scheduleLocal(spec, clock, fire)
        : nodeCron().createTask(h.schedule, fire, {
          name: 'llm-sentinel-history',
          noOverlap: true,
            // A Mac that slept through the hour misses the slot; the next run catches up, so no warning.
            suppressMissedWarning: true,
            logger: {
              info: (m) => log.debug(m),
              warn: (m) => log.warn(m),
              error: (m, err) => log.error({ err }, String(m)),
              debug: (m) => log.debug(String(m)),
            },
          });
      void Promise.resolve(task.start()).catch((err: unknown) => log.error({ err }, 'could not schedule the history job'));
    },
    async stop(): Promise<void> {
      stopping = true;
      const t = task;
      task = undefined;
      if (t) await Promise.resolve(t.destroy());
      await inflight?.catch(() => undefined);
    },
    runOnce,
  };
}
