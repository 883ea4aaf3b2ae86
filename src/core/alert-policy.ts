import type { CoreEvent, NodeRuntime } from './decide';
import type { NodeStatus } from './status';
import { emptyNodeState, type AlertKind, type SuppressReason, type EventRule, type Flapping, type NodeAlertState, type AlertPolicyState, type NodeSnapshot, type AlertFacts, type PlannedAlert, type PolicyInput, type PolicyOutput, type MonitorEvent } from './alert-types';

/**
 * Which alerts the monitor's events deserve. Pure: the caller loads the policy's memory (`AlertPolicyState`,
 * kept in SQLite), passes the time, and stores what comes back together with the planned alerts, in one
 * transaction. Nothing here sends, reads a clock or touches a database.
 */

const healthy = (s: NodeStatus) => s === 'up' || s === 'degraded';

type Transition = Extract<CoreEvent, { type: 'node:transition' }>;

/** A working copy of the input; every public function builds one, applies its rules and returns the result. */
class Plan {
  readonly state: AlertPolicyState;
  readonly alerts: PlannedAlert[] = [];

  constructor(private readonly input: PolicyInput) {
    // Deep enough that the caller's object is never mutated.
    this.state = Object.fromEntries(
      Object.entries(input.state).map(([k, v]) => [k, { ...v, flips: [...v.flips], outage: v.outage && { ...v.outage }, flapping: v.flapping && { ...v.flapping } }]),
    );
  }

  node(name: string): NodeAlertState {
    return (this.state[name] ??= emptyNodeState());
  }

  get primary(): NodeRuntime | undefined {
    return this.input.monitor.nodes[0];
  }

  rule(kind: AlertKind): EventRule {
    return this.input.policy.events[kind];
  }

  /** The node-specific hold (maintenance, flapping) or the rule/quiet switch, in that order. */
  suppression(node: string, kind: AlertKind, opts: { ignoreMaintenance?: boolean } = {}): SuppressReason | null {
    if (this.input.policy.quiet) return this.input.policy.quiet;
    if (this.state[node]?.flapping && kind !== 'flapping' && kind !== 'flappingSettled') return 'flapping';
    if (!opts.ignoreMaintenance && this.input.maintenance.has(node)) return 'maintenance';
    if (!this.rule(kind).send) return 'event_off';
    return null;
  }

  /** Which down alert a node's confirmed outage deserves, from where it sits and what else is out. */
  downKind(rt: NodeRuntime, allDown: boolean): { kind: AlertKind; primaryMaintenance?: string } {
    if (allDown) return { kind: 'allDown' };
    const primary = this.primary;
    if (!primary || primary.name === rt.name) return { kind: 'primaryDown' };
    const inMaint = this.input.maintenance.get(primary.name);
    if (inMaint) return { kind: 'fallbackDownPrimaryOut', primaryMaintenance: inMaint.reason };
    // Truth table for a fallback going down:  primary up|degraded → warning (safety net gone);
    //                                          primary down|unknown → critical (nothing left behind it).
    return { kind: healthy(primary.status) ? 'fallbackDown' : 'fallbackDownPrimaryOut' };
  }

  facts(kind: AlertKind, node: string, extra: Partial<AlertFacts> = {}): AlertFacts {
    const m = this.input.monitor;
    return {
      kind,
      severity: this.rule(kind).severity,
      node,
      at: this.input.at,
      cause: null,
      detail: null,
      since: null,
      durationMs: null,
      preferred: m.preferred,
      allDown: m.allDown,
      primary: m.nodes[0]?.name ?? '',
      nodes: m.nodes.map(snapshot),
      ...extra,
    };
  }

  emit(facts: AlertFacts, suppressed: SuppressReason | null, threadOf: number | null, announces = false): void {
    this.alerts.push({ facts, suppressed, threadOf, announces: announces && suppressed === null });
  }

  /** A node was confirmed down (transition, or found down with no outage on record). */
  down(rt: NodeRuntime, cause: string, detail: string | null, since: number, allDown: boolean): AlertKind | undefined {
    const st = this.node(rt.name);
    if (st.outage) return undefined; // already known: a restart or a repeated event must not mail twice
    const { kind, primaryMaintenance } = this.downKind(rt, allDown);
    const suppressed = this.suppression(rt.name, kind);
    st.outage = {
      since,
      cause,
      detail,
      announced: suppressed === null,
      announcedBy: null,
      heldFor: suppressed === null ? null : suppressed === 'maintenance' || suppressed === 'flapping' ? suppressed : 'off',
      lastReminderAt: suppressed === null ? this.input.at : null,
    };
    if (suppressed === 'maintenance') st.maintenance = this.input.maintenance.get(rt.name)?.reason ?? 'maintenance';
    this.emit(this.facts(kind, rt.name, { cause, detail, since, primaryMaintenance }), suppressed, null, true);
    return kind;
  }

