import { EventEmitter } from 'node:events';
import type { Config } from '../config';
import { alertsForEvents, alertsForMonitorEvent, alertsForTick, withAnnouncement } from '../core/alert-policy';
import { type AlertPolicy, type AlertPolicyState, type MonitorEvent, type PeerPolicyInput, type PolicyInput, type PolicyOutput } from '../core/alert-types';
import type { CoreEvent, Instant, MonitorState } from '../core/decide';
import { alertsForPeers, type PeerAlertState } from '../core/peer-alerts';
import { alertsForDisagreement, currentVerdicts, DEFAULT_DISAGREE_AFTER_MS } from '../core/peer-disagree';
import { gate as gateVerdict, type GateAlert } from '../core/peer-gate';
import { outageThread, sameOutage } from '../core/outage-id';
import { cannotDeliver, peerFacts, peerLastKeys, peerOutages, threadOwner, voiceOf, type PeerView, type Voice } from '../core/peers';
import type { Logger } from '../logging';
import type { Storage } from '../storage';
import type { Outbox, StoredAlert } from '../storage';
import type { Clock } from '../util/clock';
import type { AlertMessage, Channel } from './channel';
import { createChannels } from './registry';
import { MaintenanceCalendar } from './maintenance';
import { renderAlert, subjectFor } from './render';
import { OutboxSender, type DeliveryReport } from './sender';

/** The contract the daemon codes against. */
export interface Alerting {
  /** Inside the daemon's transaction: decide alerts for these core events and enqueue them (same tx). */
  onEvents(events: CoreEvent[], state: MonitorState, at: Instant): void;
  /** Called on the daemon heartbeat (outside any tx): reminders, maintenance window ends, flapping settles. */
  tick(state: MonitorState, at: Instant): void;
  /** The monitor's network came back, or a node answered an anonymous request. */
  onMonitorEvent(e: MonitorEvent, state: MonitorState): void;
  /** Starts the background sender (delivers pending rows, incl. those left by a previous run). */
  start(): void;
  /** Stops the sender; resolves when an in-flight send finished or was abandoned (bounded, ≤ 2 s). */
  stop(): Promise<void>;
}

export interface AlertQueued {
  id: number;
  node: string;
  kind: string;
  subject: string;
  suppressed: string | null;
  /** Held for one voice: the monitor that speaks. */
  heldBy?: string;
}

/** Typed events tests (and the status page) can await instead of sleeping. */
export interface AlertingEvents {
  'alert:queued': [alert: AlertQueued];
  'alert:sent': [report: DeliveryReport];
  'alert:retry': [report: DeliveryReport];
  'alert:failed': [report: DeliveryReport];
  /** A queued alert another monitor had already sent: marked held, never sent from here. */
  'alert:held': [held: { alertId: number; by: string }];
}

export interface AlertingService extends Alerting {
  readonly events: EventEmitter<AlertingEvents>;
  /** The channels in use (from config unless given). */
  readonly channels: ReadonlyArray<Channel>;
  /** Delivers everything due now and resolves when nothing due is left. */
  flush(): Promise<void>;
}

export interface AlertingDeps {
  config: Config;
  storage: Storage;
  logger: Logger;
  clock: Clock;
  /** Default: built from config.alerts (and closed by stop()). */
  channels?: Channel[];
  /** For tests: deterministic retry jitter. */
  random?: () => number;
  /** With config.peers: what the peer poller knows (one voice); pollNow tells peers at once after a send. */
  peers?: { views(): PeerView[]; pollNow?(): void };
}

export function policyFromConfig(alerts: Config['alerts'], channelCount: number, decision?: Config['decision']): AlertPolicy {
  return {
    ...(decision ? { slow: { ttftMs: decision.slowTtft, totalMs: decision.slowTotal } } : {}),
    reminderInterval: alerts.reminderInterval,
    flapping: alerts.flapping,
    events: alerts.events,
    quiet: !alerts.enabled ? 'alerts_disabled' : channelCount === 0 ? 'no_channel' : null,
  };
}

