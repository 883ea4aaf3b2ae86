import { keepAliveMs, type Config, type NodeConfig } from '../config';
import { canaryModel, claimLoad, emptyMemory, loadCause, modelKey, observe, planKeepWarm, touchOwn, type LoadCause, type Memory, type MemoryEvent, type PsModel, type WarmPlan } from '../core/residency';
import type { Logger } from '../logging';
import { isFailure, type ProbeRun } from '../probes/http';
import { loadModel, parsePs, parseTags, readListing, withNode, type WarmthLoad } from '../probes/keep-warm';
import type { Dispatcher } from 'undici';
import type { Clock } from '../util/clock';
import type { ProbeResult } from '../probes/types';
import type { NodeMemoryState } from '../state/types';
import type { NodeKnowledge } from './knowledge';

export interface NodeWarmth {
  /** Cold events since the monitor started: an app model found unloaded and loaded again. */
  coldEvents: number;
  lastColdEvent: { model: string; at: number } | null;
  /** Loads of a model not seen in memory since the monitor started (not cold starts). */
  firstLoads: number;
  /** The model the last canary generated with (the configured one, or one the apps have resident). */
  canaryModel: string | null;
  /** Two listed models seen evicting each other; keep-warm keeps `keeping` only. */
  conflict: { models: [string, string]; keeping: string } | null;
  /** Listed models the node does not have installed (never loaded). */
  notInstalled: string[];
  /** Evictions the monitor's own loads caused, and those that hit a model apps use (the goal: 0). */
  monitorEvictions: number;
  appModelsEvicted: number;
  /** Evictions apps caused by switching models (not cold starts of the node). */
  appSwitches: number;
}

/** Ollama's keep_alive for a request that sends none (envconfig OLLAMA_KEEP_ALIVE's default). */
const OLLAMA_DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;

const EMPTY: NodeWarmth = { coldEvents: 0, lastColdEvent: null, firstLoads: 0, canaryModel: null, conflict: null, notInstalled: [], monitorEvictions: 0, appModelsEvicted: 0, appSwitches: 0 };

/** What the canary is about to run on, for afterCanary. */
export interface CanaryPick {
  node: NodeConfig;
  /** Set when the model was not resident: the canary loads it, for this reason. */
  loads?: LoadCause;
  /** The canary's own load (false: keep-warm's load of it was already under way). */
  claimed?: boolean;
  /**
   * The look just before the canary saw its model in memory: whatever load_duration the canary reports is
   * Ollama's scheduling wait (a runner draining, another model loading) or a reload its options asked for,
   * never a cold start of the node (reference section D: load_duration includes the scheduler's queue).
   */
  resident?: true;
}

/**
 * Keeps the apps' models (nodes[].models) loaded and chooses the canary's model, without ever fighting the
 * apps for memory (the rule: src/core/residency.ts, docs/keep-warm.md). After each successful liveness probe,
 * one keep-warm pass; before each canary, one look at /api/ps. Servers without Ollama's load API (llama.cpp,
 * vLLM, other OpenAI-compatible ones) are skipped; `check` says so. This class only moves facts.
 */
