import { healthy, Plan } from './alert-plan';
import type { AlertFacts, PlannedAlert, PolicyInput } from './alert-types';
import type { PeerAlertState, PeerDisagreement } from './peer-alerts';
import { isSilent, type PeerNodeVerdict, type PeerView } from './peers';
import type { NodeStatus } from './status';

/*
 * Monitors that disagree about a node (issue 22). Each monitor judges the node's public path from its own
 * network, so a disagreement that outlasts the few seconds in which one noticed a change before the other is
 * a path problem (a regional edge fault, a home DNS or routing fault, an ISP blocking one direction), worth
 * one mail that says which path: "monitors disagree about primary: mac sees up, oracle sees down (Cloudflare
 * tunnel down)", and one when they agree again. Pure, like the alert policy; the voice decides who sends.
 *
 * Truth table of one node and one live peer, per tick:
 *   statuses differ (one up|degraded, the other down), no memory      → remember since = now
 *   differ, remembered for >= disagreeAfter, not announced             → monitorsDisagree (once)
 *   agree (both healthy or both down), announced                       → monitorsAgree, forget
 *   agree, not announced                                               → forget (a short lag is normal)
 *   either side unknown, the peer silent or offline, this one offline  → nothing changes (no information)
 */

/** peers.disagreeAfter's default (src/config/schema.ts says why). */
export const DEFAULT_DISAGREE_AFTER_MS = 120_000;

/** Two verdicts about one node disagree when one monitor sees it serve and the other sees it down. */
export function verdictsDiffer(own: NodeStatus, theirs: NodeStatus): boolean {
  return (healthy(own) && theirs === 'down') || (own === 'down' && healthy(theirs));
}

/** What the disagreement alerts need about one peer now. */
export interface PeerVerdicts {
  name: string;
  /** Answering (not silent) and its own network up: its verdicts are current. */
  current: boolean;
  nodes: readonly PeerNodeVerdict[];
}

/** Each peer's last verdicts, and whether they are current (it answers, and its own network is up). */
export function currentVerdicts(views: readonly PeerView[], now: number, silentAfter: number): PeerVerdicts[] {
  return views.map((v) => ({
    name: v.name,
    current: v.report !== null && !isSilent(v, now, silentAfter) && !v.report.network.monitorOffline,
    nodes: v.report?.nodes ?? [],
  }));
}

export interface DisagreeOutput {
  state: PolicyInput['state'];
  peers: PeerAlertState;
  alerts: PlannedAlert[];
}

export function alertsForDisagreement(input: PolicyInput, memory: PeerAlertState, peers: readonly PeerVerdicts[], disagreeAfter: number): DisagreeOutput {
  const plan = new Plan(input);
  const next: PeerAlertState = { ...memory };
  const self = input.peers?.voice.self ?? 'this monitor';
  if (input.monitor.monitorOffline) return { state: plan.state, peers: next, alerts: [] };
  for (const p of peers) {
    const st = next[p.name];
    if (!st || !p.current) continue;
    const remembered: Record<string, PeerDisagreement> = { ...(st.disagree ?? {}) };
    for (const own of input.monitor.nodes) {
      const theirs = p.nodes.find((n) => n.name === own.name);
      if (!theirs || own.status === 'unknown' || theirs.status === 'unknown') continue;
      const d = remembered[own.name];
      const views: NonNullable<AlertFacts['views']> = [
        { monitor: self, status: own.status, reason: own.status === 'up' ? null : own.statusReason },
        { monitor: p.name, status: theirs.status, reason: theirs.status === 'up' ? null : theirs.reason },
      ];
      if (verdictsDiffer(own.status, theirs.status)) {
        if (!d) {
          remembered[own.name] = { since: input.at, announced: false };
          continue;
        }
        if (d.announced || input.at - d.since < disagreeAfter) continue;
        remembered[own.name] = { ...d, announced: true };
        const facts = plan.facts('monitorsDisagree', own.name, { since: d.since, durationMs: input.at - d.since, views, cause: theirs.status === 'down' ? theirs.reason : own.statusReason });
        plan.emit(facts, plan.suppression(own.name, 'monitorsDisagree'), null);
      } else if (d) {
        delete remembered[own.name];
        if (!d.announced) continue;
        const facts = plan.facts('monitorsAgree', own.name, { since: d.since, durationMs: input.at - d.since, views });
        plan.emit(facts, plan.suppression(own.name, 'monitorsAgree'), null);
      }
    }
    const { disagree: _old, ...rest } = st;
    next[p.name] = Object.keys(remembered).length > 0 ? { ...rest, disagree: remembered } : rest;
  }
  return { state: plan.state, peers: next, alerts: plan.alerts };
}
