import type { NodeStatus } from '../core/status';
import type { PublishedEndpoint, PublishedNode, PublishedState } from '../state/types';

/*
 * One view for an app that reads several monitors (issue 22). Pure: documents, the app's own recent results
 * and the time in; a choice, the next memory and warnings out. No Node API, no clock, no I/O, so it runs
 * unchanged in an edge runtime (only fetch-level inputs).
 *
 * Why not "the freshest document": two monitors that disagree for minutes (one host reaches the tunnel, the
 * other gets Cloudflare's 530) rewrite their documents every heartbeat, so the freshest one alternates and
 * the app's traffic, warm cache and context with it. The rule (docs/client.md "Several monitors"):
 *
 *   1. Each monitor's document is read for what it says about the nodes. A document that contradicts itself
 *      (preferred is a node it calls down, or no node at all) is read by its node verdicts; a monitor whose
 *      clock is off (updatedAt in the future, or its documents keep changing while their updatedAt is older
 *      than staleAfterMs) counts while its document keeps changing, by the app's clock. Each is warned once.
 *   2. The monitors that count agree on the preferred node  → that node, at once (an outage every monitor
 *      sees moves the app as fast as before).
 *   3. They disagree → the choice made when the current set of views began is kept for as long as no
 *      monitor's own view (its preferred node, a node's status) changes: one steady choice. A change of
 *      some monitor's view keeps the previous choice too, as long as a monitor still prefers it and the
 *      app has not seen it fail, except that bad news travels fast: when a monitor has just seen the node in
 *      use go down and the app has no recent success with it, the app moves at once (as it did when that
 *      monitor's document was the freshest). Good news (a node back up) waits until the monitors agree.
 *   4. A new choice (no earlier one, or it is no longer anyone's preference) ranks the monitors' preferred
 *      nodes by the app's own recent results with each (a success first, a failure last), then by the
 *      nodes' priority: trying the better node first costs little, since a hard failure fails over in
 *      milliseconds and suspicion handles a hang.
 *   5. While the views stay the same, the app's own failure on the chosen node (newer than the choice)
 *      moves the choice once, to the next candidate; it does not come back before some view changes.
 *
 * Truth table of one read during a disagreement (same views = the signature of every counted view):
 *   same views, choice still preferred by some monitor, no app failure since  → keep
 *   same views, app failed on the choice since it was made, not moved yet       → next candidate (once)
 *   views changed, a monitor newly calls the choice down, no recent app success → next candidate
 *   views changed, choice still preferred by some monitor, no recent failure    → keep
 *   views changed otherwise / first read                                         → rank (4)
 */

/** How long the app's own result with a node counts as evidence in a disagreement. */
export const OUTCOME_WINDOW_MS = 5 * 60_000;
/** A document dated this far ahead of the app's clock is from a monitor whose clock is off. */
export const FUTURE_SLACK_MS = 2_000;

export interface MonitorDoc {
  label: string;
  state?: PublishedState;
  error?: string;
}

/** The app's own latest results with a node (epoch ms by the app's clock). */
export interface AppOutcome {
  lastOkAt?: number;
  lastFailAt?: number;
}
export type AppOutcomes = Readonly<Record<string, AppOutcome | undefined>>;

export interface MonitorMemory {
  /** The last updatedAt seen, and when (app's clock) it was first seen: liveness for a monitor whose clock is off. */
  updatedAt: string;
  seenAt: number;
  /** Its documents keep changing while their updatedAt is older than staleAfterMs: its clock is behind. */
  behind?: boolean;
}

export interface ConsensusMemory {
  /** The signature of the counted views the current choice belongs to ('' = none). */
  views: string;
  choice?: string;
  /** When the current choice was made (app's clock). */
  madeAt: number;
  /** The app's own failure already moved the choice under these views. */
  moved: boolean;
  /** Why the current choice was made (said again while it is kept under the same views). */
  why?: string;
  /** Each counted monitor's verdict per node at the last read: what is news at the next one. */
  seen?: Record<string, Record<string, NodeStatus>>;
  monitors: Record<string, MonitorMemory>;
}

export const emptyConsensus = (): ConsensusMemory => ({ views: '', madeAt: 0, moved: false, monitors: {} });

/** A monitor's view as the app settled it (getPreferredEndpoint's `disagreement`). */
export interface MonitorVerdict {
  monitor: string;
  preferred: string;
  nodes: Record<string, NodeStatus>;
}

export interface Disagreement {
  monitors: MonitorVerdict[];
  chosen: string;
  why: string;
}

export interface ConsensusResult {
  /** The document to plan with (a counted monitor's, corrected if it contradicted itself); undefined: none counts. */
  state?: PublishedState;
  /** Which monitor it came from. */
  label?: string;
  /** No monitor counts: why (the plan then uses the configured order), with the newest stale document if any. */
  error?: string;
  disagreement?: Disagreement;
  memory: ConsensusMemory;
  /** Problems with a monitor's document; `key` is stable so the caller can log each once. */
  warnings: Array<{ key: string; message: string }>;
}

