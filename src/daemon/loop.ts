/**
 * One probe cadence: a node's liveness or canary loop. Plain timers rather than node-cron: the cadence is
 * sub-minute, differs per node and changes at run time (fast re-check while a node is transitional), which
 * a cron expression cannot say. node-cron is kept for calendar jobs.
 *
 * Never overlaps itself: the next run starts `delay` after the previous START (so a fast re-check does not
 * also wait out the previous probe's timeout), but never before the previous run has finished.
 */
export interface LoopOptions {
  /** Delay before the next run, asked after each run (the daemon answers fast or normal interval). */
  nextDelay(): number;
  /** Fraction of random spread around the delay (0.1 = ±10 %), so nodes and kinds do not probe in lockstep. */
  jitter: number;
  run(signal: AbortSignal): Promise<void>;
  mono(): number;
  random?: () => number;
  /** A run that throws is a bug in the daemon, never a node failure: it is reported here, and the loop goes on. */
  onError?(err: unknown): void;
}

export class ProbeLoop {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #stopped = true;
  #again = false;

  constructor(private readonly opts: LoopOptions) {}

  start(initialDelayMs = 0): void {
    this.#stopped = false;
    this.#schedule(initialDelayMs);
  }

  /** Run as soon as possible (a client report, a wake from sleep). If a run is in flight, run again right after it. */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Stops scheduling and aborts the run in flight; resolves when that run has returned. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    await this.#running;
  }

  #schedule(delay: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, Math.max(0, delay));
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#running) return;
    const started = this.opts.mono();
    this.#abort = new AbortController();
    this.#running = this.opts.run(this.#abort.signal).catch((e: unknown) => this.opts.onError?.(e));
    await this.#running;
    this.#running = undefined;
    this.#abort = undefined;
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      this.#schedule(0);
      return;
    }
    const base = this.opts.nextDelay();
    const r = this.opts.random ?? Math.random;
    const delay = base * (1 + this.opts.jitter * (r() * 2 - 1));
    const elapsed = this.opts.mono() - started;
    this.#schedule(delay - elapsed);
  }
}
