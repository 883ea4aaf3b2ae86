import { busySignal } from '../core/busy';
import { describeBusySignal } from '../core/busy-signal';
import type { Flavor } from '../core/flavor';
import type { ProbeResult } from '../probes/types';
import { ms } from '../util/table';

/**
 * What `check` says about each node's busy signal (docs/busy.md "What each server lets us see"): the signal the
 * node gave this canary (Ollama: the final-chunk durations; llama.cpp: /slots or /metrics; vLLM: /metrics; or
 * none, with how to turn one on), how it is read, and the wait this canary measured.
 */
export interface BusySignalView {
  signal: 'slots' | 'metrics' | 'durations' | 'none';
  /** A wait can be measured on this node. */
  measured: boolean;
  /** The signal, as `check` prints it: "final-chunk durations", "/slots", "/metrics", "none (…)". */
  given: string;
  /** How the monitor reads it. */
  text: string;
  queueMs: number | null;
  /** What the server said while the canary waited (llama.cpp / vLLM), null when nothing was read. */
  reading: { busy: boolean; processing: number | null; waiting: number | null } | null;
}

export function busySignalView(api: 'ollama' | 'openai', flavor: Flavor, canary: ProbeResult | undefined): BusySignalView {
  const { signal, text: given } = describeBusySignal(api, flavor, canary?.busySignal);
  const r = canary?.busySignal;
  return {
    signal,
    measured: signal !== 'none',
    given,
    text: busySignal(api, flavor).text,
    queueMs: canary?.queueMs ?? null,
    reading: r && r.signal !== 'none' ? { busy: r.busy, processing: r.processing, waiting: r.waiting } : null,
  };
}

/** One line per node for the table output. */
export function busySignalLine(name: string, v: BusySignalView): string {
  const wait = v.queueMs !== null ? ` (this canary waited ${ms(v.queueMs)})` : '';
  const read = v.reading ? `; read: ${v.reading.processing ?? '?'} processing${v.reading.waiting !== null ? `, ${v.reading.waiting} waiting` : ''}` : '';
  return `${name}: busy signal: ${v.given}${v.signal === 'none' ? '' : ` — ${v.text}`}${read}${wait}`;
}
