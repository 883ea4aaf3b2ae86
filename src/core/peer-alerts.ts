import { Plan } from './alert-plan';
import type { PlannedAlert, PolicyInput } from './alert-types';
import type { PeerFacts } from './peers';

/**
 * Alerts about peer monitors: one when a peer falls silent, one when it is back (with how long). When the
 * silent peer shares a host with a node that is down from here, the two symptoms are one root cause and make
 * one mail ("mac-mini host looks down: its monitor is silent and primary refuses"); if that node's outage had
 * not been mailed yet, that mail announces it (its recovery threads under it). Pure, like the alert policy.
 */

/** What is remembered per peer (in SQLite, so a restart does not repeat a silence alert). */
export interface PeerAlertMemory {
  /** Last heard from it when it was found silent; null while it is live. */
  silentSince: number | null;
  /** Nodes this peer and this monitor disagree about (core/peer-disagree.ts), by node. */
  disagree?: Record<string, PeerDisagreement>;
  /** The misconfiguration last alerted about (absent or null: none). */
  problem?: string | null;
}

/** A disagreement about one node with one peer: since when, and whether its alert was planned. */
export interface PeerDisagreement {
  since: number;
  announced: boolean;
}
export type PeerAlertState = Record<string, PeerAlertMemory>;

export interface PeerPolicyOutput {
  state: PolicyInput['state'];
  peers: PeerAlertState;
  alerts: PlannedAlert[];
}

export function alertsForPeers(input: PolicyInput, memory: PeerAlertState, peers: readonly PeerFacts[]): PeerPolicyOutput {
  const plan = new Plan(input);
  const next: PeerAlertState = {};
  // Nothing is judged while this monitor's own network is down: every peer would look silent.
  if (input.monitor.monitorOffline) return { state: plan.state, peers: { ...memory }, alerts: [] };
  for (const p of peers) {
    const st: PeerAlertMemory = { ...(memory[p.name] ?? { silentSince: null }) };
    next[p.name] = st;
    if (p.problem && p.problem !== st.problem) {
      // One alert per problem, voiced like any other (not "about" the peer: both sides may see a rank
      // disagreement, and the gate then lets one of them speak).
      const facts = plan.facts('peerMisconfigured', input.monitor.nodes[0]?.name ?? '', { detail: p.problem, since: input.at });
      plan.emit(facts, plan.suppression(facts.node, 'peerMisconfigured'), null);
    }
    st.problem = p.problem ?? null;
    // A live monitor answering its URL under another name is not silent: the misconfiguration's mail says why it
    // is not heard. Only that answer masks silence (a 404, 401 or redirect may come from a proxy in front of a
    // dead host); once the URL stops answering, the silence is mailed as usual.
    if (p.silent && st.silentSince === null && !p.answersAs) {
      st.silentSince = p.lastHeardAt;
      silent(plan, input, p);
    } else if (!p.silent && p.answered && st.silentSince !== null) {
      const since = st.silentSince;
      st.silentSince = null;
      const facts = plan.facts('monitorBack', p.name, { since, durationMs: input.at - since, monitor: p.name });
      plan.emit(facts, plan.suppression(p.name, 'monitorBack', { about: p.name }), null);
    }
  }
  return { state: plan.state, peers: next, alerts: plan.alerts };
}

function silent(plan: Plan, input: PolicyInput, p: PeerFacts): void {
  const rt = p.sharesHostWith ? input.monitor.nodes.find((n) => n.name === p.sharesHostWith) : undefined;
  const durationMs = input.at - p.lastHeardAt;
  if (!rt || rt.status !== 'down') {
    const facts = plan.facts('monitorSilent', p.name, { since: p.lastHeardAt, durationMs, detail: p.lastError, monitor: p.name });
    plan.emit(facts, plan.suppression(p.name, 'monitorSilent', { about: p.name }), null);
    return;
  }
  const o = plan.node(rt.name).outage;
  const suppressed = plan.suppression(rt.name, 'hostDown', { about: p.name });
  // Announces the node's outage when nobody had mailed it (typically: the silent monitor was the one speaking).
  // Also when its start is only queued here, not sent yet (this monitor was a follower waiting on the now
  // silent speaker): this mail replaces it as the thread's first, and the gate drops the superseded one.
  const unsentRoot = o !== null && o.announced && o.announcedBy !== null && plan.unsent.has(o.announcedBy);
  const announces = o !== null && (!o.announced || unsentRoot) && o.heldFor !== 'off' && !plan.peerOutages.get(rt.name)?.mailedBy;
  const facts = plan.facts('hostDown', rt.name, {
    cause: o?.cause ?? rt.statusReason,
    detail: o?.detail ?? rt.lastError?.message ?? null,
    since: o?.since ?? rt.since,
    durationMs,
    monitor: p.name,
    ...(o?.key ? { outageKey: o.key } : {}),
  });
  plan.emit(facts, suppressed, o?.announced && !announces ? o.announcedBy : null, announces);
  if (announces && suppressed === null && o) Object.assign(o, { announced: true, heldFor: null, lastReminderAt: input.at, ...(plan.self ? { owner: plan.self } : {}) });
}