interface Counted {
  label: string;
  index: number;
  state: PublishedState;
  preferred: string;
  skewed: boolean;
}

const usable = (s: NodeStatus): number => ({ up: 0, degraded: 1, unknown: 2, down: 3 })[s];
const endpointOf = (n: PublishedNode): PublishedEndpoint => ({ name: n.name, url: n.url, model: n.model, api: n.api });

/**
 * The document's preferred node, or, when it contradicts itself, the one its node verdicts give: the best
 * usable node by priority (up before degraded before unknown). With every node down, its preferred stays
 * (the contract's "last preferred node") when it is one of its nodes.
 */
export function readByVerdicts(s: PublishedState): { state: PublishedState; problem?: string } {
  const named = s.nodes.find((n) => n.name === s.preferred.name);
  const anyUp = s.nodes.some((n) => n.status !== 'down');
  if (named && (named.status !== 'down' || !anyUp)) return { state: s };
  const best = [...s.nodes].sort((a, b) => usable(a.status) - usable(b.status) || a.priority - b.priority)[0];
  if (!best) return { state: s, problem: `its document lists no nodes` };
  const problem = named
    ? `its document prefers ${s.preferred.name}, which it calls down; read by its node verdicts (${best.name})`
    : `its document prefers ${s.preferred.name}, which is not one of its nodes; read by its node verdicts (${best.name})`;
  return { state: { ...s, preferred: endpointOf(best), allDown: best.status === 'down' }, problem };
}

const failedSince = (o: AppOutcome | undefined, t: number): boolean => o?.lastFailAt !== undefined && o.lastFailAt >= t && (o.lastOkAt === undefined || o.lastFailAt > o.lastOkAt);
/** The app's evidence about a node: 0 = a recent success, 1 = none, 2 = a recent failure. */
function evidence(o: AppOutcome | undefined, now: number): number {
  const recent = (t: number | undefined): t is number => t !== undefined && now - t >= 0 && now - t <= OUTCOME_WINDOW_MS;
  const ok = recent(o?.lastOkAt) ? (o?.lastOkAt as number) : undefined;
  const fail = recent(o?.lastFailAt) ? (o?.lastFailAt as number) : undefined;
  if (fail !== undefined && (ok === undefined || fail > ok)) return 2;
  if (ok !== undefined) return 0;
  return 1;
}

const signature = (counted: readonly Counted[]): string =>
  counted.map((c) => `${c.label}=${c.preferred}|${c.state.nodes.map((n) => `${n.name}:${n.status}`).join(',')}`).join(';');

/** The best node's priority any counted monitor gives it (lower is better). */
function priorityOf(counted: readonly Counted[], node: string): number {
  let p = Number.POSITIVE_INFINITY;
  for (const c of counted) for (const n of c.state.nodes) if (n.name === node && n.priority < p) p = n.priority;
  return p;
}

/**
 * Settles the monitors' documents into one. `staleAfterMs` is the app's override of each document's own.
 * Never throws for a document that passed the state validator; never returns a node that no monitor lists.
 */
