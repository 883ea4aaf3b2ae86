/**
 * The busy signals llama.cpp and vLLM expose outside the request (issue 19; docs/busy.md "What each server lets
 * us see"; ../shared/reference/ollama-cloudflare.md section D). Pure: what the server answered in, a reading out.
 *
 * - llama.cpp `llama-server`: `GET /slots` (on by default, 501 with --no-slots) is an array of slots, each with
 *   a boolean `is_processing`; `GET /metrics` (only with --metrics) is Prometheus text with the gauges
 *   `llamacpp:requests_processing` and `llamacpp:requests_deferred` (tools/server/README.md).
 * - vLLM: `GET /metrics` has the gauges `vllm:num_requests_running` and `vllm:num_requests_waiting`, one sample
 *   per `model_name` (and engine) label set (docs "Production Metrics").
 * - Ollama shows no queue outside the request: its signal is the final chunk's durations (core/busy.ts).
 *
 * The probe reads llama.cpp's /slots just before the canary is sent (during it, the canary's own slot would count),
 * and /metrics while the canary waits for its first token (src/probes/busy-signal.ts). A reading says the canary
 * was queued behind others only when taken before its first token and it shows a queue:
 *   slots    every slot is processing before the canary was sent (no free slot: it is deferred)
 *   metrics  llama.cpp requests_deferred ≥ 1, vLLM num_requests_waiting ≥ 1 while the canary has no first token
 *            (a request waits: the canary among them)
 * Anything missing, malformed, negative or not a number is no signal ('none'): never busy on made-up numbers.
 */
import type { Flavor } from './flavor';

export type BusySignalKind = 'slots' | 'metrics' | 'durations' | 'none';

export interface BusyReading {
  signal: BusySignalKind;
  /** The server said requests were queued behind busy slots while the canary waited for its first token. */
  busy: boolean;
  /** Requests generating (slots processing, requests_processing, num_requests_running); null when unknown. */
  processing: number | null;
  /** Requests waiting for a slot (requests_deferred, num_requests_waiting); null when the signal has no count. */
  waiting: number | null;
  /** Slots the server has (/slots only). */
  slots?: number;
}

export const NO_SIGNAL: BusyReading = { signal: 'none', busy: false, processing: null, waiting: null };

const count = (n: number): boolean => Number.isFinite(n) && n >= 0;

/** `GET /slots`: an array of slot objects, each with a boolean `is_processing`; anything else is null. */
export function parseSlots(value: unknown): { processing: number; total: number } | null {
  if (!Array.isArray(value) || value.length === 0) return null;
  let processing = 0;
  for (const slot of value as unknown[]) {
    if (typeof slot !== 'object' || slot === null || typeof (slot as { is_processing?: unknown }).is_processing !== 'boolean') return null;
    if ((slot as { is_processing: boolean }).is_processing) processing++;
  }
  return { processing, total: value.length };
}

/** The metric names each server kind publishes (gauges). */
const METRIC_NAMES: Partial<Record<Flavor, { processing: string; waiting: string }>> = {
  llamacpp: { processing: 'llamacpp:requests_processing', waiting: 'llamacpp:requests_deferred' },
  vllm: { processing: 'vllm:num_requests_running', waiting: 'vllm:num_requests_waiting' },
};

/**
 * Sums a gauge over its samples in Prometheus text exposition format (`name{labels} value [timestamp]`);
 * null when the name has no sample, or a sample's value is not a count.
 */
function gauge(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let valuePart: string;
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      if (close < 0) return null;
      valuePart = rest.slice(close + 1);
    } else if (rest.startsWith(' ') || rest.startsWith('\t')) {
      valuePart = rest;
    } else {
      continue; // another metric whose name starts with this one
    }
    const value = Number(valuePart.trim().split(/\s+/)[0]);
    if (!count(value)) return null;
    sum = (sum ?? 0) + value;
  }
  return sum;
}

/** `GET /metrics` for a llama.cpp or vLLM node: both gauges, or null when either is missing or not a count. */
export function parseMetrics(text: string, flavor: Flavor): { processing: number; waiting: number } | null {
  const names = METRIC_NAMES[flavor];
  if (!names) return null;
  const processing = gauge(text, names.processing);
  const waiting = gauge(text, names.waiting);
  return processing === null || waiting === null ? null : { processing, waiting };
}

export interface SignalFacts {
  flavor: Flavor;
  /** The parsed JSON of `GET /slots` when it answered 2xx (llama.cpp). */
  slots?: unknown;
  /** The text of `GET /metrics` when it answered 2xx. */
  metrics?: string;
  /** The reading was taken while the canary still waited for its first token. */
  beforeFirstToken: boolean;
}

/**
 *   llama.cpp, /slots parsed          → slots:   busy = before first token and every slot processing
 *   llama.cpp or vLLM, /metrics parsed → metrics: busy = before first token and waiting ≥ 1
 *   anything else                     → none, never busy
 */
export function judgeBusySignal(f: SignalFacts): BusyReading {
  if (f.flavor !== 'llamacpp' && f.flavor !== 'vllm') return NO_SIGNAL;
  const slots = f.flavor === 'llamacpp' && f.slots !== undefined ? parseSlots(f.slots) : null;
  if (slots) return { signal: 'slots', busy: f.beforeFirstToken && slots.processing >= slots.total, processing: slots.processing, waiting: null, slots: slots.total };
  const metrics = f.metrics !== undefined ? parseMetrics(f.metrics, f.flavor) : null;
  if (metrics) return { signal: 'metrics', busy: f.beforeFirstToken && metrics.waiting >= 1, processing: metrics.processing, waiting: metrics.waiting };
  return NO_SIGNAL;
}

/**
 * What `check` says about a node's busy signal:
 *   Ollama (native, or /v1 on a server known to be Ollama) → durations, "final-chunk durations"
 *   llama.cpp  → "/slots", "/metrics", or "none (start with --metrics or keep slots on)"
 *   vLLM       → "/metrics", or "none (/metrics did not answer)"
 *   other      → none
 */
export function describeBusySignal(api: 'ollama' | 'openai', flavor: Flavor, reading: BusyReading | undefined): { signal: BusySignalKind; text: string } {
  if (api === 'ollama' || flavor === 'ollama' || flavor === 'ollama-legacy') return { signal: 'durations', text: 'final-chunk durations' };
  const got = reading?.signal === 'slots' || reading?.signal === 'metrics' ? reading.signal : undefined;
  if (flavor === 'llamacpp') return got ? { signal: got, text: `/${got}` } : { signal: 'none', text: 'none (start with --metrics or keep slots on)' };
  if (flavor === 'vllm') return got === 'metrics' ? { signal: 'metrics', text: '/metrics' } : { signal: 'none', text: 'none (/metrics did not answer)' };
  return { signal: 'none', text: 'none known for this server' };
}
