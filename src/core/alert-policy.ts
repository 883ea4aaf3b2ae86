import type { CoreEvent } from './decide';
import type { AlertKind, AlertPolicyState, PolicyInput, PolicyOutput, MonitorEvent } from './alert-types';
import { healthy, Plan } from './alert-plan';

/**
 * Which alerts the monitor's events deserve. Pure: the caller loads the policy's memory (`AlertPolicyState`,
 * kept in SQLite), passes the time, and stores what comes back together with the planned alerts, in one
 * transaction. Nothing here sends, reads a clock or touches a database. The rules live in ./alert-plan.
 */


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
    } else if (healthy(e.to) && plan.outageOver(rt)) {
      // A degraded outage's end is a change too (a down one was counted by flip() above).
      if (plan.node(rt.name).outage?.degraded && e.from !== 'down' && plan.countFlip(rt.name, e.at)) plan.flappingAlert(rt.name);
      plan.recovered(rt, e.at);
    }
    if (startsFlapping) plan.flappingAlert(rt.name);
  }
  // Alerts follow traffic: a batch that moved apps off a degraded primary (its own transition, or another
  // node's recovery making room) opens that outage.
  const primary = input.monitor.nodes[0];
  if (primary) {
    const at = events.reduce((t, e) => Math.max(t, e.at), 0) || input.at;
    plan.degraded(primary, at);
  }
  return { state: plan.state, alerts: plan.alerts, rekeys: plan.rekeys };
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
    plan.emit(facts, input.policy.quiet ?? (!input.policy.events[kind].send ? 'event_off' : null), null);
  } else {
    const kind: AlertKind = 'exposed';
    const facts = plan.facts(kind, e.node, { cause: 'exposed', detail: e.detail, since: e.at });
    plan.emit(facts, input.policy.quiet ?? (!input.policy.events[kind].send ? 'event_off' : null), null);
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
    plan.settleKeys(rt.name);

    if (rt.status === 'down' && !st.outage) {
      plan.down(rt, rt.statusReason, rt.lastError?.message ?? null, rt.since, monitor.allDown);
    } else if (healthy(rt.status) && st.outage && plan.outageOver(rt)) {
      plan.recovered(rt, rt.since);
    } else if (!st.outage) {
      plan.degraded(rt, at);
    }

    if (st.flapping && at - st.flapping.lastAt >= policy.flapping.settle) {
      const fl = st.flapping;
      st.flapping = null;
      st.flips = [];
      const o = st.outage;
      const suppressed = plan.suppression(rt.name, 'flappingSettled');
      const announces = (rt.status === 'down' || plan.trafficAway(rt)) && o !== null && !o.announced && o.heldFor === 'flapping';
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
      if (announces && suppressed === null && o) Object.assign(o, { announced: true, heldFor: null, lastReminderAt: at, ...(plan.self ? { owner: plan.self } : {}) });
      else if (announces && o && suppressed === 'maintenance') o.heldFor = 'maintenance';
    }

    if (!window && !st.flapping) plan.announceHeld(rt, endedWindow);

    const o = st.outage;
    if (o && o.announced && (rt.status === 'down' || plan.trafficAway(rt)) && policy.reminderInterval > 0 && !window && !st.flapping) {
      // Measured from the last reminder on the wall clock: after a long sleep one reminder goes out, not one per
      // interval missed; a clock stepped back sends none until it has caught up.
      const last = o.lastReminderAt ?? o.since;
      if (at - last >= policy.reminderInterval) {
        o.lastReminderAt = at;
        // Numbered by the intervals elapsed since the outage began (never less than one past the last here), so a
        // monitor that adopted the outage late names its n-th reminder as the owner did, and never reuses a
        // number the owner already mailed for an earlier one.
        o.reminders = Math.max((o.reminders ?? 0) + 1, Math.round((at - o.since) / policy.reminderInterval));
        const suppressed = plan.suppression(rt.name, 'reminder', { owner: o.owner });
        plan.emit(plan.facts('reminder', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since, outageKey: o.key, reminder: o.reminders }), suppressed, o.announcedBy, false, o.owner);
      }
    }
  }
  return { state: plan.state, alerts: plan.alerts, rekeys: plan.rekeys };
}

/** The state once the alert announcing `node`'s outage has its id (the thread root for reminders and the recovery). */
export function withAnnouncement(state: AlertPolicyState, node: string, alertId: number): AlertPolicyState {
  const st = state[node];
  if (!st?.outage) return state;
  return { ...state, [node]: { ...st, outage: { ...st.outage, announcedBy: alertId } } };
}
