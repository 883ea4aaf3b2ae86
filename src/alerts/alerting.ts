import { EventEmitter } from 'node:events';
import type { Config } from '../config';
import { alertsForEvents, alertsForMonitorEvent, alertsForTick, withAnnouncement } from '../core/alert-policy';
import { type AlertPolicy, type MonitorEvent, type PolicyInput, type PolicyOutput } from '../core/alert-types';
import type { CoreEvent, Instant, MonitorState } from '../core/decide';
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
}

/** Typed events tests (and the status page) can await instead of sleeping. */
export interface AlertingEvents {
  'alert:queued': [alert: AlertQueued];
  'alert:sent': [report: DeliveryReport];
  'alert:retry': [report: DeliveryReport];
  'alert:failed': [report: DeliveryReport];
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
}

export function policyFromConfig(alerts: Config['alerts'], channelCount: number): AlertPolicy {
  return {
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
  const policy = policyFromConfig(config.alerts, channels.length);
  const events = new EventEmitter<AlertingEvents>();
  const instance = config.instance;

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
  });

  if (policy.quiet === 'alerts_disabled') logger.info('alerts.enabled is false: alerts are recorded, not sent');
  else if (policy.quiet === 'no_channel') logger.warn('no alert channel configured (alerts.email, alerts.webhooks): alerts are recorded, not sent');

  /** Stores the policy's output: alert rows (and their deliveries), then the state with thread roots filled in. */
  function store(out: PolicyOutput, at: number): AlertQueued[] {
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
      queued.push({ id, node: p.facts.node, kind: p.facts.kind, subject, suppressed: p.suppressed });
    }
    outbox.savePolicyState(state, at);
    return queued;
  }

  function announce(queued: AlertQueued[]): void {
    for (const q of queued) {
      if (q.suppressed) logger.info({ alertId: q.id, node: q.node, kind: q.kind, suppressed: q.suppressed }, `alert recorded, not sent (${q.suppressed}): ${q.subject}`);
      else logger.warn({ alertId: q.id, node: q.node, kind: q.kind }, `alert queued: ${q.subject}`);
      events.emit('alert:queued', q);
    }
    if (queued.some((q) => !q.suppressed)) sender.kick();
  }

  /** Runs one policy step and stores it in a (nested) transaction: a failure here rolls back only our rows. */
  function step(what: string, at: number, run: (input: PolicyInput) => PolicyOutput, state: MonitorState, rethrow = false): void {
    let queued: AlertQueued[] = [];
    try {
      queued = storage.transaction(() => {
        const input: PolicyInput = { state: outbox.loadPolicyState(), monitor: state, maintenance: calendar.at(at), policy, at };
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
      step('tick', at.wall, (input) => alertsForTick(input), state);
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
