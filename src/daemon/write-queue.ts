import type { Logger } from '../logging';

/**
 * The daemon's database writes, in order, retried until they land. A write that fails (another process
 * holds the lock, the disk is full) stays queued and is retried at the next write or heartbeat, so a
 * backup holding the database for a minute delays rows instead of losing them, and the probe loop never
 * waits longer than one short busy timeout. Bounded: past `max` entries the oldest droppable ones (probe
 * rows) go first; state changes and alerts are never dropped.
 */
export interface QueuedWrite {
  what: string;
  /** Probe rows may be dropped under pressure; transitions and their alerts may not. */
  droppable: boolean;
  run(): void;
}

export class WriteQueue {
  #queue: QueuedWrite[] = [];
  #failing: string | undefined;
  #dropped = 0;
  #retryAt = 0;

  /**
   * @param retryEveryMs while writes fail, new writes only queue up and a retry is made at most this often
   *   (each try may wait out the busy timeout on the main thread: retrying on every probe result would
   *   keep the thread blocked and make in-flight probes miss their deadlines).
   */
  constructor(
    private readonly logger: Logger,
    private readonly mono: () => number,
    private readonly max = 10_000,
    private readonly retryEveryMs = 1_000,
  ) {}

  /** The current failure (error code) while writes are failing, else undefined. */
  get failing(): string | undefined {
    return this.#failing;
  }
  get length(): number {
    return this.#queue.length;
  }

  push(w: QueuedWrite): void {
    this.#queue.push(w);
    if (this.#queue.length > this.max) {
      const i = this.#queue.findIndex((q) => q.droppable);
      if (i >= 0) {
        this.#queue.splice(i, 1);
        this.#dropped++;
      }
    }
    if (this.#failing === undefined || this.mono() >= this.#retryAt) this.flush();
  }

  /** Runs queued writes in order until one fails; returns true when the queue is empty. */
  flush(): boolean {
    while (this.#queue.length > 0) {
      const w = this.#queue[0] as QueuedWrite;
      try {
        w.run();
      } catch (e) {
        const code = (e as { code?: string }).code ?? (e as Error).message;
        if (code !== this.#failing) {
          this.logger.error({ err: e, what: w.what, queued: this.#queue.length }, 'database write failed; it stays queued and is retried');
        }
        this.#failing = code;
        this.#retryAt = this.mono() + this.retryEveryMs;
        return false;
      }
      this.#queue.shift();
    }
    if (this.#failing !== undefined) {
      this.logger.warn({ dropped: this.#dropped }, `database writable again; queued writes are in${this.#dropped ? `, ${this.#dropped} probe rows were dropped to bound memory` : ''}`);
      this.#failing = undefined;
      this.#dropped = 0;
    }
    return true;
  }
}
