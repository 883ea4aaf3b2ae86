/**
 * The fixed set of probe outcomes. Each failure names what went wrong; docs/reasons.md explains how each one
 * is recognised. `aborted` means the monitor itself cancelled the probe (shutdown) and is never judged.
 */
export const REASONS = [
  'ok',
  'refused',
  'dns',
  'tls',
  'connect_timeout',
  'timeout',
  'reset',
  'cloudflare_tunnel_down',
  'cloudflare_origin_unreachable',
  'cloudflare_timeout',
  'auth_required',
  'not_ollama',
  'model_missing',
  'overloaded',
  'server_error',
  'stream_error',
  'bad_response',
  'too_large',
  'wrong_answer',
  'empty_answer',
  'aborted',
] as const;
export type Reason = (typeof REASONS)[number];

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
  /** Canary: tokens generated (eval_count / usage.completion_tokens). */
  evalCount?: number;
  /** Canary: the answer text (trimmed, at most 200 characters). */
  answer?: string;
  /** Present when Cloudflare generated the response. */
  cloudflare?: { ray?: string; errorCode?: number };
  /**
   * For a node with a direct URL, where a failure of the public path comes from: `tunnel` (the direct path
   * answers: cloudflared, DNS or Cloudflare) or `ollama_or_host` (both fail).
   */
  cause?: 'tunnel' | 'ollama_or_host';
  /** Liveness answering a suspect report: how many attempts it made (absent = 1). */
  attempts?: number;
}
