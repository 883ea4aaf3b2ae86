/**
 * The runner's generation slots, as Ollama has them (docs/simulator.md "Slots and queueing";
 * ../shared/reference/ollama-cloudflare.md section D):
 * - a loaded model serves `OLLAMA_NUM_PARALLEL` requests at once (default 1 since v0.9.7); every other request
 *   waits on a FIFO semaphore inside the server (`semaphore.NewWeighted(numParallel)`, llm/llama_server.go),
 *   with no limit on how many wait;
 * - the wait ends early only when the client disconnects: that request leaves the queue;
 * - the wait is after the model load, so it is in `total_duration` but not in `load_duration`,
 *   `prompt_eval_duration` or `eval_duration` (the runner's own timings start once a slot works on it);
 * - nothing is written before the first token, so a queued request shows no response header.
 * `parallel: 0` means no limit (the simulator's default, so tests that do not ask for slots see no queue).
 */
export class Slots {
  #parallel: number;
  #busy = 0;
  readonly #waiting: Array<() => void> = [];
  /** A hung runner: requests that hold a slot stop producing tokens until it is cleared. */
  #stalled = false;
  readonly #unstall = new Set<() => void>();

  constructor(parallel = 0) {
    this.#parallel = Slots.check(parallel);
  }

  static check(parallel: number): number {
    if (!Number.isInteger(parallel) || parallel < 0) throw new RangeError(`parallel must be a whole number >= 0 (0 = no limit), got ${parallel}`);
    return parallel;
  }

  get parallel(): number {
    return this.#parallel;
  }

  /** Requests generating now. */
  get running(): number {
    return this.#busy;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.#waiting.length;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /** Waits for a slot, first come first served. False when `signal` aborted first (the request left the queue). */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.#parallel === 0 || (this.#busy < this.#parallel && this.#waiting.length === 0)) {
      this.#busy++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', leave);
        this.#busy++;
        resolve(true);
      };
      const leave = (): void => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        resolve(false);
      };
      this.#waiting.push(grant);
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  release(): void {
    this.#busy = Math.max(0, this.#busy - 1);
    this.#pump();
  }

  /** Changes the number of slots at run time; waiting requests move up if slots were added. */
  setParallel(parallel: number): void {
    this.#parallel = Slots.check(parallel);
    this.#pump();
  }

  /**
   * A runner that stops producing tokens (hung behind a stuck request): every request holding a slot pauses
   * before its next token, keeping its slot, until cleared; liveness routes still answer.
   */
  setStalled(on: boolean): void {
    this.#stalled = on;
    if (!on) {
      for (const wake of this.#unstall) wake();
      this.#unstall.clear();
    }
  }

  /** Resolves once the runner is not stalled (at once when it is not), or when `signal` aborts. */
  whileStalled(signal: AbortSignal): Promise<void> {
    if (!this.#stalled || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.#unstall.delete(done);
        resolve();
      };
      this.#unstall.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  #pump(): void {
    while (this.#waiting.length > 0 && (this.#parallel === 0 || this.#busy < this.#parallel)) this.#waiting.shift()?.();
  }
}
