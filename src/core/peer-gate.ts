import { sameOutage } from './outage-id';
import type { PeerOutage, PeerReport } from './peers';

/**
 * The delivery gate of one voice (docs/alerts.md "One voice"), in the manner of Alertmanager's HA
 * notification log: every monitor queues every alert it decides; just before a delivery this pure function
 * says whether to send it, wait, or drop it because a peer already sent it.
 *
 * The rule, in order:
 *   0. a later alert of this monitor replaced it as its outage's first mail                  → hold (drop);
 *   1. peers not known yet (one neither heard from nor silent since this monitor started)  → wait;
 *   2. a peer's report shows this same alert SENT (accepted by a mail server or webhook)    → hold (drop);
 *   3. this monitor is the alert's speaker                                                   → send;
 *   4. else it is a follower at position p (1 = next after the speaker): it waits p × deadline
 *      behind the gate, then sends it itself (same Message-ID), unless rule 2 fired meanwhile.
 *
 * The speaker is, among this monitor and its live peers that can deliver, minus the monitor the alert is
 * about: the outage's owner (who mailed its start) for its reminders and recovery, else the first in rank.
 *
 * Why no alert can be lost (mutual holds are impossible by construction): an alert is dropped only on
 * evidence that a peer SENT it (rule 2; "held" or "pending" at a peer is never evidence), and every wait is
 * bounded (rule 1 by silentAfter, rule 4 by p × deadline, both on the monotonic clock). So each monitor that
 * decided an alert either sends it or has seen it sent. The price: a monitor that cannot see the sender's
 * reports (a two-way partition) sends its own copy after its deadline, with the same Message-ID.
 */

export type GateVerdict =
  | { act: 'send'; takeover?: string }
  | { act: 'wait'; forMs: number; speaker?: string }
  | { act: 'hold'; by: string };

/** A queued alert as the gate sees it. */
export interface GateAlert {
  kind: string;
  node: string;
  /** When it was decided (wall ms): matches alerts without an outage identity across monitors. */
  at: number;
  outageKey?: string;
  /** It starts its outage's thread. */
  outageRoot?: boolean;
  /** Its outage is still open here (false: it ended, and its start is still queued, e.g. the SMTP server refused). */
  current?: boolean;
  /** The monitor it is about (monitorSilent, monitorBack, hostDown): never its speaker. */
  about?: string;
  /** Who mailed its outage's start (for reminders and recoveries). */
  owner?: string;
  /** A later alert of this monitor opened the same outage's thread (a "host looks down" replacing a start still held). */
  supersededBy?: number;
}

export interface GateContext {
  self: string;
  /** Every monitor, best first (already the agreed rank: core/peers agreedRank). */
  rank: readonly string[];
  /** Every peer answered once or is silent. */
  known: boolean;
  live: ReadonlySet<string>;
  /** Live peers whose own report says they cannot deliver (an alert failing longer than the deadline). */
  cannotDeliver: ReadonlySet<string>;
  reports: ReadonlyArray<{ name: string; report: PeerReport | null }>;
  /** Open outages peers reported, by node. */
  outages: ReadonlyMap<string, PeerOutage>;
  /** How long this alert has waited behind the gate here (monotonic). */
  waitedMs: number;
  /** peers.takeoverAfter. */
  deadline: number;
}

const SENT: ReadonlySet<string> = new Set(['sent', 'partial']);

/** Alerts without an outage identity match a peer's within this window of their decision times. */
export const matchWindow = (deadline: number) => Math.max(120_000, 3 * deadline);

/** The peer that reports this alert sent, if any (rule 2). */
export function sentBy(a: GateAlert, ctx: Pick<GateContext, 'self' | 'reports' | 'outages' | 'deadline'>): string | undefined {
  if (a.outageRoot && a.current !== false) {
    // A peer's open outage on the node, while ours is open too, is the same outage whatever its key. Mailed by
    // another monitor, or by this one before a crash lost the record (same identity). A start still queued for
    // an outage that is over here is another outage than the one a peer has open now: sent, not dropped.
    const o = ctx.outages.get(a.node);
    if (o?.mailedBy && (o.mailedBy !== ctx.self || sameOutage(a.node, o.key, a.outageKey))) return o.mailedBy;
  }
  for (const { name, report } of ctx.reports) {
    for (const s of report?.sent ?? []) {
      if (!SENT.has(s.status) || s.node !== a.node) continue;
      if (a.outageKey) {
        // One outage: the same thread (two monitors that named it on their own may differ in its `since`).
        if (!sameOutage(a.node, s.outageKey, a.outageKey)) continue;
        if (a.outageRoot ? s.root === true : s.kind === a.kind && (a.kind !== 'reminder' || Math.abs(Date.parse(s.at) - a.at) < matchWindow(ctx.deadline))) return name;
      } else if (s.kind === a.kind && (s.about ?? undefined) === a.about && Math.abs(Date.parse(s.at) - a.at) < matchWindow(ctx.deadline)) return name;
    }
  }
  return undefined;
}

/** Who may send this alert, best first: the speaker, then the followers in the order they take over. */
export function voicesFor(a: GateAlert, ctx: Pick<GateContext, 'self' | 'rank' | 'live' | 'cannotDeliver'>): string[] {
  const able = (n: string) => n !== a.about && (n === ctx.self || (ctx.live.has(n) && !ctx.cannotDeliver.has(n)));
  const order = ctx.rank.filter(able);
  if (!order.includes(ctx.self) && ctx.self !== a.about) order.push(ctx.self);
  const followUp = a.kind === 'recovered' || a.kind === 'reminder';
  if (followUp && a.owner && order.includes(a.owner)) return [a.owner, ...order.filter((n) => n !== a.owner)];
  return order;
}

export function gate(a: GateAlert, ctx: GateContext): GateVerdict {
  if (a.supersededBy !== undefined) return { act: 'hold', by: ctx.self };
  if (!ctx.known) return { act: 'wait', forMs: ctx.deadline };
  const by = sentBy(a, ctx);
  if (by) return { act: 'hold', by };
  const order = voicesFor(a, ctx);
  const position = order.indexOf(ctx.self);
  const speaker = order[0];
  if (position <= 0 || speaker === undefined) return { act: 'send' };
  const due = position * ctx.deadline;
  if (ctx.waitedMs >= due) return { act: 'send', takeover: speaker };
  return { act: 'wait', forMs: due - ctx.waitedMs, speaker };
}
