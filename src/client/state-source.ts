import { constants as fsConstants, promises as fsp, statSync } from 'node:fs';
import type { PublishedState } from '../state/types';
import { isStale, MAX_STATE_BYTES, parseState } from '../state/validate';
import type { Disagreement } from './consensus';
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
function singleFlight(fn: () => Promise<StateView>): () => Promise<StateView> {
  let inflight: Promise<StateView> | undefined;
  return () => {
    inflight ??= fn().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

function errCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : ((e as Error)?.message ?? String(e));
}

/**
 * Reads the daemon's state file. Unchanged files cost one stat: the cache key is (device, inode, size,
 * mtime, ctime) and the daemon replaces the file by rename, so every new document has a new inode.
 * The file is read through the descriptor that was fstat'ed, so the cached key always matches the text.
 * The file on disk is the truth: when it is missing or invalid, no older copy is used.
 */
export function fileStateSource(path: string): StateSource {
  let cache: { key: string; view: StateView } | undefined;

  const keyOf = (s: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string =>
    `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

  const load = async (): Promise<StateView> => {
    let key: string;
    try {
      // A synchronous stat (a microsecond or two) rather than fs.promises: the thread-pool round trip of an
      // async stat cost more than reading and parsing the whole file, which defeated the cache.
      key = keyOf(statSync(path, { bigint: true }));
    } catch (e) {
      cache = undefined;
      return { source: 'file', error: `state file ${path} unreadable (${errCode(e)})` };
    }
    if (cache?.key === key) return cache.view;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(path, fsConstants.O_RDONLY);
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return { source: 'file', error: `state file ${path} is not a regular file` };
      if (st.size > BigInt(MAX_STATE_BYTES)) return { source: 'file', error: `state file ${path} is larger than ${MAX_STATE_BYTES} bytes` };
      const text = await fh.readFile('utf8');
      const parsed = parseState(text);
      const view: StateView = parsed.ok ? { source: 'file', state: parsed.state } : { source: 'file', error: `state file ${path}: ${parsed.error}` };
      cache = { key: keyOf(st), view };
      return view;
    } catch (e) {
      cache = undefined;
      return { source: 'file', error: `state file ${path} unreadable (${errCode(e)})` };
    } finally {
      await fh?.close().catch(() => undefined);
    }
  };
  return { read: singleFlight(load) };
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
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

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
    try {
      const res = await opts.fetch(opts.url, { headers, redirect: 'manual', signal: AbortSignal.timeout(opts.timeoutMs) });
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
    }
    return view();
  };
  const once = singleFlight(refresh);

  return {
    read: () => {
      const age = opts.now() - checkedAt;
      // A clock that went backwards (negative age) revalidates rather than trusting the cache forever.
      if (age >= 0 && age < opts.ttlMs) return Promise.resolve(view());
      // With a document in hand, revalidate in the background: a slow or unreachable monitor must not add
      // its timeout to app requests (the document's own updatedAt still says when it is too old to use).
      const usable = good && !(opts.revalidateStale && isStale(good.state, opts.now(), opts.revalidateStale.staleAfterMs ?? good.state.staleAfterMs));
      if (usable) {
        void once();
        return Promise.resolve(view());
      }
      return once();
    },
  };
}
