import type { ProbeResult } from '../probes/types';
import { REASON_INFO, type Reason } from './reasons';
import { applySample, isTransitional, newTrack, type Sample, type Track } from './hysteresis';
import type { NodeStatus } from './status';
import { judgeSpeed, nextQueueView, NO_QUEUE, type QueueView } from './busy';

export type { NodeStatus };

/** What the decision needs to know; built from Config['decision'] and whether the canary runs. */
export interface Policy {
  fall: number;
  /** Consecutive failures needed when all are ambiguous (timeouts, 5xx, broken streams); see hysteresis.ts. */
  softFall: number;
  rise: number;
  /** A node is preferred over a lower-priority one it lost traffic to only after being up this long. */
  failbackHold: number;
  /** Canary time to first token (minus model load) above this is slow. */
  slowTtft: number;
  /** Canary total time (minus model load) above this is slow. */
  slowTotal: number;
  canaryEnabled: boolean;
  /** A canary whose server-reported load time exceeds this met a cold model (recorded, never judged). */
  coldStartMs: number;
  /** A measured wait for a generation slot up to this is busy, not slow (core/busy.ts). */
  queueAllowance: number;
}

/** A point in time: wall clock for what people read, monotonic for durations (immune to clock jumps). */
export interface Instant {
  wall: number;
  mono: number;
}

export interface LastError {
  reason: Reason;
  message: string;
  at: number;
  cause?: 'tunnel' | 'ollama_or_host';
  /** A Cloudflare rate limit's `Retry-After` (ms): core/schedule.ts holds the node's probes that long. */
  retryAfterMs?: number;
}

export interface Latency {
  ttftMs: number | null;
  totalMs: number | null;
  tokensPerSec: number | null;
  loadMs: number | null;
}

export interface NodeRuntime {
  name: string;
  priority: number;
  status: NodeStatus;
  /** Wall time the current status began. */
  since: number;
  /** Monotonic time the current status began (for the failback hold). */
  sinceMono: number;
  /** Reachability: liveness samples; a failed canary with a network-level reason counts here too. */
  reach: Track;
  /** Generation: canary samples. */
  gen: Track;
  /** Speed: successful canaries, slow = bad sample. */
  speed: Track;
  lastCheckAt: number | null;
  lastOkAt: number | null;
  lastError: LastError | null;
  latency: Latency | null;
  /** Why the node has its current status (reason of the deciding result). */
  statusReason: string;
  /** The status before the current one (`unknown` at start-up). */
  previousStatus: NodeStatus;
  /** Cold starts seen since the monitor started, and the last one (the model had been evicted). */
  coldStarts: number;
  lastColdStartAt: number | null;
  /** Busy: the last working canary waited for a generation slot, and how long (core/busy.ts). */
  queue: QueueView;
}

export interface MonitorState {
  /** In priority order. */
  nodes: NodeRuntime[];
  preferred: string;
  allDown: boolean;
  /** The monitor's own network is down (witnesses fail too): nothing is judged meanwhile. */
  monitorOffline: boolean;
}

export type CoreEvent =
  | { type: 'node:transition'; node: string; from: NodeStatus; to: NodeStatus; reason: string; detail?: string; at: number }
  | { type: 'preferred:changed'; from: string | null; to: string; reason: string; allDown: boolean; at: number };

export interface Decision {
  next: MonitorState;
  events: CoreEvent[];
}


export function initialState(nodes: ReadonlyArray<{ name: string; priority: number }>, at: Instant): MonitorState {
  const sorted = [...nodes].sort((a, b) => a.priority - b.priority);
  return {
    nodes: sorted.map((n) => ({
      name: n.name,
      priority: n.priority,
      status: 'unknown',
      since: at.wall,
      sinceMono: at.mono,
      reach: newTrack(),
      gen: newTrack(),
      speed: newTrack(),
      lastCheckAt: null,
      lastOkAt: null,
      lastError: null,
      latency: null,
      statusReason: 'starting',
      previousStatus: 'unknown',
      coldStarts: 0,
      lastColdStartAt: null,
      queue: NO_QUEUE,
    })),
    preferred: sorted[0]?.name ?? '',
    allDown: false,
    monitorOffline: false,
  };
}

