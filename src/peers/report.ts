import type { AlertPolicyState } from '../core/alert-types';
import type { MonitorState } from '../core/decide';
import type { PeerReport } from '../core/peers';
import type { AlertWithDeliveries } from '../storage/outbox';

const iso = (ms: number) => new Date(ms).toISOString();

export interface PeerReportInput {
  instance: string;
  version: string;
  startedAt: number;
  now: number;
  rank: readonly string[];
  witnesses: number;
  state: MonitorState;
  /** The alert policy's memory: open outages and who mailed them. */
  policy: AlertPolicyState;
  /** Newest alerts first. */
  recent: readonly AlertWithDeliveries[];
  /** An alert's status (sent, pending, …) by id. */
  alertStatus(id: number): string | undefined;
}

const MAILED: ReadonlySet<string> = new Set(['sent', 'partial']);

/**
 * The body of GET /peer: who this monitor is, its network health, its verdict per node, its open outages
 * (and who mailed each) and what its outbox did with its newest alerts. Pure; no secret is in any of it.
 */
export function buildPeerReport(i: PeerReportInput): PeerReport {
  const outages: PeerReport['outages'] = [];
  for (const [node, st] of Object.entries(i.policy)) {
    const o = st.outage;
    if (!o?.key) continue;
    let mailedBy: string | null = null;
    if (o.announced && o.owner && o.owner !== i.instance) mailedBy = o.owner;
    else if (o.announced && o.announcedBy !== null && MAILED.has(i.alertStatus(o.announcedBy) ?? '')) mailedBy = i.instance;
    outages.push({ node, key: o.key, since: iso(o.since), mailedBy });
  }
  return {
    protocol: 1,
    instance: i.instance,
    version: i.version,
    startedAt: iso(i.startedAt),
    at: iso(i.now),
    rank: [...i.rank],
    network: { monitorOffline: i.state.monitorOffline, witnesses: i.witnesses },
    nodes: i.state.nodes.map((n) => ({ name: n.name, status: n.status, since: iso(n.since), reason: n.statusReason, cause: n.lastError?.cause ?? null })),
    outages,
    sent: i.recent.map((a) => ({
      id: a.id,
      node: a.node,
      kind: a.kind,
      outageKey: a.facts.outageKey ?? null,
      status: a.status,
      heldBy: a.facts.heldBy ?? null,
      at: iso(a.createdAt),
    })),
  };
}
