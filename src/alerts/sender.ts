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

/** initial × 2^(attempt-1), capped, ±20 % so several monitors that failed together do not retry in step. */
export function backoff(attempt: number, retry: Pick<RetryPolicy, 'initial' | 'max'>, random: () => number = Math.random): number {
  const base = Math.min(retry.max, retry.initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + JITTER * (random() * 2 - 1)));
}

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
    if (d.nextAttemptAt <= now) return { due: d };
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
 * Delivers the outbox in the background, one send at a time. It only reads and writes the database between
 * sends, so probing never waits on SMTP. A delivery is marked sent right after the server accepted it: a
 * crash in between re-sends that one message on the next start (same Message-ID).
 */
export class OutboxSender {
  #running: Promise<void> | null = null;
  #timer: NodeJS.Timeout | undefined;
  #inflight: AbortController | null = null;
  /** A kick arrived while a run was finishing: run once more, so a freshly queued row never waits for a timer. */
  #again = false;
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
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), 0);
    this.#timer.unref();
  }

  /** Delivers everything due now; resolves when nothing due is left (tests, `alert` commands). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#stopping) return;
    await this.#run();
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    const running = this.#running;
    if (running && !(await wait(running, STOP_GRACE_MS))) {
      this.deps.logger.warn('an alert is still being sent; aborting it (it stays queued and goes out after the restart)');
      this.#inflight?.abort();
      await wait(running, ABORT_GRACE_MS);
    }
    this.#detached = true;
  }

  #run(): Promise<void> {
    if (this.#running) return this.#running;
    this.#again = false;
    const run = this.#drain().finally(() => {
      this.#running = null;
      if (this.#again) this.kick();
    });
    this.#running = run;
    return run;
  }

  async #drain(): Promise<void> {
    const { outbox, clock, logger } = this.deps;
    let wakeAt: number | undefined;
    try {
      for (;;) {
        if (this.#stopping) return;
        const pick = pickDue(outbox.pendingDeliveries(), clock.now());
        if (!pick.due) {
          wakeAt = pick.wakeAt;
          return;
        }
        const gate = this.deps.gate?.(pick.due.alertId) ?? 'send';
        if (gate === 'wait') {
          wakeAt = clock.now() + GATE_WAIT_MS;
          return;
        }
        if (gate === 'held') continue;
        await this.#deliver(pick.due);
      }
    } catch (e) {
      // The database went away or a bug: keep the daemon alive, try again later.
      if (!this.#detached) logger.error({ err: e }, 'alert sender failed; retrying in a minute');
      wakeAt = clock.now() + MAX_SLEEP_MS;
    } finally {
      this.#arm(wakeAt);
    }
  }

  #arm(wakeAt: number | undefined): void {
    clearTimeout(this.#timer);
    if (this.#stopping || wakeAt === undefined) return;
    const delay = Math.min(MAX_SLEEP_MS, Math.max(50, wakeAt - this.deps.clock.now()));
    this.#timer = setTimeout(() => void this.#run(), delay);
    this.#timer.unref();
  }

  async #deliver(d: PendingDelivery): Promise<void> {
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
    const ac = new AbortController();
    this.#inflight = ac;
    const started = clock.mono();
    let outcome: { ok: true; response: string; rejected?: string[] } | { ok: false; permanent: boolean; error: string; response?: string };
    try {
      const res = await channel.send(msg, AbortSignal.any([ac.signal, AbortSignal.timeout(SEND_CAP_MS)]));
      outcome = { ok: true, response: res.response, rejected: res.rejected };
    } catch (e) {
      const ce = toChannelError(e);
      outcome = { ok: false, permanent: ce.permanent, error: ce.message, response: ce.response };
    } finally {
      this.#inflight = null;
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
    const retryAt = this.#stopping ? now : now + backoff(d.attempts + 1, retry, this.deps.random);
    outbox.recordAttempt({ ...base, outcome: 'transient', error: outcome.error, response: outcome.response, retryAt });
    log.warn({ ...ctx, error: outcome.error, response: outcome.response, retryInS: Math.round((retryAt - now) / 1000) }, 'alert delivery failed; will retry');
    this.deps.onReport?.({ alertId: d.alertId, channel: d.channel, outcome: 'transient', final: false, error: outcome.error, response: outcome.response, retryAt });
  }
}
