import { formatDuration } from '../util/duration';
import type { Verdict } from './classify';

/** Why a probe's signal fired: the whole-probe deadline, the first-token deadline, or the caller cancelled. */
export type DeadlineKind = 'probe' | 'first_token' | 'cancelled';

/** The abort reason we hand to undici; the probe reads `Deadline.fired`, never this error's text. */
export class DeadlineExceeded extends Error {
  constructor(readonly kind: DeadlineKind) {
    super(`probe ${kind}`);
    this.name = kind === 'cancelled' ? 'AbortError' : 'TimeoutError';
  }
}

/**
 * One AbortSignal per probe that fires on the first of: the whole-probe deadline, any extra timers armed
 * later (the first-token deadline) and the caller's signal (daemon shutdown). Plain setTimeout timers are
 * used because undici's headersTimeout/bodyTimeout are only checked about once a second.
 *
 * The caller's signal is joined with add/removeEventListener instead of AbortSignal.any: the daemon's
 * shutdown signal lives for the whole process, and on Node 20 signals combined with any() stay attached
 * to it until garbage collection; removing our listener in dispose() leaves nothing behind.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #timers = new Map<DeadlineKind, { timer: NodeJS.Timeout; ms: number }>();
  readonly #external: AbortSignal | undefined;
  readonly #onExternal = (): void => this.#fire('cancelled');
  #fired: { kind: DeadlineKind; ms?: number } | undefined;

  constructor(totalMs: number, external?: AbortSignal) {
    this.#external = external;
    if (external?.aborted) {
      this.#fire('cancelled');
      return;
    }
    external?.addEventListener('abort', this.#onExternal, { once: true });
    this.arm('probe', totalMs);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get fired(): { kind: DeadlineKind; ms?: number } | undefined {
    return this.#fired;
  }

  /** Starts (or restarts) a named timer; when it runs out the signal fires with that kind. */
  arm(kind: Exclude<DeadlineKind, 'cancelled'>, ms: number): void {
    if (this.#fired) return;
    this.disarm(kind);
    const timer = setTimeout(() => this.#fire(kind, ms), ms);
    this.#timers.set(kind, { timer, ms });
  }

  disarm(kind: DeadlineKind): void {
    const t = this.#timers.get(kind);
    if (t) clearTimeout(t.timer);
    this.#timers.delete(kind);
  }

  /** The failure to report once the signal has fired, else undefined. */
  verdict(): Verdict | undefined {
    const f = this.#fired;
    if (!f) return undefined;
    if (f.kind === 'cancelled') return { reason: 'aborted', detail: 'probe cancelled by the monitor (shutting down)' };
    const limit = f.ms === undefined ? '' : ` within ${formatDuration(f.ms)}`;
    if (f.kind === 'first_token') return { reason: 'timeout', detail: `no first token${limit} (first-token deadline)` };
    return { reason: 'timeout', detail: `probe did not finish${limit} (deadline)` };
  }

  /** Clears every timer and detaches from the caller's signal. Safe to call twice. */
  dispose(): void {
    for (const kind of [...this.#timers.keys()]) this.disarm(kind);
    this.#external?.removeEventListener('abort', this.#onExternal);
  }

  #fire(kind: DeadlineKind, ms?: number): void {
    if (this.#fired) return;
    this.#fired = ms === undefined ? { kind } : { kind, ms };
    for (const k of [...this.#timers.keys()]) this.disarm(k);
    this.#controller.abort(new DeadlineExceeded(kind));
  }
}
