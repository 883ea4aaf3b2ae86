import { createSentinelClient } from './client';
import type { ClientPlatform } from './platform';
import type { FetchLike, PreferredEndpoint, SentinelClient, SentinelClientOptions } from './types';

/**
 * The public functions of `llm-sentinel/client`, bound to one platform. The Node entry (index.ts) and the
 * fetch-only entry (edge.ts) each call this once, so both builds have the same API.
 */
export function clientApi(platform: ClientPlatform) {
  /*
   * The convenience functions keep one client per options object, so its state cache survives between calls.
   * The WeakMap is the only module-level state: keyed by the caller's own object, it goes away with it.
   * Calls without options share one client built from the environment.
   */
  const clients = new WeakMap<object, SentinelClient>();
  const FROM_ENV: object = Object.freeze({});
  const create = (options?: SentinelClientOptions): SentinelClient => createSentinelClient(options, platform);
  const clientFor = (options: SentinelClientOptions | undefined): SentinelClient => {
    const key = options ?? FROM_ENV;
    let c = clients.get(key);
    if (!c) {
      c = create(options);
      clients.set(key, c);
    }
    return c;
  };
  return {
    createSentinelClient: create,
    getPreferredEndpoint: (options?: SentinelClientOptions): Promise<PreferredEndpoint> => clientFor(options).getPreferredEndpoint(),
    fetchWithFallback: (path: string, body?: unknown, options?: SentinelClientOptions, init?: RequestInit): Promise<Response> =>
      clientFor(options).fetchWithFallback(path, body, init),
    sentinelFetch: (options?: SentinelClientOptions): FetchLike => clientFor(options).fetch,
  };
}
