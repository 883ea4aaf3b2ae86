import type { NodeStatus } from './status';

/**
 * Two or three monitors, one voice (docs/alerts.md "One voice"). Pure judgement, in the manner of keepalived:
 * heartbeats (each monitor polls the others' GET /peer) and a fixed rank, no consensus protocol.
 *
 *   silent    a peer with no good answer for `silentAfter` (counted from this monitor's start until it
 *             answered once);
 *   speaker   the first monitor in `rank` that is live (this one always is, to itself); an outage's
 *             follow-ups (reminder, recovery) stay with the monitor that mailed its start while that one lives;
 *             an alert about a monitor is never voiced by that monitor;
 *   known     nothing is sent before every peer answered once or went silent, so a restarting monitor first
 *             learns what was mailed without it.
 *
 * Nothing here reads a clock, the network or a database.
 */

/** What GET /peer answers (src/peers/report.ts builds it, src/peers/poller.ts checks it). */
export interface PeerReport {
  protocol: 1;
  instance: string;
  version: string;
  startedAt: string;
  /** The peer's wall clock when it answered. */
  at: string;
  rank: string[];
  network: { monitorOffline: boolean; witnesses: number };
  nodes: PeerNodeVerdict[];
  /** Open outages, with who mailed their start (null: nobody yet). */
  outages: Array<{ node: string; key: string; since: string; mailedBy: string | null }>;
  /** Its newest alerts: what its outbox did with each. */
  sent: Array<{ id: number; node: string; kind: string; outageKey: string | null; status: string; heldBy: string | null; at: string }>;
}

export interface PeerNodeVerdict {
  name: string;
  status: NodeStatus;
  since: string;
  reason: string;
  /** From a direct URL: `tunnel` or `ollama_or_host`. */
  cause: string | null;
}

/** This monitor's knowledge of one peer. */
export interface PeerView {
  name: string;
  /** Wall time the last poll that got a good answer was sent (this run); null: none yet. */
  lastOkAt: number | null;
  /** When this monitor began watching (its start): a peer that never answered is silent this long after it. */
  watchingSince: number;
  /** Why the last poll failed (null after a good one). */
  lastError: string | null;
  /** The last good answer, kept while the peer is silent (what it had mailed before it fell silent). */
  report: PeerReport | null;
}

/** Silent = no good answer for silentAfter. Truth table:  answered recently → live;  answered long ago → silent;
 *  never answered → silent once silentAfter has passed since this monitor started watching. */
export function isSilent(v: Pick<PeerView, 'lastOkAt' | 'watchingSince'>, now: number, silentAfter: number): boolean {
  return now - (v.lastOkAt ?? v.watchingSince) >= silentAfter - SILENCE_SLACK_MS;
}

/**
 * Polls start every `interval`, so the poll that starts silentAfter after the last good one must find the peer
 * silent; timers fire up to a millisecond early each time, and six of them would otherwise miss it by a few
 * milliseconds and leave the verdict to the next poll, a whole interval later.
 */
const SILENCE_SLACK_MS = 100;

/** Who may speak, as the alert policy sees it. */
export interface Voice {
  self: string;
  rank: readonly string[];
  /** Peers live now. */
  live: ReadonlySet<string>;
  /** Every peer answered once since this monitor started, or is silent. */
  known: boolean;
}

export function voiceOf(self: string, rank: readonly string[], views: readonly PeerView[], now: number, silentAfter: number): Voice {
  const live = new Set(views.filter((v) => !isSilent(v, now, silentAfter)).map((v) => v.name));
  const known = views.every((v) => v.lastOkAt !== null || !live.has(v.name));
  return { self, rank, live, known };
}

/** `heldBy` of an alert held while the speaker is not known yet (this monitor just started); resolved on a later tick. */
export const UNDECIDED = 'undecided';

/** The voice of a monitor with no peers: always itself. */
export const aloneVoice = (self: string): Voice => ({ self, rank: [self], live: new Set(), known: true });

/**
 * Which monitor sends an alert: the outage's owner (who mailed its start) while it is live; else the
 * first live monitor by rank, skipping the monitor the alert is about. Undefined while peers are not known.
 */
