import type { Agent } from 'undici';
import type { Config, NodeConfig } from '../config';
import { policyOf } from '../config/policy';
import { decide, evaluatePreferred, isColdStart, type CoreEvent, type Decision, type MonitorState } from '../core/decide';
import { restoreState } from '../core/restore';
import { nextProbeDelay, probingHealth, rateLimitHold, spannedSleep } from '../core/schedule';
import { judgeCanary } from '../core/busy';
import type { Logger } from '../logging';
import { createProbeAgent, probeCanary, probeLiveness } from '../probes';
import { withRootCause } from '../probes/direct';
import { probeSuspect } from '../probes/liveness-confirm';
import { SUSPECT_REASON } from '../client/failure-report';
import type { ProbeKind, ProbeResult } from '../probes/types';
import { buildPublishedState, type LivenessFact, type MonitorInfo } from '../state/build';
import { StatePublisher, type Published } from '../state/publisher';
import type { PublishedPeer } from '../state/types';
import type { Alerting } from '../alerts/alerting';
import type { Storage } from '../storage';
import type { Clock } from '../util/clock';
import { DaemonEmitter } from './events';
import { Warmth } from './keep-warm';
import type { WarmthLoad } from '../probes/keep-warm';
import { logLearnt, ServerKnowledge } from './knowledge';
import { SelfChecks } from './selfcheck';
import { SuspectProber } from './suspect';
import { ProbeLoop } from './loop';
import { watchClock, type ClockJump } from './wake';
import { recordEvents } from './record';
import { WriteQueue } from './write-queue';

export interface DaemonDeps {
  config: Config;
  storage: Storage;
  logger: Logger;
  clock: Clock;
  version: string;
  random?: () => number; // for tests: deterministic jitter
  /** With peers: what they last said, for the state file's `peers` section. */
  peers?: () => PublishedPeer[];
  /** Builds the alerting for a config (again on reload); absent: no alerts. */
  alerting?: (config: Config) => Alerting;
}

/**
 * The running monitor, as a loop: schedule (ProbeLoop, src/core/schedule), probe (src/probes), hand the result
 * to the core (decide), record (SQLite, through the write queue), publish (src/state/publisher).
 * All judgement lives in src/core; this class only moves facts between the pieces and the outside.
 */
export class Daemon {
  readonly events = new DaemonEmitter();
  #config: Config;
  #state: MonitorState;
  #agent: Agent;
  #loops = new Map<string, ProbeLoop>();
  #timers: Array<() => void> = [];
  #runId: number | undefined;
  #info: MonitorInfo;
  #publisher: StatePublisher;
  #stopping = false;
  #lastCycleAt: number;
  #self: SelfChecks;
  #offlineSince: number | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #writes: WriteQueue;
  #alerting: Alerting | undefined;
  #known = new ServerKnowledge();
  #warmth: Warmth;
  #liveness = new Map<string, LivenessFact>();
  #suspects: SuspectProber;