export class Warmth {
  readonly #nodes = new Map<string, NodeWarmth>();
  readonly #memory = new Map<string, Memory>();
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
    return this.#nodes.get(name) ?? EMPTY;
  }

  /** What the state file publishes for the node (nodes[].coldEvents, lastColdEvent, memory). */
  published(name: string): { coldEvents: number; lastColdEvent: { model: string; at: number } | null; memory: NodeMemoryState } {
    const w = this.get(name);
    const { coldEvents, lastColdEvent, ...memory } = w;
    return { coldEvents, lastColdEvent, memory };
  }

  #set(name: string, patch: Partial<NodeWarmth>): void {
    this.#nodes.set(name, { ...this.get(name), ...patch });
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

  /** Aborts passes in flight and waits for them (stop, reload); later kicks start afresh, knowing nothing. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#running.values());
    this.#abort = new AbortController();
    this.#memory.clear();
    for (const [name, w] of this.#nodes) this.#nodes.set(name, { ...w, conflict: null, notInstalled: [], canaryModel: null });
  }

  #ctx(signal: AbortSignal) {
    return { signal, clock: this.deps.clock, dispatcher: this.deps.dispatcher() };
  }

  /**
   * Until when the monitor's own request keeps the model: its keep_alive (keep-warm's loads and the canary on
   * `api: ollama` send probes.canary.keepAlive). A canary on an `api: openai` node sends none (like the apps'
   * /v1 requests): Ollama's default applies, 5 minutes unless OLLAMA_KEEP_ALIVE says otherwise. A claim longer
   * than the server keeps the model would hide an app's use of it (observe), and a model apps use would look
   * like the monitor's own to evict; a shorter one only hands the model to the apps early (guarded).
   */
  #keepAliveUntil(now: number, sendsKeepAlive = true): number {
    const c = this.deps.config().probes.canary;
    return now + (sendsKeepAlive ? keepAliveMs(c.keepAlive) : OLLAMA_DEFAULT_KEEP_ALIVE_MS) + c.timeout;
  }

  /** One bounded look; true when /api/ps answered (memory is current). */
  async #lookOnly(node: NodeConfig, signal: AbortSignal): Promise<boolean> {
    const p = this.deps.config().probes;
    let seen = false;
    await withNode(node, p, this.#ctx(signal), async (run) => void (seen = (await this.#look(node, run)) !== undefined), p.liveness.timeout);
    return seen;
  }

  /** One look at /api/ps: updates what the monitor knows of the node's memory; undefined when unreadable. */
  async #look(node: NodeConfig, run: ProbeRun): Promise<PsModel[] | undefined> {
    const ps = await readListing(run, '/api/ps', parsePs);
    if (isFailure(ps)) return undefined;
    const { memory, events } = observe(this.#memory.get(node.name) ?? emptyMemory(), ps, this.deps.clock.now());
    this.#memory.set(node.name, memory);
    for (const e of events) this.#onEvent(node.name, e);
    return ps;
  }

  #onEvent(name: string, e: MemoryEvent): void {
    const log = this.deps.logger.child({ node: name });
    const w = this.get(name);
    if (e.type === 'room_grew') {
      log.info({ models: e.models }, `${e.models[0]} and ${e.models[1]} are in memory together now: they fit after all`);
      if (w.conflict && e.models.every((m) => w.conflict?.models.some((c) => modelKey(c) === m))) this.#set(name, { conflict: null });
    } else if (e.by === 'monitor') {
      this.#set(name, { monitorEvictions: w.monitorEvictions + e.evicted.length, appModelsEvicted: w.appModelsEvicted + e.appModels.length });
      log.warn({ loaded: e.loaded, evicted: e.evicted }, `the monitor's load of ${e.loaded} evicted ${e.evicted.join(', ')}: they do not fit together; it will not load it beside them again`);
    } else {
      this.#set(name, { appSwitches: w.appSwitches + e.evicted.length });
      log.info({ loaded: e.loaded, evicted: e.evicted }, `an app switched models: ${e.loaded} took the place of ${e.evicted.join(', ')} (not a cold start of the node)`);
    }
  }

  /**
   * Before a canary: which model it runs on. The configured one when it is resident or memory is empty;
   * else one the apps have resident, so the canary never evicts their model (src/core/residency.ts).
   */
  async pickCanary(node: NodeConfig, server: NodeKnowledge, signal: AbortSignal): Promise<CanaryPick> {
    const configured = node.model;
    // An Ollama node is looked at even before liveness has said what it is (the first canary may come first).
    if (configured === undefined || !(node.api === 'ollama' || Warmth.applies(node, server))) return { node };
    // After a keep-warm pass in flight: its loads change what is resident, and both must not load at once.
    await this.#running.get(node.name);
    // A look only, bounded like a liveness probe: a hung node must not hold the canary back.
    const looked = await this.#lookOnly(node, signal);
    const m = this.#memory.get(node.name) ?? emptyMemory();
    const pick = canaryModel(m, configured);
    this.#set(node.name, { canaryModel: pick.model });
    const resident = m.resident?.some((p) => modelKey(p.name) === modelKey(pick.model)) ?? true;
    if (resident) return { node: { ...node, model: pick.model }, ...(looked && m.resident !== undefined ? { resident: true as const } : {}) };
    const loads = loadCause(m, pick.model);
    // A load of it already under way (keep-warm's) is not claimed, nor counted, twice; the canary waits for it in Ollama.
    if (m.pending[modelKey(pick.model)] !== undefined) return { node: { ...node, model: pick.model }, loads, claimed: false };
    this.#memory.set(node.name, claimLoad(m, pick.model, this.deps.clock.now(), this.#keepAliveUntil(this.deps.clock.now(), node.api === 'ollama')));
    return { node: { ...node, model: pick.model }, loads, claimed: true };
  }

  /**
   * After a canary: its load (if it loaded) is recorded with its cause and what it evicted is observed. The
   * result says which model answered when it was not the configured one, and why a load was no cold start.
   */
  async afterCanary(pick: CanaryPick, configured: string | undefined, result: ProbeResult, signal: AbortSignal): Promise<ProbeResult> {
    const model = pick.node.model;
    if (model === undefined || signal.aborted) return result;
    const name = pick.node.name;
    const m = this.#memory.get(name);
    if (m) this.#memory.set(name, touchOwn(m, model, this.#keepAliveUntil(this.deps.clock.now(), pick.node.api === 'ollama')));
    const other = configured !== undefined && modelKey(configured) !== modelKey(model);
    const out = other ? { ...result, detail: `${result.detail ?? result.reason} [on ${model}, resident for the apps: ${configured} is not loaded and loading it would evict theirs]`.slice(0, 300) } : result;
    // Seen resident just before: a long load_duration is a wait in Ollama's scheduler, not a cold start.
    if (pick.resident && result.ok && (result.loadMs ?? 0) > this.deps.config().probes.canary.coldStart) return { ...out, loadCause: 'resident' };
    if (pick.loads === undefined) return out;
    // A failed canary is not looked after (the node may hang): the next look still sees what changed, and
    // blames the canary's claimed load for any eviction. It carries its load's cause: no token while the model
    // loads is a slow load, not a stalled runner (core/busy judgeStall).
    if (!result.ok) return { ...out, loadCause: pick.loads };
    await this.#lookOnly(pick.node, signal);
    if (!pick.claimed) return { ...out, loadCause: pick.loads };
    const why = pick.loads === 'cold' ? 'canary_cold' : pick.loads;
    this.#noteLoad(name, { model, why, ok: true, loadMs: result.loadMs, detail: `the canary loaded ${model} (${pick.loads.replace('_', ' ')})` });
    return { ...out, loadCause: pick.loads };
  }

  #noteLoad(name: string, load: WarmthLoad): void {
    const at = this.deps.clock.now();
    this.deps.record(name, load, at);
    if (load.ok && load.why === 'first_load') this.#set(name, { firstLoads: this.get(name).firstLoads + 1 });
    this.deps.onLoad(name, load);
  }

  /** One keep-warm pass; returns true when it loaded something. */
  async run(node: NodeConfig, server: NodeKnowledge, signal: AbortSignal): Promise<boolean> {
    if (node.models.length === 0 || !Warmth.applies(node, server)) return false;
    const c = this.deps.config();
    const l = c.probes.liveness;
    // Until the next look, with its jitter, plus one timeout of slack.
    const marginMs = l.interval * (1 + c.probes.jitter) + l.timeout + c.probes.canary.timeout;
    let loaded = false;
    await withNode(node, c.probes, this.#ctx(signal), async (run) => {
      const done = new Set<string>();
      let installed: Map<string, number | undefined> | undefined;
      // Plan, load one model, look again: each load is judged by what it evicted before the next is sent.
      for (let i = 0; i <= node.models.length && !signal.aborted; i++) {
        if (!(await this.#look(node, run))) return;
        const m = this.#memory.get(node.name) ?? emptyMemory();
        const missing = node.models.some((w) => !m.resident?.some((p) => modelKey(p.name) === modelKey(w)));
        if (missing && installed === undefined) {
          const tags = await readListing(run, '/api/tags', parseTags);
          if (!isFailure(tags)) installed = tags;
        }
        const plan = planKeepWarm({ m, wanted: node.models, installed, now: this.deps.clock.now(), marginMs });
        this.#report(node.name, plan);
        const step = plan.steps.find((s) => !done.has(s.model));
        if (!step) return;
        done.add(step.model);
        if (step.why !== 'expiring') this.#memory.set(node.name, claimLoad(m, step.model, this.deps.clock.now(), this.#keepAliveUntil(this.deps.clock.now())));
        const load = await loadModel(run, step);
        if (signal.aborted) return;
        const after = this.#memory.get(node.name);
        if (after && load.ok) this.#memory.set(node.name, touchOwn(after, step.model, this.#keepAliveUntil(this.deps.clock.now())));
        loaded = true;
        this.#logLoad(node.name, load);
        this.#noteLoad(node.name, load);
      }
    });
    return loaded && !signal.aborted;
  }

  #logLoad(name: string, load: WarmthLoad): void {
    const log = this.deps.logger.child({ node: name });
    if (!load.ok) log.warn({ model: load.model, detail: load.detail }, `keep-warm could not load ${load.model}`);
    else if (load.why === 'cold') {
      const at = this.deps.clock.now();
      const prev = this.get(name);
      this.#set(name, { coldEvents: prev.coldEvents + 1, lastColdEvent: { model: load.model, at } });
      log.warn({ model: load.model, loadMs: load.loadMs }, `cold model: ${load.model} had been unloaded; loaded it again before an app needed it`);
    } else if (load.why === 'expiring') log.debug({ model: load.model }, `keep-warm refreshed ${load.model}`);
    else log.info({ model: load.model, why: load.why, loadMs: load.loadMs }, load.detail);
  }

  /** Says once what keep-warm holds back: models not installed, and two listed models that do not fit together. */
  #report(name: string, plan: WarmPlan): void {
    const log = this.deps.logger.child({ node: name });
    const w = this.get(name);
    const notInstalled = plan.held.filter((h) => h.why === 'not_installed').map((h) => h.model);
    for (const m of notInstalled) if (!w.notInstalled.includes(m)) log.warn({ model: m }, `keep-warm: ${m} is listed in nodes[].models but not installed on the node: it is not loaded (ollama pull ${m})`);
    const conflict = plan.conflict ?? null;
    if (conflict && JSON.stringify(conflict) !== JSON.stringify(w.conflict)) {
      log.warn({ models: conflict.models, keeping: conflict.keeping }, `keep-warm: ${conflict.models[0]} and ${conflict.models[1]} do not fit in memory together (one evicted the other): keeping ${conflict.keeping} only, the first listed, until the config or the memory changes`);
    }
    if (JSON.stringify(notInstalled) !== JSON.stringify(w.notInstalled) || JSON.stringify(conflict) !== JSON.stringify(w.conflict)) this.#set(name, { notInstalled, conflict });
  }
}
