import type { Dispatcher } from 'undici';
import type { Config } from '../config';
import { everyNodeUnreachable, isUnreachable } from '../core/selfcheck';
import type { Logger } from '../logging';
import { probeExposure, type ExposureResult } from '../probes/exposure';
import type { ProbeResult } from '../probes/types';
import { anyWitnessUp } from '../probes/witness';
import type { Clock } from '../util/clock';
import { createDeadman, type Deadman } from './deadman';

/** A witness verdict is reused this long, so a burst of failures costs one round of witness checks. */
const WITNESS_CACHE_MS = 5_000;

/**
 * The monitor checking itself: is its own network up (witnesses), is anyone watching it (dead-man's switch),
 * is a node open to the internet without auth (exposure). Facts only; the daemon decides what follows.
 */
export class SelfChecks {
  #latest = new Map<string, ProbeResult>();
  #witness: { at: number; up: boolean; pending?: Promise<boolean> } | undefined;
  #deadman: Deadman | undefined;
  #cycle = new Set<string>();
  #exposureTimers: NodeJS.Timeout[] = [];
  #exposed = new Set<string>();

  constructor(
    private readonly deps: {
      config: Config;
      logger: Logger;
      clock: Clock;
      dispatcher: () => Dispatcher;
      onExposure(r: ExposureResult, changed: boolean): void;
      /** Nodes found exposed before a reload: an exposure still there is not news. */
      exposed?: ReadonlySet<string>;
    },
  ) {
    this.#exposed = new Set(deps.exposed ?? []);
    const url = deps.config.selfCheck.pingUrl;
    if (url) this.#deadman = createDeadman(url, { logger: deps.logger });
  }

  /** Remember a node's latest result; true when the monitor should suspect its own network (ask witnesses). */
  record(r: ProbeResult): boolean {
    this.#latest.set(r.node, r);
    return this.deps.config.selfCheck.witnesses.length > 0 && everyNodeUnreachable(this.deps.config.nodes.map((n) => n.name), this.#latest);
  }

  /** An unreachable failure while other nodes still look fine: worth probing those at once (witnesses set). */
  shouldCrossCheck(r: ProbeResult): boolean {
    return this.deps.config.selfCheck.witnesses.length > 0 && isUnreachable(r);
  }

  /** Is the monitor's own network up? Asked only when every node is unreachable at once. */
  async networkUp(): Promise<boolean> {
    const now = this.deps.clock.mono();
    const w = this.#witness;
    if (w?.pending) return w.pending;
    if (w && now - w.at < WITNESS_CACHE_MS) return w.up;
    const { witnesses, witnessTimeout } = this.deps.config.selfCheck;
    const pending = anyWitnessUp(witnesses, witnessTimeout, this.deps.dispatcher()).then(({ up, results }) => {
      this.#witness = { at: this.deps.clock.mono(), up };
      if (!up) this.deps.logger.warn({ witnesses: results.map((r) => `${r.target}: ${r.detail}`) }, 'every witness failed too');
      return up;
    });
    this.#witness = { at: now, up: w?.up ?? true, pending };
    return pending;
  }

  /** A liveness probe of every node finished since the last ping: the cycle is complete, ping the switch. */
  cycleDone(node: string, trouble: string | undefined): void {
    if (!this.#deadman) return;
    this.#cycle.add(node);
    if (this.deps.config.nodes.some((n) => !this.#cycle.has(n.name))) return;
    this.#cycle.clear();
    this.#deadman.ping(trouble === undefined, trouble ?? 'probe cycle complete');
  }

  startExposureChecks(): void {
    const { config, logger } = this.deps;
    for (const node of config.nodes.filter((n) => n.exposureCheck)) {
      const check = async () => {
        const r = await probeExposure(node, config.probes, { dispatcher: this.deps.dispatcher(), clock: this.deps.clock });
        if (!r.conclusive) {
          logger.debug({ node: node.name, detail: r.detail }, 'exposure check inconclusive');
          return;
        }
        const was = this.#exposed.has(node.name);
        if (r.exposed) this.#exposed.add(node.name);
        else this.#exposed.delete(node.name);
        if (r.exposed) this.deps.logger.error({ node: r.node, detail: r.detail }, `${r.node} is open to the internet without authentication`);
        else if (was) this.deps.logger.info({ node: r.node }, `${r.node} refuses unauthenticated requests again`);
        this.deps.onExposure(r, was !== r.exposed);
      };
      // First check shortly after start (not at once: the first seconds belong to the health probes).
      const first = setTimeout(() => void check(), Math.min(15_000, config.probes.exposureInterval));
      const every = setInterval(() => void check(), config.probes.exposureInterval);
      this.#exposureTimers.push(first, every);
    }
  }

  get exposedNodes(): ReadonlySet<string> {
    return this.#exposed;
  }

  async stop(): Promise<void> {
    for (const t of this.#exposureTimers) clearTimeout(t);
    this.#exposureTimers = [];
    await this.#deadman?.close();
  }
}
