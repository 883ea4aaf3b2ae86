/**
 * Busy is not down (issue 19): telling a canary that WAITED for a generation slot from one that worked slowly,
 * and a runner that stopped producing tokens from either. Pure: facts in, judgement out.
 *
 * What the servers let us see (../shared/reference/ollama-cloudflare.md section D, docs/busy.md):
 * - Ollama queues a request for a loaded model on a FIFO semaphore of OLLAMA_NUM_PARALLEL slots (default 1).
 *   The wait is in the final chunk's `total_duration` but not in `load_duration`, `prompt_eval_duration` or
 *   `eval_duration`, so  slot wait ≈ total − load − prompt_eval − eval.  No header comes before the first
 *   token, and no endpoint shows the queue: until the first token a queued canary and a hung one look the same.
 * - llama.cpp's `timings` and vLLM's OpenAI replies carry no wait; their queues show on /slots and /metrics,
 *   read while the canary waits (core/busy-signal.ts): a reading that shows a queue makes the time to the first
 *   token the wait (splitWait), judged by the same allowance.
 */
import type { ProbeResult } from '../probes/types';
import type { BusyReading } from './busy-signal';
import { formatDuration } from '../util/duration';

/** The server's own durations from the final chunk (Ollama's native API), in nanoseconds, as received. */
export interface ServerDurations {
  totalNs?: number;
  loadNs?: number;
  promptEvalNs?: number;
  evalNs?: number;
}

/**
 * A canary whose measured slot wait is at least this long waited (the node is busy). Below it is Ollama's own
 * overhead between the handler's start and the runner's timings (templating, tokenising: a few ms).
 */
export const WAITED_MS = 250;

/** How much the server's total may exceed the wall time we measured before it is not believed (rounding, clocks). */
const WALL_SLACK_MS = 5;

export interface WaitSplit {
  /** Time the request waited for a slot, ms; null when unknown (no durations, or durations not to be trusted). */
  queueMs: number | null;
  /** The load time that may be subtracted (0 when missing, negative or longer than the wall time). */
  loadMs: number;
  /** First token once the node worked on the request: wall time-to-first-token − wait − load. */
  workTtftMs?: number;
  /** The whole generation once the node worked on it: wall total − wait − load. */
  workTotalMs?: number;
  /** Why the server's durations were not used (they were present but wrong); wall times were. */
  ignored?: string;
}

