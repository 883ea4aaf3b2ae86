import type { PublishedNode } from '../state/types';

/*
 * Suspicion: the monitor, not a timer, decides when a request waiting on a silent node gets company.
 * `/api/version` on a healthy Ollama answers in milliseconds even while the model is busy generating, so a
 * node that has sent no response headers for a few seconds AND fails a liveness probe right now is hung,
 * while a node that is only slow passes that probe. Pure: the client's watcher (client.ts) feeds it what it
 * sees and carries out the verdict. Kept free of imports beyond the state contract (the client stays light).
 */

/**
 * Probe reasons that mean "no answer at all": the same silence the waiting request is getting. A node that
 * answers, even with an error (500, 403, model missing), is not hung, and the request will get that answer.
 * The daemon's suspect probe retries these, and only these, before it publishes a failure.
 */
export const NO_ANSWER_REASONS: ReadonlySet<string> = new Set([
  'timeout',
  'connect_timeout',
  'refused',
  'reset',
  'cloudflare_tunnel_down',
  'cloudflare_origin_unreachable',
  'cloudflare_timeout',
]);

export const isNoAnswer = (reason: string): boolean => NO_ANSWER_REASONS.has(reason);

/** The report reason a client sends to ask the monitor for an immediate liveness probe of a node. */
export const SUSPECT_REASON = 'suspect';

/** What the monitor said about a node, reduced to what suspicion reads. Times are the monitor's (epoch ms). */
export interface NodeEvidence {
  /** When the monitor's last passing probe of any kind started (`lastOkAt`). */
  okAt?: number;
  /** The last liveness result (`lastLiveness`). */
  liveness?: { ok: boolean; reason: string; at: number; attempts: number };
}

/** Reads the evidence out of a published node; undefined fields for an older monitor that lacks them. */
export function evidenceOf(n: PublishedNode | undefined): NodeEvidence | undefined {
  if (!n) return undefined;
  const ms = (s: string | null | undefined): number | undefined => {
    if (!s) return undefined;
    const t = Date.parse(s);
    return Number.isNaN(t) ? undefined : t;
  };
  const l = n.lastLiveness;
  const at = ms(l?.at);
  return {
    ...(ms(n.lastOkAt) !== undefined ? { okAt: ms(n.lastOkAt) } : {}),
    ...(l && at !== undefined ? { liveness: { ok: l.ok, reason: l.reason, at, attempts: l.attempts } } : {}),
  };
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
}

export type SuspicionVerdict =
  | { action: 'wait' }
  /** Ask the monitor to probe the node now. */
  | { action: 'suspect' }
  /** Start the next node: the monitor found no answer from this one since the request started. */
  | { action: 'hedge'; reason: string; detail: string };

const newer = (a: number | undefined, b: number | undefined): boolean => a !== undefined && (b === undefined || a > b);

/**
 * Hedge now?
 *
 * Evidence counts only when it is NEWER than what the monitor had published when the attempt started
 * (compared on the monitor's own clock, so the app's clock skew does not matter):
 *
 *   state now | a pass newer | liveness newer: failed, | verdict
 *   usable    | than start   | no answer, retried      |
 *   ----------+--------------+-------------------------+-----------------------------------------------------
 *   no        | -            | -                       | wait (today's rules: a missing or hung monitor
 *             |              |                         |   changes nothing; so does no usable state at start)
 *   yes       | yes          | any                     | wait: the node answered after our request was sent,
 *             |              |                         |   so it is slow, not hung; up to timeoutMs as before
 *   yes       | no           | yes                     | hedge
 *   yes       | no           | failed once (cadence    | wait: one lost packet must not duplicate a long
 *             |              |   probe, 1 attempt)     |   generation; ask for a suspect probe instead
 *   yes       | no           | no                      | suspect once waited suspectAfterMs, and again every
 *             |              |                         |   suspectAfterMs while no verdict arrives
 *
 * A node that passes and then hangs while this request waits is not hedged (it waits up to timeoutMs): the
 * pass says it was alive after the request was sent, and telling a late hang from a long prompt would need
 * more probes than a first token is worth.
 */
export function judgeSuspicion(i: SuspicionInput): SuspicionVerdict {
  const now = i.now;
  const before = i.before;
  if (!now || !before) return { action: 'wait' };
  if (newer(now.okAt, before.okAt)) return { action: 'wait' };
  const l = now.liveness;
  if (l && l.ok && newer(l.at, before.liveness?.at)) return { action: 'wait' };
  if (l && !l.ok && newer(l.at, before.liveness?.at) && isNoAnswer(l.reason) && l.attempts > 1) {
    return { action: 'hedge', reason: l.reason, detail: `the monitor's liveness probe found no answer (${l.reason}, ${l.attempts} attempts)` };
  }
  if (i.waitedMs < i.suspectAfterMs) return { action: 'wait' };
  if (i.sinceSuspectMs !== undefined && i.sinceSuspectMs < i.suspectAfterMs) return { action: 'wait' };
  return { action: 'suspect' };
}
