import { bestChained, sameOutage } from './outage-id';
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
  /** Per node, the best outage key it knows (open or over): the chain a new outage is numbered in (core/outage-id; absent from older peers). */
  lastKeys?: Array<{ node: string; key: string }>;
  /** Its newest alerts: what its outbox did with each. */
  sent: Array<{
    id: number;
    node: string;
    kind: string;
    outageKey: string | null;
    status: string;
    heldBy: string | null;
    at: string;
    /** It starts its outage's thread (added by protocol 1.1; absent from older peers). */
    root?: boolean;
    /** The monitor it is about (monitorSilent, monitorBack, hostDown). */
    about?: string | null;
  }>;
  /** Its delivery health (absent from older peers): can it mail what it speaks for? */
  delivery?: DeliveryHealth;
}

export interface DeliveryHealth {
  /** Age of its oldest undelivered alert that has failed at least once (by its own clock); null: none. */
  oldestFailingMs: number | null;
  /** Alerts it queued that wait behind its gate (a follower's copies). */
  waiting: number;
  channels: Array<{ name: string; lastSuccessAt: string | null; lastFailureAt: string | null; permanentFailures: number }>;
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
  /**
   * Monotonic time it was last heard from (this run): the last poll of ours it answered well (as of when it was
   * asked), or the last authenticated poll of its own that reached us with its report; null: none yet.
   * Monotonic, so a stepped wall clock never fakes a silence.
   */
  lastOkAt: number | null;
  /** The same moment on the wall clock (for display only). */
  lastOkWall?: number | null;
  /** Monotonic time this monitor began watching (its start): a peer that never answered is silent this long after it. */
  watchingSince: number;
  /** How long its last good answer to our poll took (ms). */
  answerMs?: number | null;
  /** A misconfiguration seen in its answers (rank differs, 404, 401, redirect, other name); null: none. */
  problem?: string | null;
  /** Its last poll was answered by a live monitor under another instance name: it answers, so it is not mailed silent. */
  answersAs?: string | null;
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

/** silentAfter for every peer, or per peer (a peer whose host's node is down from here is judged sooner). */
export type SilentAfter = number | ((peer: string) => number);
const silenceOf = (s: SilentAfter, peer: string) => (typeof s === 'number' ? s : s(peer));

export function voiceOf(self: string, rank: readonly string[], views: readonly PeerView[], now: number, silentAfter: SilentAfter): Voice {
  const live = new Set(views.filter((v) => !isSilent(v, now, silenceOf(silentAfter, v.name))).map((v) => v.name));
  const known = views.every((v) => v.lastOkAt !== null || !live.has(v.name));
  return { self, rank: agreedRank(rank, views), live, known };
}

/**
 * The rank every monitor computes alike: this one's `peers.rank` while every peer that answered reports the
 * same list, else (a misconfiguration, alerted as "monitors disagree") all names sorted, which both sides of a
 * disagreement derive identically, so one voice holds even then.
 */
export function agreedRank(rank: readonly string[], views: readonly PeerView[]): readonly string[] {
  const same = (r: readonly string[]) => r.length === rank.length && r.every((n, i) => n === rank[i]);
  if (views.every((v) => !v.report || same(v.report.rank))) return rank;
  return [...new Set([...rank, ...views.flatMap((v) => v.report?.rank ?? [])])].sort();
}

/** One peer as the status page and /metrics show it: heard, the age of its last answer, who speaks. */
export interface PeerStatus {
  name: string;
  heard: boolean;
  /** Seconds since it was last heard from (either direction); null: never since start. */
  ageSeconds: number | null;
  /** How long its last answer to our poll took (ms). */
  answerMs: number | null;
  speaks: boolean;
  problem: string | null;
  lastError: string | null;
}

/** `mono`: the monotonic now. The first entry is this monitor itself (heard, age 0). */
export function peerStatus(self: string, rank: readonly string[], views: readonly PeerView[], mono: number, silentAfter: SilentAfter): PeerStatus[] {
  const voice = voiceOf(self, rank, views, mono, silentAfter);
  const who = speaker(voice);
  return [
    { name: self, heard: true, ageSeconds: 0, answerMs: null, speaks: who === self, problem: null, lastError: null },
    ...views.map((v) => ({
      name: v.name,
      heard: voice.live.has(v.name),
      ageSeconds: v.lastOkAt === null ? null : Math.max(0, Math.round((mono - v.lastOkAt) / 100) / 10),
      answerMs: v.answerMs ?? null,
      speaks: who === v.name,
      problem: v.problem ?? null,
      lastError: v.lastError,
    })),
  ];
}

/** Live peers whose own report says they cannot deliver: an alert failing there longer than `deadline`. */
export function cannotDeliver(views: readonly PeerView[], deadline: number): Set<string> {
  return new Set(views.filter((v) => (v.report?.delivery?.oldestFailingMs ?? -1) >= deadline).map((v) => v.name));
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

/**
 * Who owns an outage's thread (sends its reminders and recovery): of the monitors that mailed its start (`known`:
 * what this monitor's own outbox says; plus every peer whose report shows it mailed), the first by the agreed
 * rank among those live. Two monitors that both mailed the start (a two-way partition) compute the same owner,
 * so one sends the recovery and the other drops its copy once it is reported sent. Undefined: nobody known.
 */
export function threadOwner(voice: Voice, views: readonly PeerView[], node: string, key: string | undefined, known: Iterable<string>): string | undefined {
  const mailed = new Set(known);
  const same = (k: string | null | undefined) => sameOutage(node, k, key);
  for (const v of views) {
    if (v.report?.sent.some((x) => x.root === true && x.node === node && same(x.outageKey) && (x.status === 'sent' || x.status === 'partial'))) mailed.add(v.name);
    if (v.report?.outages.some((o) => o.node === node && same(o.key) && o.mailedBy === v.name)) mailed.add(v.name);
  }
  const alive = (n: string) => n === voice.self || voice.live.has(n);
  return voice.rank.find((n) => mailed.has(n) && alive(n)) ?? [...mailed].find(alive) ?? [...mailed][0];
}

/** Per node, the best chained outage key any peer reported (its open outage or its `lastKeys`), silent peers included. */
export function peerLastKeys(views: readonly PeerView[]): Map<string, string> {
  const byNode = new Map<string, string[]>();
  for (const v of views) {
    for (const k of [...(v.report?.lastKeys ?? []), ...(v.report?.outages ?? [])]) byNode.set(k.node, [...(byNode.get(k.node) ?? []), k.key]);
  }
  const out = new Map<string, string>();
  for (const [node, keys] of byNode) {
    const best = bestChained(node, keys);
    if (best) out.set(node, best);
  }
  return out;
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
  /** A misconfiguration seen in its answers ("monitors disagree"). */
  problem?: string | null;
  /** A live monitor answers its URL under another instance name (that problem's mail says it, not "silent"). */
  answersAs?: string | null;
}

/**
 * `now` is monotonic (silence), `wallNow` the wall clock: `lastHeardAt` is reported on the wall clock.
 */
export function peerFacts(views: readonly PeerView[], sharedHost: ReadonlyMap<string, string>, now: number, silentAfter: SilentAfter, wallNow: number = now): PeerFacts[] {
  return views.map((v) => ({
    name: v.name,
    silent: isSilent(v, now, silenceOf(silentAfter, v.name)),
    answered: v.lastOkAt !== null,
    lastHeardAt: wallNow - (now - (v.lastOkAt ?? v.watchingSince)),
    lastError: v.lastError,
    sharesHostWith: sharedHost.get(v.name),
    problem: v.problem ?? null,
    answersAs: v.answersAs ?? null,
  }));
}
