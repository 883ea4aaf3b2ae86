import type { Config, NodeConfig } from '../config';
import type { Logger } from '../logging';
import { keepWarm, type WarmthLoad } from '../probes/keep-warm';
import type { Dispatcher } from 'undici';
import type { Clock } from '../util/clock';
import type { NodeKnowledge } from './knowledge';

export interface NodeWarmth {
  /** Cold events since the monitor started: an app model found unloaded and loaded again. */
  coldEvents: number;
  lastColdEvent: { model: string; at: number } | null;
}

/**
 * Keeps the apps' models (nodes[].models) loaded: after each successful liveness probe, one keep-warm pass
 * (src/probes/keep-warm.ts). Servers without Ollama's load API (llama.cpp, vLLM, other OpenAI-compatible
 * ones) are skipped; `check` says so.
 */
export class Warmth {
  readonly #nodes = new Map<string, NodeWarmth>();
  /** Passes in flight, one per node at most: a cold load may take longer than a liveness interval. */
  readonly #running = new Map<string, Promise<void>>();
  #abort = new AbortController();

  constructor(
    private readonly deps: {
      config: () => Config;
      clock: Clock;
      logger: Logger;
      dispatcher: () => Dispatcher;
      /** Records one load (a cold_events row, through the daemon's write queue). */
      record: (node: string, load: WarmthLoad, at: number) => void;
      onLoad: (node: string, load: WarmthLoad) => void;
    },
  ) {}

  get(name: string): NodeWarmth {
    return this.#nodes.get(name) ?? { coldEvents: 0, lastColdEvent: null };
  }

  /** Whether the node's server has Ollama's load API. */
  static applies(node: NodeConfig, server: NodeKnowledge): boolean {
    return node.api === 'ollama' ? server.flavor !== 'unknown' : server.flavor === 'ollama' || server.flavor === 'ollama-legacy';
  }

  /**
   * Starts a pass beside the liveness loop (a cold load of a big model can take longer than the loop may
   * stall without looking stuck), unless one is still running for the node. `onDone` hears whether it loaded anything.
   */
  kick(node: NodeConfig, server: NodeKnowledge, onDone: (loaded: boolean) => void): void {
    if (this.#running.has(node.name) || this.#abort.signal.aborted) return;
    const run = this.run(node, server, this.#abort.signal)
      .then(onDone)
      .catch((e: unknown) => this.deps.logger.error({ err: e, node: node.name }, 'internal error in keep-warm; it goes on'))
      .finally(() => this.#running.delete(node.name));
    this.#running.set(node.name, run);
  }

  /** Aborts passes in flight and waits for them (stop, reload); later kicks start afresh. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#running.values());
    this.#abort = new AbortController();
  }

  /** One pass; returns true when it loaded something. */
  async run(node: NodeConfig, server: NodeKnowledge, signal: AbortSignal): Promise<boolean> {
    if (node.models.length === 0 || !Warmth.applies(node, server)) return false;
    const c = this.deps.config();
    const l = c.probes.liveness;
    // Until the next look, with its jitter, plus one timeout of slack.
    const marginMs = l.interval * (1 + c.probes.jitter) + l.timeout + c.probes.canary.timeout;
    const result = await keepWarm(node, c.probes, { signal, clock: this.deps.clock, dispatcher: this.deps.dispatcher() }, { now: this.deps.clock.now(), marginMs });
    if (signal.aborted) return false;
    const log = this.deps.logger.child({ node: node.name });
    for (const load of result.loads) {
      const at = this.deps.clock.now();
      this.deps.record(node.name, load, at);
      if (load.why === 'not_loaded' && load.ok) {
        const prev = this.get(node.name);
        this.#nodes.set(node.name, { coldEvents: prev.coldEvents + 1, lastColdEvent: { model: load.model, at } });
        log.warn({ model: load.model, loadMs: load.loadMs }, `cold model: ${load.model} had been unloaded; loaded it again before an app needed it`);
      } else if (!load.ok) {
        log.warn({ model: load.model, detail: load.detail }, `keep-warm could not load ${load.model}`);
      } else {
        log.debug({ model: load.model }, `keep-warm refreshed ${load.model}`);
      }
      this.deps.onLoad(node.name, load);
    }
    return result.loads.length > 0;
  }
}
