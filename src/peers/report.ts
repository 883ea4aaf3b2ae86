import type { AlertPolicyState } from '../core/alert-types';
import type { MonitorState } from '../core/decide';
import { bestChained } from '../core/outage-id';
import type { PeerReport } from '../core/peers';
import type { AlertWithDeliveries, PendingDelivery } from '../storage/outbox';

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
  /** Deliveries not done yet (for the delivery health); absent: not reported. */
  pending?: readonly PendingDelivery[];
}

/** Can this monitor deliver? Its oldest failing delivery, what waits behind the gate, each channel's last success. */
export function deliveryHealth(now: number, pending: readonly PendingDelivery[], recent: readonly AlertWithDeliveries[]): NonNullable<PeerReport['delivery']> {
  const failing = pending.filter((d) => d.attempts > 0);
  const oldest = failing.reduce((t, d) => Math.min(t, d.createdAt), Infinity);
  const channels = new Map<string, { name: string; lastSuccessAt: string | null; lastFailureAt: string | null; permanentFailures: number }>();
  for (const a of recent) {
    for (const d of a.deliveries) {
      const c = channels.get(d.channel) ?? { name: d.channel, lastSuccessAt: null, lastFailureAt: null, permanentFailures: 0 };
      channels.set(d.channel, c);
      if (d.status === 'sent' && d.deliveredAt !== null && (c.lastSuccessAt === null || d.deliveredAt > Date.parse(c.lastSuccessAt))) c.lastSuccessAt = iso(d.deliveredAt);
      if (d.lastError !== null && d.status !== 'sent' && d.status !== 'held' && (c.lastFailureAt === null || a.createdAt > Date.parse(c.lastFailureAt))) c.lastFailureAt = iso(a.createdAt);
      if (d.status === 'failed') c.permanentFailures++;
    }
  }
  return {
    oldestFailingMs: Number.isFinite(oldest) ? Math.max(0, now - oldest) : null,
    waiting: new Set(pending.filter((d) => d.attempts === 0).map((d) => d.alertId)).size,
    channels: [...channels.values()],
  };
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
  const lastKeys = Object.entries(i.policy).flatMap(([node, st]) => {
    const key = bestChained(node, [st.lastKey, st.outage?.key]);
    return key ? [{ node, key }] : [];
  });
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
    lastKeys,
    sent: i.recent.map((a) => ({
      id: a.id,
      node: a.node,
      kind: a.kind,
      outageKey: a.facts.outageKey ?? null,
      status: a.status,
      heldBy: a.facts.heldBy ?? null,
      at: iso(a.createdAt),
      root: a.facts.outageRoot === true,
      about: a.facts.monitor ?? null,
    })),
    ...(i.pending ? { delivery: deliveryHealth(i.now, i.pending, i.recent) } : {}),
  };
}