  constructor(private readonly deps: DaemonDeps) {
    this.#config = deps.config;
    this.#agent = createProbeAgent(deps.config.probes);
    const at = this.#instant();
    this.#info = { instance: deps.config.instance, version: deps.version, pid: process.pid, startedAt: at.wall };
    this.#publisher = new StatePublisher(deps.config.stateFile, deps.logger);
    this.#state = restoreState(deps.config.nodes, this.#publisher.readPrevious(), at, deps.storage.lastTransitions());
    this.#lastCycleAt = at.wall;
    this.#self = this.#selfChecks(deps.config);
    this.#writes = new WriteQueue(deps.logger.child({ component: 'storage' }), () => deps.clock.mono());
    this.#alerting = deps.alerting?.(deps.config);
    this.#suspects = new SuspectProber({
      mono: () => deps.clock.mono(),
      run: (name, signal) => this.#probe(this.#config.nodes.find((n) => n.name === name) as NodeConfig, 'liveness', signal, true),
      onError: (e, node) => deps.logger.error({ err: e, node }, 'internal error in a suspect probe'),
    });
    const cold = deps.storage.coldEvents;
    // A keep-warm load of a model unloaded behind everyone's back is stored as `not_loaded`, as since 0004.
    const record = (node: string, l: WarmthLoad, at: number) => cold.insert({ node, model: l.model, at, why: l.why === 'cold' ? 'not_loaded' : l.why, ok: l.ok, loadMs: l.loadMs, detail: l.detail });
    const onLoad = (node: string, l: WarmthLoad) => this.events.emit('keepwarm:load', { node, ...l });
    this.#warmth = new Warmth({ config: () => this.#config, clock: deps.clock, logger: deps.logger, dispatcher: () => this.#agent, record: (node, l, at) => this.#writes.push({ what: `cold event ${node}`, droppable: true, run: () => record(node, l, at) }), onLoad });
  }

  #selfChecks(config: Config, previous?: SelfChecks): SelfChecks {
    return new SelfChecks({
      exposed: previous?.exposedNodes,
      config,
      logger: this.deps.logger,
      clock: this.deps.clock,
      dispatcher: () => this.#agent,
      onExposure: (r, changed) => {
        const at = this.deps.clock.now();
        this.events.emit('node:exposure', { node: r.node, exposed: r.exposed, changed, detail: r.detail, at });
        if (r.exposed && changed) {
          const alerting = this.#alerting;
          const state = this.#state;
          if (alerting) this.#writes.push({ what: 'exposure alert', droppable: false, run: () => alerting.onMonitorEvent({ type: 'node:exposed', node: r.node, detail: r.detail, at }, state) });
        }
      },
    });
  }

  get state(): MonitorState {
    return this.#state;
  }
  get config(): Config {
    return this.#config;
  }
  get info(): MonitorInfo {
    return this.#info;
  }
  /** The latest published document and its ETag, for the HTTP server. */
  get published(): Published | undefined {
    return this.#publisher.published;
  }
  /** Monotonic-free health: probing is current when a probe finished within the stale window. */
  health(): { ok: boolean; detail: string } {
    const c = this.#config;
    return probingHealth({ ageMs: this.deps.clock.now() - this.#lastCycleAt, stopping: this.#stopping, staleAfter: c.state.staleAfter, liveness: c.probes.liveness, jitter: c.probes.jitter });
  }

  start(): void {
    const { storage, logger } = this.deps;
    const at = this.#instant();
    try {
      const run = storage.startRun({ instance: this.#info.instance, pid: process.pid, version: this.#info.version, at: at.wall });
      this.#runId = run.runId;
      for (const u of run.uncleanPrevious) logger.warn({ runId: u.runId, lastSeenAt: new Date(u.lastSeenAt).toISOString() }, 'previous run did not stop cleanly (crash, kill or power loss)');
    } catch (e) {
      logger.error({ err: e }, 'could not record this run in the database; continuing');
    }
    logger.info(
      { instance: this.#info.instance, nodes: this.#state.nodes.map((n) => `${n.name}=${n.status}`), preferred: this.#state.preferred, stateFile: this.#config.stateFile },
      'llm-sentinel started',
    );
    this.#publish();
    this.#startLoops();
    this.#self.startExposureChecks();
    this.#alerting?.start();
    const hb = setInterval(() => this.#heartbeat(), this.#config.state.heartbeat);
    this.#timers.push(() => clearInterval(hb));
    this.#timers.push(watchClock(this.deps.clock, (j) => this.#onClockJump(j)));
  }

  /** A client says a node just failed: re-probe it at once. Only probes decide; a report flips nothing. */
  reportFailure(node: string, reason: string, source: string): boolean {
    if (!this.#config.nodes.some((n) => n.name === node)) return false;
    if (reason === SUSPECT_REASON) {
      // A request is waiting on this node: one liveness probe now, its result published at once (core/suspect).
      const v = this.#suspects.suspect(node);
      this.deps.logger[v === 'probe' ? 'info' : 'debug']({ node, source, verdict: v }, v === 'probe' ? 'suspect report: probing now' : `suspect report: ${v}`);
      this.events.emit('report:received', { node, reason, source });
      return true;
    }
    this.deps.logger.info({ node, reason, source }, 'client reported a failure; re-probing now');
    this.events.emit('report:received', { node, reason, source });
    this.#loops.get(`${node}/liveness`)?.trigger();
    this.#loops.get(`${node}/canary`)?.trigger();
    return true;
  }

  /** SIGHUP: take a new, already validated config. Nodes kept by name and URL keep their status. */
  /** Reloads run one after another, never after stop(). */
  reload(next: Config): Promise<void> {
    const run = this.#reloading.then(() => (this.#stopping ? undefined : this.#reload(next)));
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(next: Config): Promise<void> {
    const { logger } = this.deps;
    if (next.database !== this.#config.database || next.stateFile !== this.#config.stateFile) {
      logger.warn('database and stateFile changes take effect at the next restart');
      next = { ...next, database: this.#config.database, stateFile: this.#config.stateFile };
    }
    await Promise.all([this.#stopLoops(), this.#warmth.stop()]);
    await Promise.all([this.#self.stop(), this.#alerting?.stop()]);
    if (this.#stopping) return;
    const old = this.#agent;
    this.#agent = createProbeAgent(next.probes);
    void old.close();
    this.#config = next;
    this.#known = new ServerKnowledge();
    this.#info = { ...this.#info, instance: next.instance };
    const offline = this.#state.monitorOffline;
    this.#state = { ...restoreState(next.nodes, this.#publisher.published?.state, this.#instant()), monitorOffline: offline };
    this.#self = this.#selfChecks(next, this.#self);
    this.#alerting = this.deps.alerting?.(next);
    this.#alerting?.start();
    this.#publish();
    this.#startLoops();
    this.#self.startExposureChecks();
    logger.info({ nodes: next.nodes.map((n) => n.name) }, 'configuration reloaded');
  }

  /** Stop scheduling, abort in-flight probes, write the final state, record the clean stop. */
  async stop(reason = 'signal'): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#reloading;
    for (const t of this.#timers) t();
    this.#timers = [];
    await Promise.all([this.#stopLoops(), this.#self.stop(), this.#warmth.stop(), this.#suspects.stop()]);
    await this.#alerting?.stop();
    this.#publish();
    const runId = this.#runId;
    if (runId !== undefined) {
      const at = this.deps.clock.now();
      this.#writes.push({ what: 'clean stop', droppable: false, run: () => this.deps.storage.endRun(runId, at, reason) });
    }
    this.#writes.flush();
    if (this.#writes.length > 0) this.deps.logger.error({ queued: this.#writes.length }, 'stopping with database writes that could not be made');
    await this.#agent.close().catch(() => undefined);
  }

  #instant() {
    return { wall: this.deps.clock.now(), mono: this.deps.clock.mono() };
  }

  #startLoops(): void {
    const c = this.#config;
    const kinds: ProbeKind[] = c.probes.canary.enabled ? ['liveness', 'canary'] : ['liveness'];
    for (const node of c.nodes) {
      for (const kind of kinds) {
        const loop = new ProbeLoop({
          jitter: c.probes.jitter,
          mono: () => this.deps.clock.mono(),
          random: this.deps.random,
          nextDelay: () => this.#nextDelay(node.name, kind),
          run: (signal) => this.#probe(node, kind, signal),
          onError: (e) => this.deps.logger.error({ err: e, node: node.name, kind }, 'internal error in a probe run; probing goes on'),
        });
        this.#loops.set(`${node.name}/${kind}`, loop);
        // Liveness first; the canary shortly after so both do not start in the same millisecond.
        loop.start(kind === 'liveness' ? 0 : 250);
      }
    }
  }

  async #stopLoops(): Promise<void> {
    const loops = [...this.#loops.values()];
    this.#loops.clear();
    await Promise.all(loops.map((l) => l.stop()));
  }

  #nextDelay(name: string, kind: ProbeKind): number {
    const p = this.#config.probes;
    const node = this.#state.nodes.find((n) => n.name === name);
    return nextProbeDelay(node, kind, { liveness: p.liveness.interval, canary: p.canary.interval, fast: this.#config.decision.fastInterval });
  }

  async #probe(configured: NodeConfig, kind: ProbeKind, signal: AbortSignal, suspect = false): Promise<void> {
    if (rateLimitHold(this.#state.nodes.find((n) => n.name === configured.name), this.deps.clock.now()) > 0) return void (this.#lastCycleAt = this.deps.clock.now()); // Cloudflare's Retry-After (core/schedule): no probe before it; waiting is not stalling
    const ctx = { signal, clock: this.deps.clock, dispatcher: this.#agent };
    const node = this.#known.resolve(configured);
    // No model yet (none configured, liveness has not found one): nothing to generate with.
    if (kind === 'canary' && node.model === undefined) return;
    const p = this.#config.probes;
    const pick = kind === 'canary' ? await this.#warmth.pickCanary(node, this.#known.get(node.name), signal) : undefined;
    const probed = await (pick ? probeCanary(pick.node, p, ctx, this.#known.view(node.name)) : suspect ? probeSuspect(node, p, ctx) : probeLiveness(node, p, ctx));
    const result = pick ? await this.#warmth.afterCanary(pick, node.model, probed, signal) : probed;
    if (this.#known.learn(result)) {
      logLearnt(this.deps.logger.child({ node: node.name }), result, this.#known.get(node.name));
      this.events.emit('node:server', { node: node.name, ...this.#known.get(node.name) });
    }
    // Taken before any direct-path probe, whose own duration must not look like a sleep.
    const endedAt = this.deps.clock.now();
    await this.#onResult(judgeCanary(await withRootCause(result, node, p, ctx), this.#liveness.get(node.name), { ...policyOf(this.#config), livenessFreshMs: p.liveness.interval + p.liveness.timeout }), endedAt);
    // Every liveness cycle: the apps' models stay loaded (a load request, never a generation).
    if (kind === 'liveness' && result.ok && !this.#stopping) this.#warmth.kick(this.#known.resolve(configured), this.#known.get(node.name), (loaded) => loaded && !this.#stopping && this.#publish());
  }

  async #onResult(r: ProbeResult, endedAt: number): Promise<void> {
    if (this.#stopping || r.reason === 'aborted') return;
    const { logger, clock } = this.deps;
    const log = logger.child({ node: r.node });
    let note: string | undefined;
    const straddled = spannedSleep(r, endedAt);
    const suspect = !straddled && this.#self.record(r);
    if (!straddled && !suspect && this.#self.shouldCrossCheck(r)) {
      // No answer at all from this node: if the monitor's own network is gone, the others fail the same way.
      // Probe them now, so that is known before this node's failures reach `fall` and count as its outage.
      for (const n of this.#config.nodes) if (n.name !== r.node) this.#loops.get(`${n.name}/liveness`)?.trigger();
    }
    const offline = suspect && !(await this.#self.networkUp());
    if (this.#stopping) return;
    if (straddled) note = 'spanned a sleep or clock jump; not judged';
    else if (offline) note = "monitor's own network is down; not judged";
    if (offline) this.#setOffline(true);
    else if (!straddled && this.#state.monitorOffline) this.#setOffline(false);
    const recorded = note ? { ...r, detail: `${r.detail ?? r.reason} [${note}]`.slice(0, 300) } : r;
    const cause = r.loadCause; // migrations/0007, through the lazily prepared cold-events store
    this.#writes.push({ what: `probe ${r.node}/${r.kind}`, droppable: true, run: () => void this.deps.storage.coldEvents.setLoadCause(this.deps.storage.insertProbe(recorded), cause) });
    this.#lastCycleAt = clock.now();
    log[r.ok ? 'debug' : 'info']({ kind: r.kind, ok: r.ok, reason: r.reason, ms: Math.round(r.durationMs), ttftMs: r.ttftMs, status: r.httpStatus, cause: r.cause, detail: r.ok ? undefined : r.detail }, r.ok ? 'probe ok' : 'probe failed');
    if (isColdStart(r, policyOf(this.#config))) {
      log.warn({ loadMs: r.loadMs, keepAlive: this.#config.probes.canary.keepAlive }, 'cold start: the model had been unloaded (evicted or expired) and was loaded again');
    }
    if (!note) {
      // Every liveness result is published at once: a waiting client acts on a first failure, long before
      // `fall` turns it into a status, and a pass published only with a later heartbeat would look newer
      // than a request that started after it (src/client/suspicion.ts compares on the monitor's clock).
      const live = r.kind === 'liveness';
      if (live) this.#liveness.set(r.node, { ok: r.ok, reason: r.reason, at: endedAt, attempts: r.attempts ?? 1 });
      const d = decide(this.#state, r, policyOf(this.#config), this.#instant());
      this.#apply(d);
      if (live && d.events.length === 0) this.#publish();
    }
    this.events.emit('probe:done', r, !note);
    if (r.kind === 'liveness') this.#self.cycleDone(r.node, this.#trouble());
  }

  /** What is wrong with the monitor itself, if anything (for the dead-man's switch /fail). */
  #trouble(): string | undefined {
    const t = [this.#writes.failing && `database: ${this.#writes.failing}`, this.#publisher.writeError && `state file: ${this.#publisher.writeError}`].filter(Boolean);
    return t.length > 0 ? t.join('; ') : undefined;
  }

  /** Monitor offline: node statuses freeze (nothing is judged) and the time is recorded as not observed. */
  #setOffline(offline: boolean): void {
    if (offline === this.#state.monitorOffline) return;
    const { logger, storage, clock } = this.deps;
    const now = clock.now();
    this.#state = { ...this.#state, monitorOffline: offline };
    if (offline) {
      this.#offlineSince = now;
      logger.error("every node and every witness is unreachable: the monitor's own network is down; node statuses are frozen until it returns");
    } else {
      const since = this.#offlineSince ?? now;
      this.#offlineSince = undefined;
      logger.warn({ seconds: Math.round((now - since) / 1000) }, "the monitor's network is back");
      const runId = this.#runId;
      if (runId !== undefined) this.#writes.push({ what: 'offline gap', droppable: false, run: () => storage.insertGap({ runId, kind: 'offline', from: since, to: now }) });
      const alerting = this.#alerting;
      const state = this.#state;
      if (alerting) this.#writes.push({ what: 'network alert', droppable: false, run: () => alerting.onMonitorEvent({ type: 'monitor:network-back', since, at: now }, state) });
    }
    this.events.emit('monitor:network', { offline, since: this.#offlineSince ?? now, at: now });
    this.#publish();
  }

  #apply(d: Decision): void {
    this.#state = d.next;
    if (d.events.length === 0) return;
    this.#record(d.events);
    this.#publish();
  }

  #record(events: CoreEvent[]): void {
    const { storage, logger } = this.deps;
    recordEvents({ writes: this.#writes, storage, alerting: this.#alerting, logger, events: this.events }, events, this.#state, this.#instant());
  }

  /** A peer monitor fell silent or answers again: run the alerts' time-driven step now, not at the next heartbeat. */
  peersChanged(): void {
    if (this.#stopping || this.#writes.length > 0) return;
    this.#alerting?.tick(this.#state, this.#instant());
    this.#publish();
  }

  #heartbeat(): void {
    this.#apply(evaluatePreferred(this.#state, policyOf(this.#config), this.#instant()));
    this.#publish();
    // Retry what failed; the run's heartbeat is not queued (the next one supersedes it).
    if (!this.#writes.flush()) return;
    const runId = this.#runId;
    try {
      if (runId !== undefined) this.deps.storage.touchRun(runId, this.deps.clock.now());
      this.#alerting?.tick(this.#state, this.#instant());
    } catch (e) {
      this.deps.logger.error({ err: e }, 'could not record heartbeat');
    }
  }

  #onClockJump(j: ClockJump): void {
    const { logger, storage } = this.deps;
    logger.warn({ kind: j.kind, from: new Date(j.from).toISOString(), to: new Date(j.to).toISOString(), seconds: Math.round(j.deltaMs / 1000) }, j.kind === 'sleep' ? 'woke from sleep (or the clock jumped forward): probing every node now' : 'the wall clock went backwards');
    const runId = this.#runId;
    if (runId !== undefined) this.#writes.push({ what: 'clock gap', droppable: false, run: () => storage.insertGap({ runId, kind: j.kind, from: j.from, to: j.to }) });
    this.events.emit('clock:jump', j);
    if (j.kind === 'sleep') for (const loop of this.#loops.values()) loop.trigger();
  }

  #publish(): void {
    const c = this.#config;
    const nodes = c.nodes.map((n) => this.#known.resolve(n)).map((n) => ({ ...n, model: n.model ?? '', warmth: this.#warmth.published(n.name) }));
    const json = this.#publisher.publish(buildPublishedState(this.#state, nodes, this.#info, this.deps.clock.now(), c.state.staleAfter, this.deps.peers?.(), this.#liveness));
    if (json !== undefined) this.events.emit('state:written', json);
  }
}