export function speaker(v: Voice, opts: { owner?: string | null; about?: string } = {}): string | undefined {
  if (!v.known) return undefined;
  const alive = (n: string) => n === v.self || v.live.has(n);
  if (opts.owner && opts.owner !== opts.about && alive(opts.owner)) return opts.owner;
  for (const n of v.rank) if (n !== opts.about && alive(n)) return n;
  return v.self;
}

/** Open outages other monitors reported, by node: their identity and who mailed them (live peers first). */
export interface PeerOutage {
  key: string;
  mailedBy: string | null;
  /** The peer that reported it. */
  from: string;
}

export function peerOutages(views: readonly PeerView[], live: ReadonlySet<string>): Map<string, PeerOutage> {
  const out = new Map<string, PeerOutage>();
  const ordered = [...views].sort((a, b) => Number(live.has(b.name)) - Number(live.has(a.name)));
  for (const v of ordered) {
    for (const o of v.report?.outages ?? []) {
      const had = out.get(o.node);
      // A mailed one wins over one nobody mailed; otherwise the first (a live peer's) stays.
      if (!had || (had.mailedBy === null && o.mailedBy !== null)) out.set(o.node, { key: o.key, mailedBy: o.mailedBy, from: v.name });
    }
  }
  return out;
}

/** An outage's identity, the same on every monitor that adopts it: node and confirmed-down time. */
export const outageKey = (node: string, since: number): string => `${node}.${Math.round(since).toString(36)}`;

export type Gate = { act: 'send' } | { act: 'wait' } | { act: 'hold'; by: string };

/** What the sender does with a queued alert just before delivering it. */
export interface GateInput {
  kind: string;
  node: string;
  outageKey?: string;
  /** The alert starts its outage's thread. */
  outageRoot?: boolean;
}

/**
 * Just before a queued alert goes out: wait while peers are not known (a restart must first learn what was
 * mailed without it), hold it when a peer reports that outage already mailed, else send. Covers rows queued
 * before a crash or before a peer took over.
 */
export function deliveryGate(a: GateInput, self: string, known: boolean, outages: ReadonlyMap<string, PeerOutage>, views: readonly PeerView[], live: ReadonlySet<string> = new Set()): Gate {
  if (!known) return { act: 'wait' };
  if (!a.outageKey) return { act: 'send' };
  if (a.outageRoot) {
    const o = outages.get(a.node);
    // Mailed by this monitor (before a crash lost the record) or by another: either way it went out.
    if (o?.mailedBy && (o.mailedBy !== self || o.key === a.outageKey)) return { act: 'hold', by: o.mailedBy };
    return { act: 'send' };
  }
  if (a.kind === 'recovered') {
    // The live monitor that mailed the outage's start mails its end: both may see the recovery at once.
    const o = outages.get(a.node);
    if (o?.mailedBy && o.mailedBy !== self && o.key === a.outageKey && live.has(o.mailedBy)) return { act: 'hold', by: o.mailedBy };
    for (const v of views) {
      // Sent, or queued at a live peer (it goes out from there): either way it is not this monitor's to send.
      const done = v.report?.sent.some((s) => s.kind === 'recovered' && s.outageKey === a.outageKey && (s.status === 'sent' || s.status === 'partial' || (s.status === 'pending' && live.has(v.name))));
      if (done) return { act: 'hold', by: v.name };
    }
  }
  return { act: 'send' };
}

/** What the peer alerts need to know about one peer now. */
export interface PeerFacts {
  name: string;
  silent: boolean;
  /** It answered at least once since this monitor started (a peer not heard from yet is not "back"). */
  answered: boolean;
  /** Last good answer, or when watching began if never. */
  lastHeardAt: number;
  lastError: string | null;
  sharesHostWith?: string;
}

export function peerFacts(views: readonly PeerView[], sharedHost: ReadonlyMap<string, string>, now: number, silentAfter: number): PeerFacts[] {
  return views.map((v) => ({
    name: v.name,
    silent: isSilent(v, now, silentAfter),
    answered: v.lastOkAt !== null,
    lastHeardAt: v.lastOkAt ?? v.watchingSince,
    lastError: v.lastError,
    sharesHostWith: sharedHost.get(v.name),
  }));
}