  /** A node with an open outage is up or degraded again. */
  recovered(rt: NodeRuntime, at: number): void {
    const st = this.node(rt.name);
    const o = st.outage;
    if (!o) return;
    st.outage = null;
    if (!o.announced) {
      // Nobody was told it was down; record why nothing goes out now either (maintenance, flapping).
      if (o.heldFor === 'maintenance' || o.heldFor === 'flapping') {
        this.emit(this.facts('recovered', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since }), o.heldFor, null);
      }
      return;
    }
    // An announced outage gets its recovery mail even inside a maintenance window: it closes a thread people
    // are watching. Flapping is the exception: the flapping mail and its summary speak for those changes.
    const suppressed = this.suppression(rt.name, 'recovered', { ignoreMaintenance: true });
    this.emit(this.facts('recovered', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since }), suppressed, o.announcedBy);
  }

  /** Counts a change into or out of `down`; returns true when it starts flapping. */
  flip(t: Transition): boolean {
    const f = this.input.policy.flapping;
    // Start-up resolution (from `unknown`) is not a change anyone caused.
    if (f.transitions === 0 || t.from === 'unknown' || (t.from !== 'down' && t.to !== 'down')) return false;
    const st = this.node(t.node);
    st.flips = [...st.flips.filter((x) => x > t.at - f.window), t.at];
    if (st.flapping) {
      st.flapping = { ...st.flapping, count: st.flapping.count + 1, lastAt: t.at };
      return false;
    }
    if (st.flips.length <= f.transitions) return false;
    st.flapping = { since: st.flips[0] ?? t.at, count: st.flips.length, lastAt: t.at };
    return true;
  }

  /** An unannounced outage whose hold (maintenance, flapping) is over while the node is still down: tell people now, once. */
  announceHeld(rt: NodeRuntime, endedWindow: string | null): void {
    const o = this.node(rt.name).outage;
    if (!o || o.announced || o.heldFor === null || o.heldFor === 'off' || rt.status !== 'down') return;
    const { kind, primaryMaintenance } = this.downKind(rt, this.input.monitor.allDown);
    const suppressed = this.suppression(rt.name, kind);
    if (suppressed !== null) return;
    const extra = o.heldFor === 'maintenance' ? { afterMaintenance: endedWindow ?? 'maintenance' } : {};
    o.announced = true;
    o.heldFor = null;
    o.lastReminderAt = this.input.at;
    this.emit(this.facts(kind, rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: this.input.at - o.since, primaryMaintenance, ...extra }), null, null, true);
  }
}

function snapshot(n: NodeRuntime): NodeSnapshot {
  return {
    name: n.name,
    priority: n.priority,
    status: n.status,
    since: n.since,
    cause: n.status === 'up' ? null : n.statusReason,
    detail: n.status === 'up' ? null : (n.lastError?.message ?? null),
    lastOkAt: n.lastOkAt,
    ttftMs: n.latency?.ttftMs ?? null,
    totalMs: n.latency?.totalMs ?? null,
  };
}

/**
 * Alerts for one batch of core events (the result of one probe). A node going down in the same batch that
 * makes every node down yields one ALL NODES DOWN alert, not a node alert plus an all-down alert.
 */
export function alertsForEvents(input: PolicyInput, events: ReadonlyArray<CoreEvent>): PolicyOutput {
  const plan = new Plan(input);
  const allDownEvent = events.some((e) => e.type === 'preferred:changed' && e.allDown);
  let allDownSaid = false;
  for (const e of events) {
    if (e.type !== 'node:transition') continue;
    const rt = input.monitor.nodes.find((n) => n.name === e.node);
    if (!rt) continue;
    const startsFlapping = plan.flip(e);
    if (e.to === 'down') {
      if (plan.down(rt, e.reason, e.detail ?? null, e.at, allDownEvent && !allDownSaid) === 'allDown') allDownSaid = true;
    } else if (healthy(e.to)) {
      plan.recovered(rt, e.at);
    }
    if (startsFlapping) {
      const fl = plan.node(rt.name).flapping as Flapping;
      const suppressed = plan.suppression(rt.name, 'flapping');
      plan.emit(plan.facts('flapping', rt.name, { flaps: { count: fl.count, since: fl.since, windowMs: input.policy.flapping.window } }), suppressed, null);
    }
  }
  return { state: plan.state, alerts: plan.alerts };
}

