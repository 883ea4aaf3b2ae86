import { isCloudflareProtection } from '../core/cloudflare';
import { REASON_INFO, type Reason } from '../core/reasons';
import type { NodeStatus } from '../core/status';
import type { Disagreement } from './consensus';
/** Public types of the client library (`llm-sentinel/client`). Kept free of imports beyond node builtins and the import-free reason table. */

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A node the app knows about on its own; the list order is the fallback order used without a monitor. */
export interface ClientNode {
  name: string;
  url: string;
  model?: string;
  /** Sent on every request to this node, e.g. Cloudflare Access service-token headers. */
  headers?: Record<string, string>;
}

export interface SentinelClientOptions {
  /** Path of the state file the daemon writes (read directly; cheapest and works without the HTTP server). Node build only. */
  stateFile?: string;
  /** The daemon's GET /state URL (used when stateFile is not set). */
  stateUrl?: string;
  /**
   * Several monitors' GET /state URLs (instead of stateUrl): the freshest non-stale answer is used, so the
   * app keeps a monitor's view while any one monitor is down. Also LLM_SENTINEL_STATE_URL=url1,url2.
   * `token` is sent to each; failure reports go to each.
   */
  stateUrls?: string[];
  /** Bearer token for stateUrl and reportUrl. */
  token?: string;
  /** Configured fallback order; default: OLLAMA_PRIMARY_URL (primary), OLLAMA_FALLBACK_URL (fallback). */
  nodes?: ClientNode[];
  /** How long a /state answer is reused before it is revalidated (ETag); default 2000. */
  ttlMs?: number;
  /** Override the document's own staleAfterMs. */
  staleAfterMs?: number;
  /** Per-attempt time to response headers; default 15000 like the code this replaces. */
  timeoutMs?: number;
  /** A node this client saw fail is tried last for this long (default 30000), even if the monitor still says up. */
  failureHoldMs?: number;
  /**
   * Off by default. When set, a node that has not sent response headers within this many ms gets company:
   * the next node is asked too, the first response wins and the other request is abandoned. Caps what a
   * hung node costs the first request of an outage, at the price of a duplicate generation now and then
   * (a long prompt or a cold model can be slower than this). A few times the node's usual time to first
   * token, e.g. 3000.
   */
  hedgeAfterMs?: number;
  /**
   * On by default (needs stateFile or stateUrl, and reports). While a request waits for response headers,
   * the client watches the monitor's view of that node; after `suspectAfterMs` it asks the monitor for an
   * immediate liveness probe (a `suspect` report). As soon as the monitor publishes a liveness probe newer
   * than the request that found no answer (timeout, refused, reset, a Cloudflare tunnel error, retried on
   * fresh connections), the next node is asked too; the first response wins. A node that keeps passing
   * liveness is slow, not hung, and is never duplicated: the request waits up to timeoutMs as before.
   * false: off (only hedgeAfterMs, if set, starts a second request).
   */
  suspicion?: boolean;
  /** How long a request waits for response headers before it asks the monitor to probe the node; default 2500. */
  suspectAfterMs?: number;
  /** Time limit for one GET /state; default 2000 (a hung monitor must not hold up requests for long). */
  stateTimeoutMs?: number;
  /** Where failure reports are POSTed; default: stateUrl's origin + /report. */
  reportUrl?: string;
  /** Drop folder for failure reports; default: <dirname(stateFile)>/reports when stateFile is set. Node build only. */
  reportDir?: string;
  /** false: never send failure reports. */
  reports?: boolean;
  fetch?: FetchLike;
  now?: () => number;
  /**
   * Several monitors: told once per monitor and problem when a document cannot be taken at its word (its
   * preferred node is one it calls down, or its clock is off); default console.warn.
   */
  onWarning?: (message: string) => void;
  /** Environment read for defaults (OLLAMA_PRIMARY_URL, LLM_SENTINEL_STATE_FILE, ...); default process.env (on edge runtimes: process.env where the runtime has one, else none). */
  env?: Record<string, string | undefined>;
}

export type EndpointSource = 'file' | 'http' | 'config';