export function settle(docs: readonly MonitorDoc[], outcomes: AppOutcomes, memory: ConsensusMemory, now: number, staleAfterMs?: number): ConsensusResult {
  const warnings: ConsensusResult['warnings'] = [];
  const monitors: Record<string, MonitorMemory> = {};
  const counted: Counted[] = [];
  let newestStale: { state: PublishedState; label: string; at: number } | undefined;
  const reasons: string[] = [];

  docs.forEach((d, index) => {
    const s = d.state;
    if (!s) {
      reasons.push(`${d.label}: ${d.error ?? 'no answer yet'}`);
      return;
    }
    const limit = staleAfterMs ?? s.staleAfterMs;
    const at = Date.parse(s.updatedAt);
    const prev = memory.monitors[d.label];
    const seenAt = prev && prev.updatedAt === s.updatedAt ? prev.seenAt : now;
    // Alive by the app's clock: its document changed (the heartbeat rewrites updatedAt) within staleAfter.
    const changing = now - seenAt >= 0 && now - seenAt <= limit;
    const future = at - now > FUTURE_SLACK_MS;
    // A document stale by its own date that keeps changing comes from a live monitor whose clock is behind
    // (a hung monitor's document stops changing; one seen only once is judged by its date, as before).
    const advanced = prev !== undefined && prev.updatedAt !== s.updatedAt;
    const behind = !future && now - at > limit && changing && (advanced || prev?.behind === true);
    monitors[d.label] = { updatedAt: s.updatedAt, seenAt, ...(behind ? { behind } : {}) };
    const skewed = future || behind;
    if (skewed) {
      warnings.push({
        key: `${d.label}\u0000clock`,
        message: `monitor ${d.label}: its clock looks off (updatedAt ${s.updatedAt}, ${Math.round((at - now) / 1000)}s from this app's clock); its document is used while it keeps changing, and only for its node verdicts`,
      });
    }
    const fresh = !Number.isNaN(at) && !future && now - at <= limit;
    if (!(fresh || (skewed && changing))) {
      if (!newestStale || at > newestStale.at) newestStale = { state: s, label: d.label, at };
      reasons.push(`${d.label}: ${d.error ?? `stale since ${s.updatedAt}`}`);
      return;
    }
    const read = readByVerdicts(s);
    if (read.problem) warnings.push({ key: `${d.label}\u0000contradiction`, message: `monitor ${d.label}: ${read.problem}` });
    counted.push({ label: d.label, index, state: read.state, preferred: read.state.preferred.name, skewed });
  });

  if (counted.length === 0) {
    const error = `no monitor has a fresh state (${reasons.join('; ')})`;
    return { ...(newestStale ? { state: newestStale.state, label: newestStale.label } : {}), error, memory: { ...emptyConsensus(), monitors }, warnings };
  }

  /** The document for a choice: the freshest counted one that prefers it (a skewed clock's date is not compared). */
  const docFor = (node: string): Counted => {
    const those = counted.filter((c) => c.preferred === node);
    const dated = those.filter((c) => !c.skewed).sort((a, b) => Date.parse(b.state.updatedAt) - Date.parse(a.state.updatedAt) || a.index - b.index);
    return (dated[0] ?? those[0]) as Counted;
  };
  const candidates = [...new Set(counted.map((c) => c.preferred))];
  const views = signature(counted);
  const seen = Object.fromEntries(counted.map((c) => [c.label, Object.fromEntries(c.state.nodes.map((n) => [n.name, n.status]))]));
  /** A monitor that did not call `node` down at the last read (or was not counted) calls it down now. */
  const newlyDown = (node: string): string | undefined => counted.find((c) => seen[c.label]?.[node] === 'down' && memory.seen?.[c.label]?.[node] !== 'down')?.label;

  if (candidates.length === 1) {
    const c = docFor(candidates[0] as string);
    return { state: c.state, label: c.label, memory: { views, choice: c.preferred, madeAt: now, moved: false, seen, monitors }, warnings };
  }

  const rank = (exclude?: string): string[] =>
    candidates
      .filter((n) => n !== exclude)
      .map((n) => ({ n, ev: evidence(outcomes[n], now), p: priorityOf(counted, n), i: Math.min(...counted.filter((c) => c.preferred === n).map((c) => c.index)) }))
      .sort((a, b) => a.ev - b.ev || a.p - b.p || a.i - b.i)
      .map((x) => x.n);

  let choice: string;
  let why: string;
  let madeAt = memory.madeAt;
  let moved = memory.moved;
  const kept = memory.choice !== undefined && candidates.includes(memory.choice) ? memory.choice : undefined;
  if (kept !== undefined && memory.views === views && !memory.moved && failedSince(outcomes[kept], memory.madeAt)) {
    choice = rank(kept)[0] as string;
    why = `this app's own request to ${kept} failed while the monitors disagreed; moved to ${choice} until a monitor's view changes`;
    madeAt = now;
    moved = true;
  } else if (kept !== undefined && memory.views !== views && newlyDown(kept) !== undefined && evidence(outcomes[kept], now) !== 0) {
    // Bad news travels fast: a monitor has just seen the node in use go down, and this app has no recent
    // success with it to say otherwise. Good news (a node back up) waits until the monitors agree.
    choice = rank(kept)[0] as string;
    why = `${newlyDown(kept)} has just seen ${kept} down and this app has no recent success with it; moved to ${choice} until a monitor's own view changes`;
    madeAt = now;
    moved = false;
  } else if (kept !== undefined && (memory.views === views || evidence(outcomes[kept], now) < 2)) {
    choice = kept;
    why =
      memory.views === views && memory.why !== undefined
        ? memory.why
        : `kept ${kept}, chosen before this disagreement; it changes only when a monitor's own view does or this app sees it fail`;
    if (memory.views !== views) {
      madeAt = now;
      moved = false;
    }
  } else {
    choice = rank()[0] as string;
    const ev = evidence(outcomes[choice], now);
    why =
      ev === 0
        ? `${choice}: this app's own recent requests to it succeeded`
        : `${choice}: the better node by priority that a monitor prefers${candidates.some((n) => evidence(outcomes[n], now) === 2) ? ', the other failed for this app' : ''} (a failed request still fails over in milliseconds)`;
    madeAt = now;
    moved = false;
  }
  const c = docFor(choice);
  const disagreement: Disagreement = {
    monitors: counted.map((m) => ({ monitor: m.label, preferred: m.preferred, nodes: Object.fromEntries(m.state.nodes.map((n) => [n.name, n.status])) })),
    chosen: choice,
    why,
  };
  return { state: c.state, label: c.label, disagreement, memory: { views, choice, madeAt, moved, why, seen, monitors }, warnings };
}
