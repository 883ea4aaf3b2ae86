import type { PublishedState } from '../state/types';
import { isStale, MAX_STATE_BYTES, parseState } from '../state/validate';
import type { Disagreement } from './consensus';
import { deadline } from './platform';
import type { FetchLike } from './types';

/** What a source knows right now: the last good document (if any) and, if the last look failed, why. */
export interface StateView {
  state?: PublishedState;
  error?: string;
  source: 'file' | 'http';
  /** Several monitors disagreed about the preferred node and this view is how the client settled it. */
  disagreement?: Disagreement;
}

export interface StateSource {
  read(): Promise<StateView>;
}

/** Collapses concurrent reads into one: a burst of requests costs one stat (or one GET), not one each. */
export function singleFlight(fn: () => Promise<StateView>): () => Promise<StateView> {
  let inflight: Promise<StateView> | undefined;
  return () => {
    inflight ??= fn().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

export function errCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : ((e as Error)?.message ?? String(e));
}

/** Reads at most `max` bytes of a body; undefined when it is larger (the rest is cancelled, not read). */
export async function readCapped(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  // TextDecoder, not Buffer: this file is in the fetch-only (edge) build too.
  const decoder = new TextDecoder();
  let text = '';
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/** Several monitors: a cached document this close to its staleAfter is revalidated before it is answered. */
const REVALIDATE_MARGIN_MS = 1_000;

export interface HttpSourceOptions {
  url: string;
  token?: string;
  ttlMs: number;
  timeoutMs: number;
  fetch: FetchLike;
  now: () => number;
  /**
   * Several monitors (state-sources.ts): a cached document that is already stale is not answered at once
   * but revalidated first, so a client that paused longer than staleAfter does not throw away a live
   * monitor's view. The composer's straggler grace bounds what a hung monitor costs. `staleAfterMs` is the
   * app's override of the document's own.
   */
  revalidateStale?: { staleAfterMs?: number };
}

/**
 * Reads GET /state. An answer is reused for ttlMs, then revalidated with If-None-Match (304 keeps it).
 * A failed refresh keeps the last good document: it carries its own updatedAt, so it turns stale by itself
 * if the monitor stays unreachable, while a short network blip changes nothing. A failed refresh also
 * waits ttlMs before the next try, so a dead monitor costs one quick attempt per ttl, not one per request.
 */
export function httpStateSource(opts: HttpSourceOptions): StateSource {
  let good: { state: PublishedState; etag: string | null } | undefined;
  let lastError: string | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;

  const view = (): StateView => ({ source: 'http', state: good?.state, error: lastError });

  const refresh = async (): Promise<StateView> => {
    checkedAt = opts.now();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (good?.etag) headers['if-none-match'] = good.etag;
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const limit = deadline(opts.timeoutMs);
    try {
      const res = await opts.fetch(opts.url, { headers, redirect: 'manual', signal: limit.signal });
      if (res.status === 304 && good) {
        await res.body?.cancel().catch(() => undefined);
        lastError = undefined;
      } else if (res.status === 200) {
        const text = await readCapped(res, MAX_STATE_BYTES);
        const parsed = text === undefined ? undefined : parseState(text);
        if (!parsed) lastError = `state URL answered more than ${MAX_STATE_BYTES} bytes`;
        else if (!parsed.ok) lastError = `state URL: ${parsed.error}`;
        else {
          good = { state: parsed.state, etag: res.headers.get('etag') };
          lastError = undefined;
        }
      } else {
        await res.body?.cancel().catch(() => undefined);
        lastError = `state URL answered HTTP ${res.status}${res.status === 401 ? ' (token missing or wrong)' : ''}`;
      }
    } catch (e) {
      const name = (e as Error)?.name;
      const cause = (e as { cause?: unknown })?.cause;
      lastError = `state URL unreachable (${name === 'TimeoutError' ? `no answer within ${opts.timeoutMs}ms` : errCode(cause ?? e)})`;
    } finally {
      limit.clear();
    }
    return view();
  };
  /*
   * One refresh at a time, but never one that cannot end. On Cloudflare Workers a fetch started during one
   * request is cancelled when that request has answered, and a promise waiting on it never settles (its
   * deadline timer is cancelled too): a background revalidation would block every later read. So a refresh
   * older than its deadline is abandoned and a new one started, and a read waits on a refresh no longer than
   * that deadline, by a timer of its own.
   */
  let inflight: { done: Promise<StateView>; at: number } | undefined;
  const once = (): Promise<StateView> => {
    const t = opts.now();
    if (!inflight || t - inflight.at > opts.timeoutMs || t < inflight.at) {
      const mine: { done: Promise<StateView>; at: number } = { done: Promise.resolve(view()), at: t };
      mine.done = refresh().finally(() => {
        if (inflight === mine) inflight = undefined;
      });
      inflight = mine;
    }
    return inflight.done;
  };
  const awaitOnce = (): Promise<StateView> => {
    const started = inflight;
    const done = once();
    if (started === undefined || started !== inflight) return done; // this read started it: its deadline holds
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<StateView>((resolve) => {
      timer = setTimeout(() => resolve({ ...view(), error: `state URL unreachable (no answer within ${opts.timeoutMs}ms)` }), Math.max(0, opts.timeoutMs - (opts.now() - started.at)) + 100);
    });
    return Promise.race([done, bound]).finally(() => clearTimeout(timer));
  };

  return {
    read: () => {
      const age = opts.now() - checkedAt;
      // A clock that went backwards (negative age) revalidates rather than trusting the cache forever.
      if (age >= 0 && age < opts.ttlMs) return Promise.resolve(view());
      // With a document in hand, revalidate in the background: a slow or unreachable monitor must not add
      // its timeout to app requests (the document's own updatedAt still says when it is too old to use).
      // Several monitors: a document that turns stale within the next second is revalidated first too. The
      // consensus judges freshness again a moment later; a document read just before its staleAfter would
      // then count as stale while the live monitor behind it had a fresh one (seen in CI after a pause).
      const soon = opts.revalidateStale ? opts.now() + REVALIDATE_MARGIN_MS : 0;
      const usable = good && !(opts.revalidateStale && isStale(good.state, soon, opts.revalidateStale.staleAfterMs ?? good.state.staleAfterMs));
      if (usable) {
        void once();
        return Promise.resolve(view());
      }
      return awaitOnce();
    },
  };
}
