import { EventEmitter } from 'node:events';
import type { Config } from '../config';
import { alertsForEvents, alertsForMonitorEvent, alertsForTick, withAnnouncement } from '../core/alert-policy';
import { type AlertPolicy, type MonitorEvent, type PeerPolicyInput, type PolicyInput, type PolicyOutput } from '../core/alert-types';
import type { CoreEvent, Instant, MonitorState } from '../core/decide';
import { alertsForPeers, type PeerAlertState } from '../core/peer-alerts';
import { alertsForDisagreement, currentVerdicts, DEFAULT_DISAGREE_AFTER_MS } from '../core/peer-disagree';
import { deliveryGate, peerFacts, peerOutages, voiceOf, type PeerView } from '../core/peers';
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
  /** With config.peers: what the peer poller knows (one voice). */
  peers?: { views(): PeerView[] };
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

  /** Who speaks now and the outages peers reported; undefined when this monitor works alone. */
  const peerInput = (at: number): (PeerPolicyInput & { views: PeerView[] }) | undefined => {
    if (!peerCfg) return undefined;
    const views = peerCfg.source.views();
    const voice = voiceOf(instance, peerCfg.rank, views, at, peerCfg.silentAfter);
    return { voice, outages: peerOutages(views, voice.live), views };
  };

  let waitingLogged = false;
  /** Just before a delivery: wait until peers are known, hold what a peer already mailed (core/peers deliveryGate). */
  const gate = (alertId: number): 'send' | 'wait' | 'held' => {
    const now = clock.now();
    const p = peerInput(now);
    const a = outbox.getAlert(alertId);
    if (!p || !a) return 'send';
    const g = deliveryGate({ kind: a.kind, node: a.node, outageKey: a.facts.outageKey, outageRoot: a.facts.outageRoot }, instance, p.voice.known, p.outages, p.views, p.voice.live);
    if (g.act === 'wait') {
      if (!waitingLogged) logger.info('alerts wait until every peer monitor answered once or went silent (so nothing they mailed is mailed again)');
      waitingLogged = true;
      return 'wait';
    }
    waitingLogged = false;
    if (g.act === 'send') return 'send';
    storage.transaction(() => {
      outbox.holdAlert(alertId, g.by);
      // The outage's start went out from another monitor (or from this one before a crash): it owns the thread.
      const st = outbox.loadPolicyState();
      const o = st[a.node]?.outage;
      if (a.facts.outageRoot && o && o.key === a.facts.outageKey) {
        o.owner = g.by;
        o.key = p.outages.get(a.node)?.key ?? o.key;
        outbox.savePolicyState(st, now);
      }
    });
    logger.info({ alertId, node: a.node, kind: a.kind, by: g.by }, `alert held, not sent: already sent by ${g.by === instance ? 'this monitor before a restart' : `peer ${g.by}`}: ${a.subject}`);
    events.emit('alert:held', { alertId, by: g.by });
    return 'held';
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
    onReport: (r) => events.emit(r.outcome === 'sent' ? 'alert:sent' : r.final ? 'alert:failed' : 'alert:retry', r),
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
      queued = storage.transaction(() => {
        const peers = peerInput(at);
        const input: PolicyInput = { state: outbox.loadPolicyState(), monitor: state, maintenance: calendar.at(at), policy, at, ...(peers ? { peers } : {}) };
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
      step(
        'tick',
        at.wall,
        (input) => {
          if (!peerCfg || !peerStore) return alertsForTick(input);
          // Peers first: a silent peer on a down node's host announces that outage in one mail (core/peer-alerts).
          const facts = peerFacts(peerCfg.source.views(), sharedHost, input.at, peerCfg.silentAfter);
          const p = alertsForPeers(input, peerStore.load(), facts);
          // Then lasting disagreements about a node (a path problem), through the same voice.
          const views = currentVerdicts(peerCfg.source.views(), input.at, peerCfg.silentAfter);
          const d = alertsForDisagreement({ ...input, state: p.state }, p.peers, views, peerCfg.disagreeAfter ?? DEFAULT_DISAGREE_AFTER_MS);
          const t = alertsForTick({ ...input, state: d.state });
          return { state: t.state, alerts: [...p.alerts, ...d.alerts, ...t.alerts], peers: d.peers };
        },
        state,
      );
    },
    start(): void {
      sender.start();
    },
    async stop(): Promise<void> {
      await sender.stop();
      calendar.dispose();
      if (ownChannels) await Promise.all(channels.map((c) => c.close?.().catch(() => undefined)));
    },
    flush: () => sender.flush(),
  };
}