const valid = (n: number | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/**
 * Splits a canary's wall times into the wait for a slot and the work, from the server's durations.
 * Bad input never yields a wait: durations that are missing, negative, not numbers, larger than the wall time,
 * or that do not add up are ignored, and the wall times are judged as they are (minus a believable load).
 *   total, prompt_eval, eval all valid (load valid or absent: Go's omitempty drops a zero)
 *   and total ≤ wall total, parts ≤ total, wait ≤ wall time-to-first-token   → wait = total − parts
 *   otherwise                                                               → wait unknown (null)
 */
export function splitWait(r: Pick<ProbeResult, 'ttftMs' | 'totalMs' | 'loadMs'> & { durations?: ServerDurations; busySignal?: BusyReading }): WaitSplit {
  const wallTotal = valid(r.totalMs) ? r.totalMs : undefined;
  const wallTtft = valid(r.ttftMs) ? r.ttftMs : undefined;
  const loadOk = valid(r.loadMs) && (wallTotal === undefined || r.loadMs <= wallTotal + WALL_SLACK_MS);
  const load = loadOk ? (r.loadMs as number) : 0;
  const work = (wait: number): Pick<WaitSplit, 'workTtftMs' | 'workTotalMs'> => ({
    ...(wallTtft !== undefined ? { workTtftMs: Math.max(0, wallTtft - wait - load) } : {}),
    ...(wallTotal !== undefined ? { workTotalMs: Math.max(0, wallTotal - wait - load) } : {}),
  });
  const unknown = (ignored?: string): WaitSplit => ({ queueMs: null, loadMs: load, ...work(0), ...(ignored ? { ignored } : {}) });
  const d = r.durations;
  if (!d || (d.totalNs === undefined && d.evalNs === undefined)) {
    // llama.cpp / vLLM (core/busy-signal): the server itself said, before the canary's first token, that requests
    // were queued behind busy slots. The canary's time to its first token (less a believable load) is its wait.
    if (r.busySignal?.busy === true && wallTtft !== undefined) {
      const wait = Math.max(0, wallTtft - load);
      return { queueMs: Math.round(wait * 10) / 10, loadMs: load, ...work(wait) };
    }
    return unknown();
  }
  const { totalNs, promptEvalNs, evalNs } = d;
  const loadNs = d.loadNs ?? 0;
  if (!valid(totalNs) || !valid(promptEvalNs) || !valid(evalNs) || !valid(loadNs)) return unknown('a duration is missing, negative or not a number');
  const ms = (ns: number): number => ns / 1e6;
  if (wallTotal === undefined || ms(totalNs) > wallTotal + WALL_SLACK_MS) return unknown('total_duration is longer than the wall time');
  const parts = ms(loadNs) + ms(promptEvalNs) + ms(evalNs);
  if (parts > ms(totalNs) + 1) return unknown('load + prompt_eval + eval durations exceed total_duration');
  const wait = Math.max(0, ms(totalNs) - parts);
  if (wallTtft !== undefined && wait > wallTtft + WALL_SLACK_MS) return unknown('the wait the durations imply is longer than the time to the first token');
  return { queueMs: Math.round(wait * 10) / 10, loadMs: load, ...work(wait) };
}

/** The canary waited for a slot: a measured wait of at least WAITED_MS (never on unknown or made-up numbers). */
export const waited = (s: WaitSplit): boolean => s.queueMs !== null && s.queueMs >= WAITED_MS;

export interface SpeedPolicy {
  slowTtft: number;
  slowTotal: number;
  /** A measured slot wait longer than this counts against the node (as slowness). */
  queueAllowance: number;
}

/**
 * Slow while working, judged on what the node did once it worked on the request (queueing is not slowness):
 *   measured wait > queueAllowance                           → slow (the wait itself counts against the node)
 *   work time-to-first-token > slowTtft or work total > slowTotal → slow
 *   otherwise                                                → not slow
 * Without a trusted wait, work = wall − load (the old rule), so a node is never excused on made-up numbers.
 */
export function judgeSpeed(r: Pick<ProbeResult, 'ttftMs' | 'totalMs' | 'loadMs'> & { durations?: ServerDurations; busySignal?: BusyReading }, p: SpeedPolicy): { slow: boolean; split: WaitSplit; overAllowance: boolean } {
  const split = splitWait(r);
  const overAllowance = split.queueMs !== null && split.queueMs > p.queueAllowance;
  const slowWork = (split.workTtftMs !== undefined && split.workTtftMs > p.slowTtft) || (split.workTotalMs !== undefined && split.workTotalMs > p.slowTotal);
  return { slow: overAllowance || slowWork, split, overAllowance };
}

/** What the daemon knows about the node's liveness while a canary ran. */
export interface LivenessSeen {
  ok: boolean;
  /** Epoch ms the liveness probe ended. */
  at: number;
}

/** How recent a liveness pass must be to vouch for the server during a canary (its interval + its timeout). */
export interface StallPolicy {
  livenessFreshMs: number;
}

/** A canary whose tokens stopped for this long before its deadline stalled mid-stream (the runner went quiet). */
export const STALL_GAP_MS = 10_000;

/**
 * A runner that stops producing tokens while the server still answers. The canary ran out its deadline, the
 * node's latest liveness probe passed and ended no more than `livenessFreshMs` before the canary did, and
 *   no token came at all                                       → `stalled`
 *   tokens came, then stopped STALL_GAP_MS or more before the end → `stalled` (the stream went quiet)
 *   tokens kept coming (an endless stream)                      → `timeout`
 *   no token, and the canary was loading its model (loadCause)  → `timeout` (a slow load, not a stall)
 * A node whose liveness fails too stays a plain `timeout` (hung or down). Other results pass unchanged.
 */
export function judgeStall(r: ProbeResult & { lastTokenMs?: number }, liveness: LivenessSeen | undefined, p: StallPolicy): ProbeResult {
  if (r.kind !== 'canary' || r.reason !== 'timeout') return r;
  const livePassed = liveness !== undefined && liveness.ok && liveness.at >= r.startedAt + r.durationMs - p.livenessFreshMs;
  if (!livePassed) return r;
  // The canary was loading its model (it was not resident: core/residency): no token yet is a slow load.
  if (r.ttftMs === undefined && r.loadCause !== undefined && r.loadCause !== 'resident') return { ...r, detail: `${r.detail ?? r.reason}; its model was loading (${r.loadCause.replace('_', ' ')}), not stalled`.slice(0, 300) };
  const took = formatDuration(r.durationMs);
  if (r.ttftMs === undefined) {
    return { ...r, reason: 'stalled', detail: `no token in ${took} while liveness answers: a runner hung behind a stuck request, or a queue longer than the canary's deadline` };
  }
  const quiet = r.lastTokenMs === undefined ? 0 : r.durationMs - r.lastTokenMs;
  if (quiet >= STALL_GAP_MS) return { ...r, reason: 'stalled', detail: `tokens stopped ${formatDuration(quiet)} before the deadline (${took}) while liveness answers: the runner stopped generating` };
  return r;
}

/**
 * The daemon's one judgement of a finished canary before it is recorded and decided: a stall is named
 * (judgeStall), and a working canary carries its measured slot wait (`queueMs`) and says in its detail that
 * it waited, so the record, the report and a mail all show queueing as queueing.
 */
export function judgeCanary(r: ProbeResult, liveness: LivenessSeen | undefined, p: SpeedPolicy & StallPolicy): ProbeResult {
  if (r.kind !== 'canary') return r;
  const stalled = judgeStall(r, liveness, p);
  if (!stalled.ok) return stalled;
  const { split, overAllowance } = judgeSpeed(stalled, p);
  if (split.queueMs === null) return stalled;
  const note = waited(split)
    ? overAllowance
      ? `; waited ${formatDuration(split.queueMs)} for a generation slot, over the ${formatDuration(p.queueAllowance)} allowance`
      : `; waited ${formatDuration(split.queueMs)} for a generation slot (busy, not slow)`
    : '';
  return { ...stalled, queueMs: split.queueMs, ...(note ? { detail: `${stalled.detail ?? stalled.reason}${note}`.slice(0, 300) } : {}) };
}

/** What the state file and /metrics say about a node's load, from its last working canary. */
export interface QueueView {
  /** The last canary waited for a slot (WAITED_MS or more, measured): the node is serving others. */
  busy: boolean;
  /** That canary's measured wait, ms (null when the server gave no durations to measure it). */
  waitMs: number | null;
  /** Epoch ms that canary started; null before the first. */
  at: number | null;
}

export const NO_QUEUE: QueueView = { busy: false, waitMs: null, at: null };

/**
 *   canary ok, wait measured   → busy = wait ≥ WAITED_MS, waitMs = the wait
 *   canary ok, wait unknown    → not busy, waitMs null (never busy on made-up numbers)
 *   canary failed              → not busy (a failure says nothing about a queue), last wait kept
 *   liveness                   → unchanged
 */
export function nextQueueView(prev: QueueView, r: ProbeResult, p: SpeedPolicy): QueueView {
  if (r.kind !== 'canary') return prev;
  if (!r.ok) return { ...prev, busy: false };
  const { split } = judgeSpeed(r, p);
  return { busy: waited(split), waitMs: split.queueMs, at: r.startedAt };
}

/**
 * Which busy signal a node gives the monitor, for `check` (docs/busy.md "What each server lets us see"):
 *   api ollama (Ollama's native API)   → the slot wait, from the final chunk's durations (measured)
 *   api openai on Ollama                → the same: the canary speaks the native API there (canaryApi)
 *   llama.cpp                           → GET /slots, /metrics requests_deferred: read per canary (core/busy-signal)
 *   vLLM                                → /metrics vllm:num_requests_waiting: read per canary (core/busy-signal)
 *   unknown                             → none
 */
export function busySignal(api: 'ollama' | 'openai', flavor: string): { measured: boolean; text: string } {
  if (api === 'ollama') return { measured: true, text: "slot wait from the final chunk's durations (total − load − prompt_eval − eval)" };
  if (flavor === 'ollama' || flavor === 'ollama-legacy') return { measured: true, text: "slot wait from the final chunk's durations: /v1 carries none, so the canary uses Ollama's native /api/chat" };
  if (flavor === 'llamacpp') return { measured: false, text: 'llama.cpp: GET /slots, else /metrics requests_deferred (with --metrics), read while the canary waits (core/busy-signal)' };
  if (flavor === 'vllm') return { measured: false, text: 'vLLM: /metrics vllm:num_requests_waiting, read while the canary waits (core/busy-signal)' };
  return { measured: false, text: 'none known for this server: judged on wall times' };
}
