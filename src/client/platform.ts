import type { DropWriter } from './failure-report';
import type { StateSource } from './state-source';
import { UnsupportedRuntimeError } from './types';

/*
 * The seam between the shared, fetch-only client and the runtime it runs on. Everything in src/client except
 * the Node entry (index.ts) and the files it injects (node.ts, state-file.ts, drop-folder.ts) is bundled for
 * edge runtimes (edge.ts) and may use only what those have: fetch, streams, URL, AbortController, timers,
 * TextEncoder/TextDecoder. eslint.config.mjs keeps node:* out of that graph.
 */

/** What only the Node build can do: the daemon's state file and its drop folder for reports. */
export interface LocalFiles {
  stateSource(path: string): StateSource;
  writeReport: DropWriter;
  /** The default drop folder for a state file: `reports/` next to it. */
  reportDirFor(stateFile: string): string;
}

export interface ClientPlatform {
  /** Named in errors: which build the app got from the package's conditional exports. */
  build: 'node' | 'fetch-only';
  /** The environment read for defaults when options.env is not given. */
  env(): Record<string, string | undefined>;
  files?: LocalFiles;
}

/**
 * What the client needs from the runtime, checked when a call is made (never at import, so an app that only
 * imports the client to build its bundle is not broken by it). Empty: all there. Otherwise what is missing, in
 * words an app developer can act on.
 */
export function runtimeGaps(ownFetch: boolean): string[] {
  const g = globalThis as Record<string, unknown>;
  const missing: string[] = [];
  if (!ownFetch && typeof g.fetch !== 'function') missing.push('a global fetch (or pass options.fetch)');
  let streams = false;
  try {
    const body = typeof g.Response === 'function' ? new Response('x').body : undefined;
    streams = typeof g.ReadableStream === 'function' && typeof body?.getReader === 'function';
    void body?.cancel().catch(() => undefined);
  } catch {
    streams = false;
  }
  if (!streams) missing.push('fetch streaming (Response.body as a ReadableStream with getReader())');
  if (typeof g.AbortController !== 'function') missing.push('AbortController');
  if (typeof g.TextDecoder !== 'function' || typeof g.TextEncoder !== 'function') missing.push('TextEncoder and TextDecoder');
  return missing;
}

/** Throws UnsupportedRuntimeError naming every gap; the result is remembered (a runtime does not change). */
export function runtimeCheck(ownFetch: boolean): () => void {
  let gaps: string[] | undefined;
  return () => {
    gaps ??= runtimeGaps(ownFetch);
    if (gaps.length > 0) throw new UnsupportedRuntimeError(gaps);
  };
}

/**
 * A signal that aborts with a TimeoutError after `ms`, and whose timer is cleared with `clear()`. Not
 * AbortSignal.timeout: Vercel's edge-runtime implements it with a timer that is never cleared and keeps the
 * event loop busy for the whole timeout after every state read and report.
 */
export function deadline(ms: number): { signal: AbortSignal; clear(): void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException(`no answer within ${ms}ms`, 'TimeoutError')), ms);
  return { signal: ctl.signal, clear: () => clearTimeout(timer) };
}

/**
 * AbortSignal.any where the runtime has it (Node 20.3+, workerd); otherwise the same by hand (Vercel's
 * edge-runtime 4 has no AbortSignal.any). The listeners are removed once the combined signal fires.
 */
export function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (typeof any === 'function') return any.call(AbortSignal, signals);
  const ctl = new AbortController();
  const already = signals.find((s) => s.aborted);
  if (already) {
    ctl.abort(already.reason);
    return ctl.signal;
  }
  const onAbort = (e: Event): void => {
    for (const s of signals) s.removeEventListener('abort', onAbort);
    ctl.abort((e.target as AbortSignal).reason);
  };
  for (const s of signals) s.addEventListener('abort', onAbort);
  return ctl.signal;
}

/** Base64 of the UTF-8 bytes (Buffer is Node's; btoa and TextEncoder are everywhere). */
export function base64(s: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * The fetch-only build refuses options that need files, at construction like other mistakes in the app's
 * options. A state file named only by the environment is ignored when a monitor URL is there too (one
 * environment shared by an app's Node and edge functions).
 */
export function refuseFileOptions(o: { stateFile?: string; reportDir?: string }, envStateFile: string | undefined, hasUrls: boolean): void {
  const what = o.stateFile !== undefined ? 'stateFile' : o.reportDir !== undefined ? 'reportDir' : envStateFile && !hasUrls ? 'LLM_SENTINEL_STATE_FILE' : undefined;
  if (what === undefined) return;
  throw new TypeError(
    `llm-sentinel client: ${what} needs the Node build of llm-sentinel/client (this is the fetch-only build for edge runtimes, which has no file system); read the monitor over HTTP with stateUrl or stateUrls`,
  );
}
