import type { NodeStatus } from '../core/status';
/**
 * The published state: a public contract (docs/state-file.md). Apps and the client library read it; only
 * additive changes are allowed within one schemaVersion. No secrets: URLs are published without userinfo.
 */
export const STATE_SCHEMA_VERSION = 1;

export type PublishedStatus = NodeStatus;

export interface PublishedEndpoint {
  name: string;
  url: string;
  model: string;
  api: 'ollama' | 'openai';
}

export interface PublishedNode extends PublishedEndpoint {
  priority: number;
  status: PublishedStatus;
  /** ISO time the current status began. */
  since: string;
  /** Why it has this status: a probe reason (e.g. cloudflare_tunnel_down), `slow`, or `starting`. */
  statusReason: string;
  lastCheckAt: string | null;
  lastOkAt: string | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** `cause` (since 0.1): for a node with a direct URL, `tunnel` or `ollama_or_host`. */
  lastError: { reason: string; message: string; at: string; cause?: 'tunnel' | 'ollama_or_host' } | null;
  latency: { ttftMs: number | null; totalMs: number | null; tokensPerSec: number | null; loadMs: number | null } | null;
  /** Last time a canary met a cold model (load time over the threshold: it had been evicted). */
  lastColdStartAt?: string | null;
  /** Keep-warm (since 0.2): app models found unloaded and loaded again since the monitor started, and the last one. */
  coldEvents?: number;
  lastColdEvent?: { model: string; at: string } | null;
  /** Memory (since 0.3, Ollama nodes): how the monitor kept out of the apps' way (docs/keep-warm.md). */
  memory?: NodeMemoryState;
  /**
   * The last liveness probe's result, published as soon as it is known (since 0.1; absent from older
   * monitors, null before the first probe). A first failure shows here at once, long before `fall` makes it
   * a status. `attempts` > 1: a probe that answered a client's suspect report, retried on fresh connections.
   */
  lastLiveness?: PublishedLiveness | null;
  /**
   * Load (added within schemaVersion 1; absent from older monitors): the last working canary waited for a
   * generation slot (`busy`), how long (`waitMs`, measured from the server's durations; null when the server
   * gives none), and when that canary ran. A busy node stays `up`: queueing is not sickness (docs/busy.md).
   */
  queue?: PublishedQueue;
}

export interface PublishedQueue {
  busy: boolean;
  waitMs: number | null;
  at: string | null;
}

export interface PublishedLiveness {
  ok: boolean;
  /** A probe reason (docs/reasons.md); `ok` when it passed. */
  reason: string;
  /** ISO time the result was known (the probe's end). */
  at: string;
  attempts: number;
}

/** What a peer monitor last said (docs/state-file.md "peers"); added within schemaVersion 1. */
export interface PublishedPeer {
  name: string;
  /** When it last answered this monitor (ISO); null: not since this monitor started. */
  lastSeen: string | null;
  /** No good answer for peers.silentAfter. */
  silent: boolean;
  /** Its own verdict per node, from its last answer (empty before one). Never merged into `nodes`. */
  nodes: Array<{ name: string; status: PublishedStatus; since: string; reason: string; cause: string | null }>;
}

export interface PublishedState {
  schemaVersion: 1;
  /** ISO time this document was written (heartbeat refreshes it even when nothing changed). */
  updatedAt: string;
  /** A reader should treat the document as stale (monitor dead) when updatedAt is older than this. */
  staleAfterMs: number;
  monitor: { instance: string; version: string; pid: number; startedAt: string };
  /** Never null: with every node down it stays on the last preferred node and allDown says so. */
  preferred: PublishedEndpoint;
  allDown: boolean;
  /** The monitor's own network is down (its witnesses fail too): node statuses are frozen, not judged. */
  monitorOffline?: boolean;
  nodes: PublishedNode[];
  /** With peers configured: the other monitors and their verdicts. This monitor's own verdict stays in `nodes`. */
  peers?: PublishedPeer[];
}

/** `nodes[].memory` in the state file (docs/state-file.md). */
export interface NodeMemoryState {
  /** The model the last canary ran on: the configured one, or one the apps had resident. */
  canaryModel: string | null;
  /** Loads of a model not in memory since the monitor started: first loads, not cold starts. */
  firstLoads: number;
  /** Two listed models that do not fit in memory together; keep-warm keeps `keeping` only. */
  conflict: { models: [string, string]; keeping: string } | null;
  /** Listed models the node does not have installed (keep-warm never loads them). */
  notInstalled: string[];
  /** Evictions the monitor's own loads caused, and how many of those hit a model apps were using. */
  monitorEvictions: number;
  appModelsEvicted: number;
  /** Models evicted by an app switching to another model (not cold starts of the node). */
  appSwitches: number;
}
