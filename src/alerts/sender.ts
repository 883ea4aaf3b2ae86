import type { Logger } from '../logging';
import type { AttemptOutcome, Outbox, PendingDelivery, StoredAlert } from '../storage/outbox';
import type { Clock } from '../util/clock';
import { formatDuration } from '../util/duration';
import { toChannelError, type AlertMessage, type Channel } from './channel';

export interface RetryPolicy {
  initial: number;
  max: number;
  /** A delivery failing transiently this long after its alert was written is given up. */
  giveUpAfter: number;
}

export interface DeliveryReport {
  alertId: number;
  channel: string;
  outcome: AttemptOutcome;
  /** Set when the delivery is finished for good (sent, or failed without further retries). */
  final: boolean;
  response?: string;
  error?: string;
  retryAt?: number;
}

export interface SenderDeps {
  outbox: Outbox;
  channels: ReadonlyArray<Channel>;
  logger: Logger;
  clock: Clock;
  retry: RetryPolicy;
  render: (alert: StoredAlert) => AlertMessage;
  random?: () => number;
  onReport?: (r: DeliveryReport) => void;
  /**
   * One voice (peers configured): asked just before a delivery. `wait`: nothing goes out yet (peers not
   * heard from since start); `hold`: another monitor sent it, so it is marked held and never sent from here.
   */
  gate?: (alertId: number) => 'send' | 'wait' | 'held';
}

/** While the gate says wait, look again this often. */
const GATE_WAIT_MS = 500;

/** Longest a single send may take whatever the channel's own timeouts say. */
const SEND_CAP_MS = 120_000;
/** The timer re-checks at least this often, so a clock that jumped is noticed. */
const MAX_SLEEP_MS = 60_000;
const STOP_GRACE_MS = 1500;
const ABORT_GRACE_MS = 400;
const JITTER = 0.2;
/** Least wait after a 429, even one whose Retry-After says 0. */
const RETRY_AFTER_FLOOR_MS = 1000;

/** initial × 2^(attempt-1), capped, ±20 % so several monitors that failed together do not retry in step. */
export function backoff(attempt: number, retry: Pick<RetryPolicy, 'initial' | 'max'>, random: () => number = Math.random): number {
  const base = Math.min(retry.max, retry.initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + JITTER * (random() * 2 - 1)));
}

/**
 * A delivery is due at its `nextAttemptAt` (wall clock, so it survives a restart), or, never tried yet, at once
 * when its alert was created after `now`: the wall clock stepped back since it was queued (an NTP step, a restart
 * under a clock that is behind), and waiting for the clock to catch up would hold an outage mail for as long as
 * the step. Only untried ones: a retry's backoff is kept (a failure under the stepped clock must not make a
 * busy loop). A retry scheduled before the step still waits up to the step; a peer's takeover covers it.
 */
export const isDue = (d: Pick<PendingDelivery, 'nextAttemptAt' | 'createdAt' | 'attempts'>, now: number): boolean =>
  d.nextAttemptAt <= now || (d.attempts === 0 && d.createdAt > now);

/**
 * The head of each (node, channel) queue: deliveries go out in alert order per node and channel, so a
 * recovery never arrives before its outage mail. Returns the first head that is due and the earliest wake-up.
 */
export function pickDue(pending: ReadonlyArray<PendingDelivery>, now: number): { due?: PendingDelivery; wakeAt?: number } {
  const seen = new Set<string>();
  let wakeAt: number | undefined;
  for (const d of pending) {
    const key = `${d.node}\u0000${d.channel}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (isDue(d, now)) return { due: d };
    wakeAt = wakeAt === undefined ? d.nextAttemptAt : Math.min(wakeAt, d.nextAttemptAt);
  }
  return { wakeAt };
}

function wait(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}

/**
 * Which deliveries to start now: the head of each (node, channel) queue that is due, at most one per channel,
 * none on a channel that is still busy with a send (its end starts the next). Each channel runs on its own,
 * so one that hangs until its timeout never holds up the others.
 */
export function pickStartable(pending: ReadonlyArray<PendingDelivery>, now: number, busy: ReadonlySet<string>): { start: PendingDelivery[]; wakeAt?: number } {
  const seen = new Set<string>();
  const taken = new Set<string>();
  const start: PendingDelivery[] = [];
  let wakeAt: number | undefined;
  for (const d of pending) {
    const key = `${d.node}\u0000${d.channel}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (busy.has(d.channel) || taken.has(d.channel)) continue;
    if (isDue(d, now)) {
      taken.add(d.channel);
      start.push(d);
    } else wakeAt = wakeAt === undefined ? d.nextAttemptAt : Math.min(wakeAt, d.nextAttemptAt);
  }
  return { start, wakeAt };
}