/**
 * The alerting subsystem as one object: the pure policy decides, the outbox stores (in the caller's
 * transaction for events, in its own for ticks), the sender delivers in the background.
 */
export function createAlerting(deps: AlertingDeps): AlertingService {
  const { config, storage, clock } = deps;
  const logger = deps.logger.child({ component: 'alerts' });
  const ownChannels = deps.channels === undefined;
  const channels = deps.channels ?? createChannels(config.alerts);
  const channelNames = channels.map((c) => c.name);
  const outbox: Outbox = storage.outbox;
  const databaseToken = outbox.databaseToken();
  const calendar = new MaintenanceCalendar(storage.maintenance, config.maintenance.recurring);
  const policy = policyFromConfig(config.alerts, channels.length, config.decision);
  const events = new EventEmitter<AlertingEvents>();
  const instance = config.instance;
  const peerCfg = config.peers && deps.peers ? { ...config.peers, source: deps.peers } : undefined;
  const peerStore = peerCfg ? storage.peers : undefined;
  const sharedHost = new Map((config.peers?.monitors ?? []).flatMap((m) => (m.sharesHostWith ? [[m.name, m.sharesHostWith] as const] : [])));

  /** The last monitor state seen (a peer on the host of a node that is down is judged silent sooner). */
  let lastState: MonitorState | undefined;
  /**
   * silentAfter per peer. A peer that shares its host with a node that is down from here, and that neither
   * answered our polls nor polled us for two intervals, is the host itself gone (power loss): judged silent
   * then, not after the full silentAfter, so one "host looks down" mail goes out within about 30 s.
   * A live Mac behind a dead tunnel still polls us every interval, so it is never judged this way.
   */
  const silentAfterOf = (peer: string): number => {
    if (!peerCfg) return 0;
    const node = sharedHost.get(peer);
    const down = node !== undefined && lastState?.nodes.find((n) => n.name === node)?.status === 'down';
    return down ? Math.min(peerCfg.silentAfter, 2 * peerCfg.interval) : peerCfg.silentAfter;
  };

  /** Who speaks now and the outages peers reported; undefined when this monitor works alone. Silence is monotonic. */
  const peerInput = (): (PeerPolicyInput & { views: PeerView[] }) | undefined => {
    if (!peerCfg) return undefined;
    const views = peerCfg.source.views();
    const voice = voiceOf(instance, peerCfg.rank, views, clock.mono(), silentAfterOf);
    const unsent = new Set(outbox.pendingDeliveries().map((d) => d.alertId));
    const outages = peerOutages(views, voice.live);
    // A silent peer's last report is kept (what it had mailed before it fell silent), but an outage in it that
    // this monitor has since seen end is over: a new outage must not adopt (and reuse) its identity.
    if (outages.size > 0) {
      const ended = new Set(outbox.recentAlerts(200).flatMap((a) => (a.kind === 'recovered' && a.facts.outageKey ? [outageThread(a.node, a.facts.outageKey)] : [])));
      for (const [node, o] of outages) if (ended.has(outageThread(node, o.key))) outages.delete(node);
    }
    return { voice, outages, lastKeys: peerLastKeys(views), heardAll: views.every((v) => v.lastOkAt !== null), views, unsent };
  };

  /** Open outages whose start a channel accepted (sent or partial): what this monitor's /peer report calls mailed. */
  const mailedRootsOf = (st: AlertPolicyState): Set<number> =>
    new Set(
      Object.values(st).flatMap((n) => {
        const id = n.outage?.announcedBy ?? null;
        const status = id === null ? undefined : outbox.getAlert(id)?.status;
        return id !== null && (status === 'sent' || status === 'partial') ? [id] : [];
      }),
    );

  /** Who owns the thread a follow-up belongs to (core/peers threadOwner), from what its start did here and peers' reports. */
  const ownerOf = (a: StoredAlert, views: readonly PeerView[], voice: Voice): string | undefined => {
    if (a.kind !== 'recovered' && a.kind !== 'reminder') return undefined;
    const here: string[] = [];
    const root = a.threadOf !== null ? outbox.getAlert(a.threadOf) : undefined;
    if (root && (root.status === 'sent' || root.status === 'partial')) here.push(instance);
    // Its start was dropped here because a peer had sent it: that peer mailed it.
    if (root?.suppressed === 'peer' && root.facts.heldBy && root.facts.heldBy !== instance) here.push(root.facts.heldBy);
    return threadOwner(voice, views, a.node, a.facts.outageKey, here);
  };

  let waitingLogged = false;
  /** Monotonic time each queued alert first reached the gate with every peer known (a follower's wait). */
  const waitingSince = new Map<number, number>();
  const takeoverLogged = new Set<number>();
  const hold = (a: StoredAlert, by: string, why: string, now: number, peerKey?: string): 'held' => {
    storage.transaction(() => {
      outbox.holdAlert(a.id, by);
      // The outage's start went out from another monitor (or from this one before a crash): it owns the thread.
      // Only while its outage is open here is the peer's open outage the same one (whose key it then takes, with
      // its queued follow-ups); a start queued for an outage already over keeps its own key.
      const st = outbox.loadPolicyState();
      const o = st[a.node]?.outage;
      if (a.facts.outageRoot && o && sameOutage(a.node, o.key, a.facts.outageKey) && by !== instance) {
        o.owner = by;
        o.key = peerKey ?? o.key;
        outbox.savePolicyState(st, now);
        if (a.facts.outageKey && peerKey && peerKey !== a.facts.outageKey) outbox.rekeyOutage(a.node, a.facts.outageKey, peerKey);
      }
    });
    waitingSince.delete(a.id);
    logger.info({ alertId: a.id, node: a.node, kind: a.kind, by }, `alert held, not sent: ${why}: ${a.subject}`);
    events.emit('alert:held', { alertId: a.id, by });
    return 'held';
  };

  /**
   * Just before a delivery: the pure gate (core/peer-gate) says send, wait or hold. Every monitor queues every
   * alert; a follower's copy waits behind the gate until a peer reports it sent (then it is dropped) or its
   * deadline passes (then it goes out from here, same Message-ID).
   */
  const gate = (alertId: number): 'send' | 'wait' | 'held' => {
    const now = clock.now();
    const p = peerInput();
    const a = outbox.getAlert(alertId);
    if (!p || !a || !peerCfg) return 'send';
    // A later mail of this monitor opened the same outage's thread (a "host looks down" that replaced the start
    // a follower was still holding): this one is superseded.
    const o = a.facts.outageRoot ? outbox.loadPolicyState()[a.node]?.outage : undefined;
    const supersededBy = o && sameOutage(a.node, o.key, a.facts.outageKey) && o.announcedBy !== null && o.announcedBy > alertId ? o.announcedBy : undefined;
    if (supersededBy !== undefined) return hold(a, instance, `superseded by alert #${supersededBy}`, now);
    if (!p.voice.known) {
      if (!waitingLogged) logger.info('alerts wait until every peer monitor answered once or went silent (so nothing they mailed is mailed again)');
      waitingLogged = true;
      return 'wait';
    }
    waitingLogged = false;
    if (a.facts.outageRoot && a.kind !== 'hostDown' && peerStore) {
      // The node's host may be gone with its monitor (a peer on it just went silent): its "host looks down" mail
      // is about to replace this one (one mail for both). Wait for the peer step that decides it.
      const memory = peerStore.load();
      for (const [peer, node] of sharedHost) {
        if (node === a.node && !p.voice.live.has(peer) && (memory[peer]?.silentSince ?? null) === null) {
          requestTick();
          return 'wait';
        }
      }
    }
    const mono = clock.mono();
    let since = waitingSince.get(alertId);
    if (since === undefined) waitingSince.set(alertId, (since = mono));
    const ga: GateAlert = { kind: a.kind, node: a.node, at: a.createdAt, outageKey: a.facts.outageKey, outageRoot: a.facts.outageRoot, current: a.facts.outageRoot ? sameOutage(a.node, o?.key, a.facts.outageKey) : undefined, about: a.facts.monitor, owner: ownerOf(a, p.views, p.voice) };
    const v = gateVerdict(ga, {
      self: instance,
      rank: p.voice.rank,
      known: true,
      live: p.voice.live,
      cannotDeliver: cannotDeliver(p.views, peerCfg.takeoverAfter),
      reports: p.views.map((x) => ({ name: x.name, report: x.report })),
      outages: p.outages,
      waitedMs: mono - since,
      deadline: peerCfg.takeoverAfter,
    });
    if (v.act === 'wait') return 'wait';
    if (v.act === 'hold') return hold(a, v.by, v.by === instance ? 'already sent by this monitor before a restart' : `already sent by peer ${v.by}`, now, p.outages.get(a.node)?.key);
    waitingSince.delete(alertId);
    if (v.takeover && !takeoverLogged.has(alertId)) {
      takeoverLogged.add(alertId);
      logger.warn({ alertId, node: a.node, kind: a.kind, speaker: v.takeover }, `${v.takeover} has not reported this alert sent within ${peerCfg.takeoverAfter}ms: sending it from here (same Message-ID): ${a.subject}`);
    }
    return 'send';
  };

  const render = (a: StoredAlert): AlertMessage => {
    const r = renderAlert({ id: a.id, instance: a.instance, facts: a.facts, threadOf: a.threadOf }, { statusPageUrl: config.alerts.statusPageUrl, databaseToken });
    return { ...r, id: a.id, instance: a.instance, kind: a.facts.kind, severity: a.severity, node: a.node, at: a.createdAt, facts: a.facts };
  };

  const sender = new OutboxSender({
    outbox,
    channels,
    logger,
    clock,
    retry: config.alerts.retry,
    render,
    random: deps.random,
    onReport: (r) => {
      // Followers learn at once that it went out (our poll carries our report): no copy of theirs follows.
      if (r.outcome === 'sent') deps.peers?.pollNow?.();
      events.emit(r.outcome === 'sent' ? 'alert:sent' : r.final ? 'alert:failed' : 'alert:retry', r);
    },
    gate: peerCfg ? gate : undefined,
  });

  if (policy.quiet === 'alerts_disabled') logger.info('alerts.enabled is false: alerts are recorded, not sent');
  else if (policy.quiet === 'no_channel') logger.warn('no alert channel configured (alerts.email, ntfy, telegram, discord, slack, webhooks): alerts are recorded, not sent');

  /** Stores the policy's output: alert rows (and their deliveries), then the state with thread roots filled in. */
  function store(out: PolicyOutput & { peers?: PeerAlertState }, at: number): AlertQueued[] {
    let state = out.state;
    const queued: AlertQueued[] = [];
    for (const p of out.alerts) {
      const subject = subjectFor(instance, p.facts);
      const id = outbox.insertAlert({
        instance,
        node: p.facts.node,
        kind: p.facts.kind,
        severity: p.facts.severity,
        createdAt: at,
        subject,
        facts: p.facts,
        threadOf: p.threadOf,
        suppressed: p.suppressed,
        channels: channelNames,
      });
      if (p.announces) state = withAnnouncement(state, p.facts.node, id);
      queued.push({ id, node: p.facts.node, kind: p.facts.kind, subject, suppressed: p.suppressed, heldBy: p.facts.heldBy });
    }
    outbox.savePolicyState(state, at);
    for (const r of out.rekeys ?? []) {
      const moved = outbox.rekeyOutage(r.node, r.from, r.to);
      logger.info({ node: r.node, from: r.from, to: r.to, moved }, `outage of ${r.node} takes a peer's identity ${r.to} (was ${r.from}): its mails thread and dedupe with the peer's`);
    }
    if (out.peers) peerStore?.save(out.peers, at);
    return queued;
  }

  function announce(queued: AlertQueued[]): void {
    for (const q of queued) {
      if (q.suppressed === 'peer') logger.info({ alertId: q.id, node: q.node, kind: q.kind, heldBy: q.heldBy }, `alert held, not sent (${q.heldBy ?? 'a peer'} speaks): ${q.subject}`);
      else if (q.suppressed) logger.info({ alertId: q.id, node: q.node, kind: q.kind, suppressed: q.suppressed }, `alert recorded, not sent (${q.suppressed}): ${q.subject}`);
      else logger.warn({ alertId: q.id, node: q.node, kind: q.kind }, `alert queued: ${q.subject}`);
      events.emit('alert:queued', q);
    }
    if (queued.some((q) => !q.suppressed)) sender.kick();
  }

  /** Runs one policy step and stores it in a (nested) transaction: a failure here rolls back only our rows. */
  function step(what: string, at: number, run: (input: PolicyInput) => PolicyOutput & { peers?: PeerAlertState }, state: MonitorState, rethrow = false): void {
    let queued: AlertQueued[] = [];
    try {
      lastState = state;
      queued = storage.transaction(() => {
        const peers = peerInput();
        const policyState = outbox.loadPolicyState();
        // Only the policy step settles keys, so only it asks which open outages' starts a channel accepted.
        const input: PolicyInput = { state: policyState, monitor: state, maintenance: calendar.at(at), policy, at, ...(peers ? { peers: { ...peers, mailedRoots: mailedRootsOf(policyState) } } : {}) };
        return store(run(input), at);
      });
    } catch (e) {
      // Never let alerting break the transition write around us; the next tick repairs what it can see.
      // Outside the daemon's transaction (monitor events) the caller's write queue retries: let it know.
      if (rethrow) throw e;
      logger.error({ err: e }, `could not record alerts (${what})`);
      return;
    }
    announce(queued);
  }

  function tickRun(input: PolicyInput): PolicyOutput & { peers?: PeerAlertState } {
    if (!peerCfg || !peerStore) return alertsForTick(input);
    // Peers first: a silent peer on a down node's host announces that outage in one mail (core/peer-alerts).
    const facts = peerFacts(peerCfg.source.views(), sharedHost, clock.mono(), silentAfterOf, input.at);
    const p = alertsForPeers(input, peerStore.load(), facts);
    // Then lasting disagreements about a node (a path problem), through the same voice (core/peer-disagree).
    const views = currentVerdicts(peerCfg.source.views(), clock.mono(), peerCfg.silentAfter);
    const d = alertsForDisagreement({ ...input, state: p.state }, p.peers, views, peerCfg.disagreeAfter ?? DEFAULT_DISAGREE_AFTER_MS);
    const t = alertsForTick({ ...input, state: d.state });
    return { state: t.state, alerts: [...p.alerts, ...d.alerts, ...t.alerts], peers: d.peers, ...(t.rekeys ? { rekeys: t.rekeys } : {}) };
  }

  let tickSoon: NodeJS.Timeout | undefined;
  /** Runs the time-driven step now (outside the sender's pass), e.g. when a peer's host just went silent. */
  const requestTick = (): void => {
    if (tickSoon) return;
    tickSoon = setTimeout(() => {
      tickSoon = undefined;
      if (lastState) step('tick', clock.now(), tickRun, lastState);
    }, 0);
    tickSoon.unref();
  };

  return {
    events,
    channels,
    onEvents(evts: CoreEvent[], state: MonitorState, at: Instant): void {
      if (evts.length === 0) return;
      step('events', at.wall, (input) => alertsForEvents(input, evts), state);
    },
    onMonitorEvent(e: MonitorEvent, state: MonitorState): void {
      step(e.type, e.at, (input) => alertsForMonitorEvent(input, e), state, true);
    },
    tick(state: MonitorState, at: Instant): void {
      step('tick', at.wall, tickRun, state);
    },
    start(): void {
      sender.start();
    },
    async stop(): Promise<void> {
      clearTimeout(tickSoon);
      await sender.stop();
      calendar.dispose();
      if (ownChannels) await Promise.all(channels.map((c) => c.close?.().catch(() => undefined)));
    },
    flush: () => sender.flush(),
  };
}
