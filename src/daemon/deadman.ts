import { request, type Dispatcher } from '../undici';
import type { Logger } from '../logging';
import type { Secret } from '../util/secret';

/**
 * Watching the watcher: a healthchecks.io-style URL pinged after each complete probe cycle, and `<url>/fail`
 * when the monitor itself is in trouble (database or state file not writable). If the pings stop, the
 * service on the other end alerts. One ping in flight at a time; a slow endpoint never delays probing.
 */
export interface Deadman {
  ping(healthy: boolean, detail: string): void;
  close(): Promise<void>;
}

export function createDeadman(url: Secret, opts: { logger: Logger; timeoutMs?: number; dispatcher?: Dispatcher }): Deadman {
  const log = opts.logger.child({ component: 'deadman' });
  let inFlight: Promise<void> | undefined;
  const closing = new AbortController();
  let lastError: string | undefined;
  const base = url.reveal().replace(/\/+$/, '');
  return {
    ping(healthy, detail) {
      if (inFlight) return;
      const target = healthy ? base : `${base}/fail`;
      inFlight = request(target, {
        method: 'POST',
        body: detail.slice(0, 1000),
        headers: { 'content-type': 'text/plain' },
        signal: AbortSignal.any([AbortSignal.timeout(opts.timeoutMs ?? 10_000), closing.signal]),
        dispatcher: opts.dispatcher,
      })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode >= 400) throw new Error(`HTTP ${res.statusCode}`);
          if (lastError) log.info('dead-man switch reachable again');
          lastError = undefined;
        })
        .catch((e: unknown) => {
          const msg = (e as Error).message;
          // The URL is a secret (anyone holding it can ping): never logged.
          if (msg !== lastError) log.warn({ error: msg }, 'dead-man switch ping failed');
          lastError = msg;
        })
        .finally(() => {
          inFlight = undefined;
        });
    },
    async close() {
      // A slow or blackholed endpoint must not hold up the daemon's stop.
      closing.abort();
      await inFlight;
    },
  };
}