export interface PreferredEndpoint {
  name: string;
  url: string;
  /** The model the monitor checks on this node ('' when unknown). */
  model: string;
  /** true when the monitor's view was not usable (missing, invalid, too old) and configured order applies. */
  stale: boolean;
  /** The monitor sees every node down; `url` is still its best guess (the last preferred node). */
  allDown: boolean;
  source: EndpointSource;
  /** Why the monitor's choice is not used, or what is off about it. */
  reason?: string;
  /**
   * Several monitors (stateUrls) disagreed about the preferred node and the client settled it: every
   * counted monitor's view (`{ monitor, preferred, nodes: { name: status } }`), the node chosen and why.
   */
  disagreement?: Disagreement;
}

/** A node as the client will try it: the monitor's identity (name) with the app's URL when it configured one. */
export interface Endpoint {
  name: string;
  url: string;
  model: string;
  headers?: Record<string, string>;
  /** The monitor's published status, when a fresh state document is known. */
  status?: NodeStatus;
}

/**
 * Why an attempt on a node failed. The names are the daemon's probe reasons (docs/reasons.md), so a report
 * reads the same as a probe result.
 */
/** Only probe reasons are allowed here: a misspelt name does not compile. */
type ProbeReasons<T extends Reason> = T;
export type FailureReason = ProbeReasons<
  | 'refused'
  | 'dns'
  | 'tls'
  | 'connect_timeout'
  | 'timeout'
  | 'reset'
  | 'cloudflare_tunnel_down'
  | 'cloudflare_origin_unreachable'
  | 'cloudflare_timeout'
  | 'cloudflare_challenge'
  | 'cloudflare_blocked'
  | 'cloudflare_rate_limited'
  | 'auth_required'
  | 'overloaded'
  | 'server_error'
  | 'bad_response'
>;


export interface Attempt {
  node: string;
  url: string;
  reason: FailureReason;
  status?: number;
  detail: string;
}

/** Thrown by fetchWithFallback only when every node failed; `attempts` lists each one in order. */
export class AllEndpointsFailedError extends Error {
  constructor(readonly attempts: Attempt[]) {
    // "Cloudflare challenged this request (primary): …" rather than "All LLM endpoints failed", when it did: the
    // app's own requests are what Cloudflare refuses, and the fix is a Cloudflare setting (docs/reasons.md).
    const cf = attempts.find((a) => isCloudflareProtection(a.reason));
    const lead = cf ? `${REASON_INFO[cf.reason].words} (${cf.node})` : 'All LLM endpoints failed';
    super(`${lead}: ${attempts.map((a) => `${a.node} (${a.url}): ${a.reason}${a.detail ? ` - ${a.detail}` : ''}`).join('; ') || 'no endpoints'}`);
    this.name = 'AllEndpointsFailedError';
  }
}

/**
 * The runtime lacks something the client needs (e.g. an edge runtime whose fetch cannot stream bodies).
 * Thrown (as a rejection) by the call that needed it, never at import; `missing` lists every gap.
 */
export class UnsupportedRuntimeError extends Error {
  readonly code = 'LLM_SENTINEL_UNSUPPORTED_RUNTIME';
  constructor(readonly missing: string[]) {
    super(`llm-sentinel client: this runtime lacks ${missing.join('; ')}. The client needs a fetch that streams response bodies (Node 20+, Vercel Edge, Cloudflare Workers, Deno, Bun all have one)`);
    this.name = 'UnsupportedRuntimeError';
  }
}

export interface ClientReport {
  node: string;
  reason: string;
  detail?: string;
}

export type ReportOutcome = { delivered: true; via: 'http' | 'dropbox' } | { delivered: false; via: 'http' | 'dropbox' | 'none'; error: string };

export interface SentinelClient {
  /** The node to use now. Never rejects because the monitor is down. */
  getPreferredEndpoint(): Promise<PreferredEndpoint>;
  /** Every node in the order fetchWithFallback tries them. */
  endpoints(): Promise<Endpoint[]>;
  /**
   * POSTs `body` (JSON unless a string/bytes) to `path` on the preferred node, then once on each other node on
   * failure. Resolves with the first usable Response, unconsumed (streams pass through).
   * `body` may be a function of the endpoint, for nodes that serve different models.
   */
  fetchWithFallback(path: string, body?: unknown, init?: RequestInit): Promise<Response>;
  /** A fetch-compatible function that sends each request to the preferred node (for SDKs). */
  fetch: FetchLike;
  /** Tell the monitor a node failed for this app. Never rejects. */
  report(r: ClientReport): Promise<ReportOutcome>;
}