/**
 * Status from the three tracks (rows checked top to bottom):
 *   reach failing                        → down
 *   reach ok|unknown, gen failing        → degraded if reach ok (answers liveness only), else unknown
 *   reach unknown,    gen unknown|n/a    → unknown
 *   speed failing                        → degraded (healthy but slow)
 *   otherwise                            → up
 */
export function statusOf(n: Pick<NodeRuntime, 'reach' | 'gen' | 'speed'>, canaryEnabled: boolean): NodeStatus {
  if (n.reach.state === 'failing') return 'down';
  if (canaryEnabled && n.gen.state === 'failing') return n.reach.state === 'ok' ? 'degraded' : 'unknown';
  if (n.reach.state === 'unknown' && (!canaryEnabled || n.gen.state !== 'ok')) return 'unknown';
  if (canaryEnabled && n.speed.state === 'failing') return 'degraded';
  return 'up';
}

export function isSlow(r: ProbeResult, p: Policy): boolean {
  // A cold start is recorded but is not slowness (the load time is subtracted), and neither is a wait for a
  // generation slot within the queue allowance: speed is judged on the work after the wait (core/busy.ts).
  return judgeSpeed(r, p).slow;
}

/** A first load, or one after the monitor's own or an app's eviction, is not a cold start of the node (core/residency). */
export const isColdStart = (r: ProbeResult, p: Policy): boolean => r.kind === 'canary' && r.ok && (r.loadMs ?? 0) > p.coldStartMs && (r.loadCause ?? 'cold') === 'cold';

/** True when the node deserves a fast re-check: any of its tracks is between first sample and fall/rise. */
export function needsFastRecheck(n: NodeRuntime, canaryEnabled: boolean): boolean {
  return isTransitional(n.reach) || (canaryEnabled && (isTransitional(n.gen) || (n.speed.state !== 'unknown' && isTransitional(n.speed))));
}

/** Applies one probe result to the state. Pure: same inputs, same outputs; the caller does all I/O. */
export function decide(state: MonitorState, r: ProbeResult, policy: Policy, at: Instant): Decision {
  if (r.reason === 'aborted') return { next: state, events: [] };
  const idx = state.nodes.findIndex((n) => n.name === r.node);
  if (idx < 0) return { next: state, events: [] };
  const prev = state.nodes[idx] as NodeRuntime;
  const sample = (ok: boolean): Sample => (ok ? 'ok' : REASON_INFO[r.reason].weight === 'hard' ? 'hard' : 'soft');
  let { reach, gen, speed } = prev;
  if (r.kind === 'liveness') {
    reach = applySample(reach, sample(r.ok), policy);
  } else {
    if (r.ok) {
      // A working generation proves reachability too.
      gen = applySample(gen, 'ok', policy);
      reach = applySample(reach, 'ok', policy);
      // Slowness is a measurement, never a hard fact: it always needs softFall slow canaries in a row.
      speed = applySample(speed, isSlow(r, policy) ? 'soft' : 'ok', policy);
    } else if (r.reason === 'thinking_budget') {
      // The server generated (it only ran out of canary tokens while thinking): a canary setting to fix, not
      // a sick node. It proves reachability and leaves the generation verdict as it was, so traffic stays.
      reach = applySample(reach, 'ok', policy);
    } else if (REASON_INFO[r.reason].network) {
      // Could not reach the server at all: that says nothing about its ability to generate once reachable,
      // so it counts toward reachability only (and recovery is not held back by a stale generation verdict).
      reach = applySample(reach, sample(false), policy);
    } else {
      gen = applySample(gen, sample(false), policy);
    }
  }
  const status = statusOf({ reach, gen, speed }, policy.canaryEnabled);
  const node: NodeRuntime = {
    ...prev,
    reach,
    gen,
    speed,
    lastCheckAt: r.startedAt,
    lastOkAt: r.ok ? r.startedAt : prev.lastOkAt,
    // A rate limit met after this probe started stays the last error: its Retry-After hold (core/schedule) is newer news.
    lastError: r.ok || (prev.lastError?.reason === 'cloudflare_rate_limited' && prev.lastError.at > r.startedAt)
      ? prev.lastError
      : { reason: r.reason, message: r.detail ?? r.reason, at: r.startedAt, ...(r.cause ? { cause: r.cause } : {}), ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}) },
    queue: nextQueueView(prev.queue ?? NO_QUEUE, r, policy),
    coldStarts: prev.coldStarts + (isColdStart(r, policy) ? 1 : 0),
    lastColdStartAt: isColdStart(r, policy) ? r.startedAt : prev.lastColdStartAt,
    latency:
      r.kind === 'canary' && r.ok
        ? { ttftMs: r.ttftMs ?? null, totalMs: r.totalMs ?? null, tokensPerSec: r.tokensPerSec ?? null, loadMs: r.loadMs ?? null }
        : prev.latency,
  };
  const events: CoreEvent[] = [];
  if (status !== prev.status) {
    // A status reached on a successful probe is explained by what is still wrong, not by `ok`.
    const reason = !r.ok ? r.reason : status === 'degraded' ? (speed.state === 'failing' ? 'slow' : `canary_${prev.lastError?.reason ?? 'failing'}`) : r.reason;
    node.status = status;
    node.since = at.wall;
    node.sinceMono = at.mono;
    node.statusReason = reason;
    node.previousStatus = prev.status;
    events.push({ type: 'node:transition', node: prev.name, from: prev.status, to: status, reason, detail: r.detail, at: at.wall });
  }
  const nodes = state.nodes.slice();
  nodes[idx] = node;
  const evaluated = evaluatePreferred({ ...state, nodes }, policy, at);
  return { next: evaluated.next, events: [...events, ...evaluated.events] };
}

