import { isReason, REASON_INFO } from '../core/reasons';
import type { PublishedNode } from '../state/types';

/*
 * Suspicion: the monitor, not a timer, decides when a request waiting on a silent node gets company.
 * `/api/version` on a healthy Ollama answers in milliseconds even while the model is busy generating, so a
 * node that has sent no response headers for a few seconds AND fails a liveness probe right now is hung,
 * while a node that is only slow passes that probe. Pure: the client's watcher (client.ts) feeds it what it
 * sees and carries out the verdict. Kept free of imports beyond the state contract (the client stays light).
 */

/**
 * A probe reason that means the node is silent (the one reason table says which: `silent`): the same
 * silence the waiting request is getting. A node that answers, even with an error (500, 403, model missing),
 * is not hung, and the request will get that answer. The daemon's suspect probe retries these before it
 * publishes a failure.
 */
export const isNoAnswer = (reason: string): boolean => isReason(reason) && REASON_INFO[reason].silent;

export { SUSPECT_REASON } from './failure-report';

/** What the monitor said about a node, reduced to what suspicion reads. Times are the monitor's (epoch ms). */
export interface NodeEvidence {
  /** The last liveness result (`lastLiveness`); absent from an older monitor and before the first probe. */
  liveness?: { ok: boolean; reason: string; at: number; attempts: number };
}

/** Reads the evidence out of a published node. */
export function evidenceOf(n: PublishedNode | undefined): NodeEvidence | undefined {
  if (!n) return undefined;
  const l = n.lastLiveness;
  const at = l ? Date.parse(l.at) : Number.NaN;
  return l && !Number.isNaN(at) ? { liveness: { ok: l.ok, reason: l.reason, at, attempts: l.attempts } } : {};
}

export interface SuspicionInput {
  /** The client's clock: how long this attempt has been waiting for response headers. */
  waitedMs: number;
  suspectAfterMs: number;
  /** The client's clock: ms since this request last sent a suspect report (undefined: never). */
  sinceSuspectMs?: number;
  /** What the monitor had published when the attempt started; undefined when no fresh state was in hand. */
  before?: NodeEvidence;
  /** What it publishes now; undefined when the state is missing, stale or unreadable. */
  now?: NodeEvidence;
  /** A passing liveness result newer than `before` was seen at some look during this attempt. */
  sawPass: boolean;
}

export type SuspicionVerdict =
  | { action: 'wait' }
  /** Ask the monitor to probe the node now. */
  | { action: 'suspect' }
  /** Start the next node: the monitor found no answer from this one since the request started. */
  | { action: 'hedge'; reason: string; detail: string };

/** The liveness result in `now` when it is newer than the one in `before` (the monitor's clock: no skew). */
export function newLiveness(before: NodeEvidence | undefined, now: NodeEvidence | undefined): NodeEvidence['liveness'] {
  const l = now?.liveness;
  if (!l || !before) return undefined;
  const b = before.liveness?.at;
  return b === undefined || l.at > b ? l : undefined;
}

/**
 * Hedge now?
 *
 * Only liveness results NEWER than the one published when the attempt started count (compared on the
 * monitor's own clock, so the app's clock skew does not matter). The latest result wins:
 *
 *   state now | latest liveness, newer than start    | verdict
 *   ----------+--------------------------------------+-------------------------------------------------------
 *   unusable  | -                                    | wait: a missing, stale or hung monitor, or no usable
 *             |                                      |   state at start, changes nothing (today's rules)
 *   usable    | failed, no answer, retried (>1 try)  | hedge, even after an earlier pass: the node stopped
 *   usable    | failed once (cadence probe, 1 try)   | not enough: one lost packet must not duplicate a long
 *             |                                      |   generation; treated as "nothing new"
 *   usable    | failed with an answer (500, 403, …)  | not hung: treated as "nothing new"
 *   usable    | passed (now or at an earlier look)   | wait: alive after the request was sent, so slow, not
 *             |                                      |   hung; no more suspect reports; up to timeoutMs
 *   usable    | nothing new                          | suspect once waited suspectAfterMs, then again every
 *             |                                      |   suspectAfterMs while no verdict arrives
 *
 * A canary pass is not evidence here: it may have started before the hang and ended after the request did.
 */
export function judgeSuspicion(i: SuspicionInput): SuspicionVerdict {
  if (!i.now || !i.before) return { action: 'wait' };
  const l = newLiveness(i.before, i.now);
  if (l && !l.ok && isNoAnswer(l.reason) && l.attempts > 1) {
    return { action: 'hedge', reason: l.reason, detail: `the monitor's liveness probe found no answer (${l.reason}, ${l.attempts} attempts)` };
  }
  if (i.sawPass || l?.ok) return { action: 'wait' };
  if (i.waitedMs < i.suspectAfterMs) return { action: 'wait' };
  if (i.sinceSuspectMs !== undefined && i.sinceSuspectMs < i.suspectAfterMs) return { action: 'wait' };
  return { action: 'suspect' };
}
