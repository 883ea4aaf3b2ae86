import type { ServerDurations } from '../core/busy';
import type { BusyReading } from '../core/busy-signal';
import type { Flavor, ThinkingKnob } from '../core/flavor';
import type { Reason } from '../core/reasons';
import type { LoadCause } from '../core/residency';

/** The fixed set of probe outcomes lives in the reason table (src/core/reasons.ts). */
export { REASONS, type Reason } from '../core/reasons';

export type ProbeKind = 'liveness' | 'canary';

/** Facts a probe collected. Timings are measured on the monotonic clock, in milliseconds. */
export interface ProbeResult {
  node: string;
  kind: ProbeKind;
  ok: boolean;
  reason: Reason;
  /** Wall-clock time the probe started (epoch ms). */
  startedAt: number;
  /** Whole probe duration. */
  durationMs: number;
  httpStatus?: number;
  /** Short human detail, no secrets, at most 300 characters. */
  detail?: string;
  /** Time to response headers. */
  ttfbMs?: number;
  /** Canary: time to the first content token. */
  ttftMs?: number;
  /** Canary: whole generation, request to end of stream. */
  totalMs?: number;
  /** Canary: eval_count / eval_duration from the server, else counted chunks over streaming time. */
  tokensPerSec?: number;
  /** Canary: model load time reported by the server (load_duration). */
  loadMs?: number;
  /**
   * Canary: why its model was not resident, when the monitor knew (src/core/residency.ts): only `cold` (or
   * absent) is a cold start of the node; a first load, or one after the monitor's own or an app's eviction, is not.
   * `resident`: the look just before the canary saw its model in memory, so its load_duration was Ollama's
   * scheduling wait (or a reload its options asked for), not a cold start either.
   */
  loadCause?: LoadCause | 'resident';
  /** Canary: the final chunk's durations as the server sent them (Ollama's native API), judged by core/busy. */
  durations?: ServerDurations;
  /**
   * Canary on llama.cpp / vLLM: the server's busy signal (GET /slots or /metrics) read while the canary waited for
   * its first token (core/busy-signal.ts); `busy` makes its time to first token the slot wait (core/busy splitWait).
   */
  busySignal?: BusyReading;
  /** Canary: time to the last token received (a stream that went quiet before its deadline). */
  lastTokenMs?: number;
  /** Canary: the wait for a generation slot, as judged by core/busy (absent when unknown). */
  queueMs?: number;
  /** Canary: tokens generated (eval_count / usage.completion_tokens). */
  evalCount?: number;
  /** Canary: the answer text (trimmed, at most 200 characters). */
  answer?: string;
  /** Present when Cloudflare generated the response. */
  cloudflare?: { ray?: string; errorCode?: number };
  /** Cloudflare rate limit (`cloudflare_rate_limited`): its `Retry-After`, in ms. The monitor waits it out. */
  retryAfterMs?: number;
  /**
   * For a node with a direct URL, where a failure of the public path comes from: `tunnel` (the direct path
   * answers: cloudflared, DNS or Cloudflare) or `ollama_or_host` (both fail).
   */
  cause?: 'tunnel' | 'ollama_or_host';
  /** Liveness: what the server said it is (docs/reasons.md "Server flavours"). */
  server?: { flavor: Flavor; version?: string };
  /** Liveness on a node without a configured model: the model found (loaded, else the only one installed). */
  model?: string;
  /** Liveness: the models the node has installed (for a clear error when discovery cannot choose). */
  installed?: string[];
  /** Canary: how thinking was switched off, and whether the server refused the knob (then retried without it). */
  thinking?: { knob: ThinkingKnob; knobRejected: boolean; thought: boolean };
  /** Liveness answering a suspect report: how many attempts it made (absent = 1). */
  attempts?: number;
}