function settled(ps: Iterable<Promise<unknown>>): Promise<void> {
  return Promise.allSettled([...ps]).then(() => undefined);
}

/**
 * Delivers the outbox in the background, one send at a time per channel, channels side by side. It only
 * reads and writes the database between sends, so probing never waits on a channel. A delivery is marked
 * sent right after the server accepted it: a crash in between re-sends that one message on the next start
 * (same Message-ID).
 */
export class OutboxSender {
  #timer: NodeJS.Timeout | undefined;
  /** Sends in flight, by channel. */
  readonly #inflight = new Map<string, { ac: AbortController; done: Promise<void> }>();
  #started = false;
  #stopping = false;
  /** After stop(): a send that finishes late must not touch the (closed) database. */
  #detached = false;

  constructor(private readonly deps: SenderDeps) {}

  start(): void {
    this.#started = true;
    this.kick();
  }

  /** Something was queued or became due: deliver soon (never synchronously: the caller may hold a transaction). */
  kick(): void {
    if (!this.#started || this.#stopping) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#schedule(), 0);
    this.#timer.unref();
  }

  /** Delivers everything due now; resolves when nothing due is left and nothing is in flight (tests, `alert` commands). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#stopping) return;
      this.#schedule();
      if (this.#inflight.size === 0) return;
      await settled([...this.#inflight.values()].map((f) => f.done));
    }
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    const running = [...this.#inflight.values()];
    if (running.length > 0 && !(await wait(settled(running.map((f) => f.done)), STOP_GRACE_MS))) {
      this.deps.logger.warn('an alert is still being sent; aborting it (it stays queued and goes out after the restart)');
      for (const f of running) f.ac.abort();
      await wait(settled(running.map((f) => f.done)), ABORT_GRACE_MS);
    }
    this.#detached = true;
  }

  /** Starts every delivery that can start now and arms the timer for the next one due. */
  #schedule(): void {
    if (this.#stopping || this.#detached) return;
    const { outbox, clock, logger } = this.deps;
    let wakeAt: number | undefined;
    try {
      // Re-pick after the gate holds an alert (it leaves the queue, so the next one in its channel may start).
      for (let round = 0; round < 100 && !this.#stopping; round++) {
        const pick = pickStartable(outbox.pendingDeliveries(), clock.now(), new Set(this.#inflight.keys()));
        wakeAt = pick.wakeAt;
        let held = false;
        for (const d of pick.start) {
          const gate = this.deps.gate?.(d.alertId) ?? 'send';
          if (gate === 'wait') wakeAt = Math.min(wakeAt ?? Infinity, clock.now() + GATE_WAIT_MS);
          else if (gate === 'held') held = true;
          else this.#launch(d);
        }
        if (!held) break;
      }
    } catch (e) {
      // The database went away or a bug: keep the daemon alive, try again later.
      if (!this.#detached) logger.error({ err: e }, 'alert sender failed; retrying in a minute');
      wakeAt = clock.now() + MAX_SLEEP_MS;
    }
    this.#arm(wakeAt);
  }

  #launch(d: PendingDelivery): void {
    const ac = new AbortController();
    const done = this.#deliver(d, ac)
      .catch((e: unknown) => {
        if (!this.#detached) this.deps.logger.error({ err: e, alertId: d.alertId, channel: d.channel }, 'alert delivery could not be recorded; retrying in a minute');
        this.#arm(this.deps.clock.now() + MAX_SLEEP_MS);
      })
      .finally(() => {
        this.#inflight.delete(d.channel);
        this.kick();
      });
    this.#inflight.set(d.channel, { ac, done });
  }

  #arm(wakeAt: number | undefined): void {
    clearTimeout(this.#timer);
    if (this.#stopping || wakeAt === undefined) return;
    const delay = Math.min(MAX_SLEEP_MS, Math.max(50, wakeAt - this.deps.clock.now()));
    this.#timer = setTimeout(() => this.#schedule(), delay);
    this.#timer.unref();
  }

  async #deliver(d: PendingDelivery, ac: AbortController): Promise<void> {
    const { outbox, clock, logger, retry } = this.deps;
    const alert = outbox.getAlert(d.alertId);
    const channel = this.deps.channels.find((c) => c.name === d.channel);
    const log = logger.child({ alertId: d.alertId, channel: d.channel, node: d.node });
    const at = clock.now();
    if (!alert || !channel) {
      const error = !alert ? 'alert row missing' : `channel ${d.channel} is no longer configured`;
      outbox.recordAttempt({ alertId: d.alertId, channel: d.channel, at, outcome: 'permanent', durationMs: 0, error });
      log.error({ error }, 'alert delivery dropped');
      this.deps.onReport?.({ alertId: d.alertId, channel: d.channel, outcome: 'permanent', final: true, error });
      return;
    }
    const msg = this.deps.render(alert);
    const started = clock.mono();
    let outcome: { ok: true; response: string; rejected?: string[] } | { ok: false; permanent: boolean; error: string; response?: string; retryAfterMs?: number };
    try {
      const res = await channel.send(msg, AbortSignal.any([ac.signal, AbortSignal.timeout(SEND_CAP_MS)]));
      outcome = { ok: true, response: res.response, rejected: res.rejected };
    } catch (e) {
      const ce = toChannelError(e);
      outcome = { ok: false, permanent: ce.permanent, error: ce.message, response: ce.response, retryAfterMs: ce.retryAfterMs };
    }
    if (this.#detached) return;
    const durationMs = clock.mono() - started;
    const now = clock.now();
    const base = { alertId: d.alertId, channel: d.channel, at: now, durationMs };
    const ctx = { kind: alert.kind, attempt: d.attempts + 1 };

    if (outcome.ok) {
      const response = outcome.rejected ? `${outcome.response} (refused for: ${outcome.rejected.join(', ')})` : outcome.response;
      outbox.recordAttempt({ ...base, outcome: 'sent', response });
      if (outcome.rejected) log.warn({ ...ctx, rejected: outcome.rejected, response }, 'alert sent, but the server refused some recipients (check alerts.email.to)');
      else log.info({ ...ctx, response }, 'alert sent');
      this.deps.onReport?.({ alertId: d.alertId, channel: d.channel, outcome: 'sent', final: true, response });
      return;
    }
    const expired = now - alert.createdAt >= retry.giveUpAfter;
    if (outcome.permanent || expired) {
      const error = expired && !outcome.permanent ? `${outcome.error} (gave up: still failing ${formatDuration(now - alert.createdAt)} after the alert)` : outcome.error;
      outbox.recordAttempt({ ...base, outcome: outcome.permanent ? 'permanent' : 'transient', error, response: outcome.response });
      log.error({ ...ctx, error, response: outcome.response }, `ALERT NOT DELIVERED and not retried: ${error}`);
      this.deps.onReport?.({ alertId: d.alertId, channel: d.channel, outcome: outcome.permanent ? 'permanent' : 'transient', final: true, error, response: outcome.response });
      return;
    }
    // Aborted by our own stop: due again at once after the restart instead of after a backoff.
    // A server that said when to come back (429 Retry-After) is believed, with a floor against a busy loop.
    const wait = outcome.retryAfterMs !== undefined ? Math.max(RETRY_AFTER_FLOOR_MS, outcome.retryAfterMs) : backoff(d.attempts + 1, retry, this.deps.random);
    const retryAt = this.#stopping ? now : now + wait;
    outbox.recordAttempt({ ...base, outcome: 'transient', error: outcome.error, response: outcome.response, retryAt });
    log.warn({ ...ctx, error: outcome.error, response: outcome.response, retryInS: Math.round((retryAt - now) / 1000) }, 'alert delivery failed; will retry');
    this.deps.onReport?.({ alertId: d.alertId, channel: d.channel, outcome: 'transient', final: false, error: outcome.error, response: outcome.response, retryAt });
  }
}