const healthy = (s: NodeStatus) => s === 'up' || s === 'degraded';

/**
 * Chooses the preferred node. Called after every result and on every heartbeat (so a failback hold that
 * expires is acted on without waiting for a new probe).
 *   1. first `up` node by priority, else first `degraded`, else first `unknown`, else keep the current one;
 *   2. moving to a HIGHER-priority node while the current one is healthy waits until that node has been
 *      up for `failbackHold` (monotonic time, so a wall-clock jump neither shortens nor lengthens it);
 *   3. allDown = no node is up, degraded or unknown: the last preferred stays published, flagged.
 */
export function evaluatePreferred(state: MonitorState, policy: Policy, at: Instant): Decision {
  const byStatus = (s: NodeStatus) => state.nodes.find((n) => n.status === s);
  const current = state.nodes.find((n) => n.name === state.preferred);
  let target = byStatus('up') ?? byStatus('degraded') ?? byStatus('unknown') ?? current;
  if (target && current && target.priority < current.priority && healthy(current.status)) {
    // Failing back while the current node still serves: only to a node that is up and has stayed up for the
    // hold. A node that just resolved from `unknown` (start-up) has had no outage, so it needs no hold.
    const held = target.status === 'up' && (target.previousStatus === 'unknown' || at.mono - target.sinceMono >= policy.failbackHold);
    if (!held) target = current;
  }
  const allDown = state.nodes.every((n) => n.status === 'down');
  const to = target?.name ?? state.preferred;
  if (to === state.preferred && allDown === state.allDown) return { next: state, events: [] };
  const reason = allDown
    ? 'all nodes down; keeping the last preferred'
    : to === state.preferred
      ? `${to} is healthy again`
      : describeSwitch(state, to);
  return {
    next: { ...state, preferred: to, allDown },
    events: [{ type: 'preferred:changed', from: state.preferred || null, to, reason, allDown, at: at.wall }],
  };
}

function describeSwitch(state: MonitorState, to: string): string {
  const from = state.nodes.find((n) => n.name === state.preferred);
  const target = state.nodes.find((n) => n.name === to);
  if (!from || !target) return `${to} chosen`;
  if (target.priority < from.priority) return `failback: ${to} is ${target.status} again`;
  return `${from.name} is ${from.status}${from.lastError ? ` (${from.lastError.reason})` : ''}; ${to} is ${target.status}`;
}
