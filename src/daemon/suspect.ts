import { admitSuspect, type SuspectSlot, type SuspectVerdict } from '../core/suspect';

export interface SuspectProberOptions {
  mono(): number;
  /** Runs one suspect probe of `node` (a configured node) and hands its result on. */
  run(node: string, signal: AbortSignal): Promise<void>;
  /** A run that throws is a bug in the daemon, never a node failure. */
  onError(err: unknown, node: string): void;
  minGapMs?: number;
}

/**
 * Carries out admitSuspect: one immediate liveness probe per admitted suspect report, run beside the node's
 * cadence loop (not through it), so a cadence probe already waiting out its timeout does not delay it.
 */
export class SuspectProber {
  #slots = new Map<string, SuspectSlot>();
  #running = new Set<Promise<void>>();
  #abort = new AbortController();
  #stopped = false;

  constructor(private readonly opts: SuspectProberOptions) {}

  suspect(node: string): SuspectVerdict {
    if (this.#stopped) return 'busy';
    const now = this.opts.mono();
    const slot = this.#slots.get(node);
    const v = admitSuspect(slot, now, this.opts.minGapMs);
    if (v !== 'probe') return v;
    const s: SuspectSlot = { lastStartedAt: now, inFlight: true };
    this.#slots.set(node, s);
    const p = Promise.resolve()
      .then(() => this.opts.run(node, this.#abort.signal))
      .catch((e: unknown) => this.opts.onError(e, node))
      .finally(() => {
        s.inFlight = false;
        this.#running.delete(p);
      });
    this.#running.add(p);
    return v;
  }

  /** Aborts the probes in flight and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    await Promise.allSettled([...this.#running]);
  }
}