/**
 * Alerts due to the passage of time (called on the daemon heartbeat, outside any transaction): maintenance
 * windows that ended with the node still down, flapping that settled, reminders; and start-up repair (a node
 * found down with no outage on record, an outage whose node is healthy or no longer configured).
 */

/**
 * Alerts for monitor events: one "monitor lost network" alert when the network is back (nothing could be
 * sent while it was gone, and node statuses were frozen meanwhile), and one "open to the internet" alert
 * each time an exposure check finds a node answering anonymous requests after it had not.
 */
export function alertsForMonitorEvent(input: PolicyInput, e: MonitorEvent): PolicyOutput {
  const plan = new Plan(input);
  if (e.type === 'monitor:network-back') {
    const kind: AlertKind = 'monitorNetwork';
    const facts = plan.facts(kind, input.monitor.nodes[0]?.name ?? '', { since: e.since, durationMs: e.at - e.since, cause: 'monitor_offline' });
    plan.emit(facts, input.policy.quiet ?? (input.policy.events[kind].send ? null : 'event_off'), null);
  } else {
    const kind: AlertKind = 'exposed';
    const facts = plan.facts(kind, e.node, { cause: 'exposed', detail: e.detail, since: e.at });
    plan.emit(facts, input.policy.quiet ?? (input.policy.events[kind].send ? null : 'event_off'), null);
  }
  return { state: plan.state, alerts: plan.alerts };
}

export function alertsForTick(input: PolicyInput): PolicyOutput {
  const { at, policy, monitor, maintenance } = input;
  // The monitor's own network is down: statuses are frozen, not judged, and nothing could be sent anyway.
  // Time-driven alerts wait until it is back (a reminder then still goes out once).
  if (monitor.monitorOffline) return { state: input.state, alerts: [] };
  const plan = new Plan(input);
  for (const name of Object.keys(plan.state)) {
    if (!monitor.nodes.some((n) => n.name === name)) delete plan.state[name];
  }
  for (const rt of monitor.nodes) {
    const st = plan.node(rt.name);
    const window = maintenance.get(rt.name);
    const endedWindow = window ? null : st.maintenance;
    st.maintenance = window?.reason ?? null;

    if (rt.status === 'down' && !st.outage) {
      plan.down(rt, rt.statusReason, rt.lastError?.message ?? null, rt.since, monitor.allDown);
    } else if (healthy(rt.status) && st.outage) {
      plan.recovered(rt, rt.since);
    }

    if (st.flapping && at - st.flapping.lastAt >= policy.flapping.settle) {
      const fl = st.flapping;
      st.flapping = null;
      st.flips = [];
      const o = st.outage;
      const suppressed = plan.suppression(rt.name, 'flappingSettled');
      const announces = rt.status === 'down' && o !== null && !o.announced && o.heldFor === 'flapping';
      plan.emit(
        plan.facts('flappingSettled', rt.name, {
          cause: rt.status === 'up' ? null : rt.statusReason,
          detail: rt.status === 'up' ? null : (rt.lastError?.message ?? null),
          since: o?.since ?? null,
          flaps: { count: fl.count, since: fl.since, windowMs: policy.flapping.window },
        }),
        suppressed,
        null,
        announces,
      );
      if (announces && suppressed === null && o) Object.assign(o, { announced: true, heldFor: null, lastReminderAt: at });
      else if (announces && o && suppressed === 'maintenance') o.heldFor = 'maintenance';
    }

    if (!window && !st.flapping) plan.announceHeld(rt, endedWindow);

    const o = st.outage;
    if (o && o.announced && rt.status === 'down' && policy.reminderInterval > 0 && !window && !st.flapping) {
      // Measured from the last reminder on the wall clock: after a long sleep one reminder goes out, not one per
      // interval missed; a clock stepped back sends none until it has caught up.
      const last = o.lastReminderAt ?? o.since;
      if (at - last >= policy.reminderInterval) {
        o.lastReminderAt = at;
        const suppressed = plan.suppression(rt.name, 'reminder');
        plan.emit(plan.facts('reminder', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since }), suppressed, o.announcedBy);
      }
    }
  }
  return { state: plan.state, alerts: plan.alerts };
}

/** The state once the alert announcing `node`'s outage has its id (the thread root for reminders and the recovery). */
export function withAnnouncement(state: AlertPolicyState, node: string, alertId: number): AlertPolicyState {
  const st = state[node];
  if (!st?.outage) return state;
  return { ...state, [node]: { ...st, outage: { ...st.outage, announcedBy: alertId } } };
}
