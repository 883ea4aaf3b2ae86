/**
 * The parts of undici this project uses (an Agent, `request`, the connector and the error classes), loaded
 * without the rest of the package.
 *
 * `require('undici')` loads all of it eagerly: fetch, WebSocket, EventSource, the cache and mock agents,
 * about 110 files. In the long-running daemon that is 4.7 MB of V8 heap that nothing uses. The four modules
 * below and their dependencies are about 30 files and 1.8 MB. That difference is most of the gap between
 * the daemon's resident memory and the 70 MB target (issue 13; `npm run bench -- footprint`).
 *
 * These are undici's own modules, so `Agent`, `errors` and `buildConnector` are the same objects that
 * `require('undici')` exports: test/unit/undici.test.ts checks that identity against the installed
 * version. If an undici update moves a file, that test fails (and so does every probe test).
 */
import type * as Undici from 'undici';

/* eslint-disable @typescript-eslint/no-require-imports -- undici's internal paths have no type declarations:
   each is typed as the public export it is. */
const AgentClass = require('undici/lib/dispatcher/agent') as typeof Undici.Agent;
const errorClasses = require('undici/lib/core/errors') as typeof Undici.errors;
const connector = require('undici/lib/core/connect') as typeof Undici.buildConnector;
const apiRequest = require('undici/lib/api/api-request') as (this: Undici.Dispatcher, opts: Undici.Dispatcher.RequestOptions) => Promise<Undici.Dispatcher.ResponseData>;
const { parseURL } = require('undici/lib/core/util') as { parseURL(url: string | URL): URL };
/* eslint-enable @typescript-eslint/no-require-imports */

export const Agent = AgentClass;
export type Agent = Undici.Agent;
export const errors = errorClasses;
export const buildConnector = connector;
export type { Dispatcher } from 'undici';

/** `request`'s options: undici's, with the target given as a URL and the dispatcher optional. */
export type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: Undici.Dispatcher.HttpMethod;
  /** Without one, undici's global dispatcher (created on first use), as `undici.request` does. */
  dispatcher?: Undici.Dispatcher;
};

/** undici's global Agent: `undici/lib/global` creates it when first loaded, so only a call without a dispatcher loads it. */
function globalDispatcher(): Undici.Dispatcher {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- as above: an internal path, typed here
  return (require('undici/lib/global') as { getGlobalDispatcher(): Undici.Dispatcher }).getGlobalDispatcher();
}

/**
 * undici's `request(url, options)` for a string or URL target: splits it into origin and path (query kept)
 * with undici's own URL check, so a bad URL fails with the same `InvalidArgumentError` as `undici.request`.
 */
export function request(url: string | URL, options: RequestOptions = {}): Promise<Undici.Dispatcher.ResponseData> {
  const target = parseURL(url);
  const { dispatcher, ...rest } = options;
  return apiRequest.call(dispatcher ?? globalDispatcher(), {
    ...rest,
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: options.method ?? (options.body ? 'PUT' : 'GET'),
  });
}
