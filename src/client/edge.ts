/**
 * `llm-sentinel/client` for edge runtimes (Vercel Edge Functions and middleware, Cloudflare Workers, browsers),
 * chosen by package.json's conditional exports (edge-light, workerd, worker, browser). The same API and types
 * as the Node build, on fetch alone: monitors are read over HTTP (stateUrl, stateUrls) and failure reports
 * are POSTed. The state file and the drop folder need a file system: stateFile and reportDir are refused
 * with a clear error. Nothing here may import node:* (eslint.config.mjs checks the whole graph).
 */
import { clientApi } from './entry';
import type { ClientPlatform } from './platform';
import type { FetchLike, PreferredEndpoint, SentinelClient, SentinelClientOptions } from './types';

export { emptyConsensus, settle, type AppOutcomes, type ConsensusMemory, type ConsensusResult, type Disagreement, type MonitorDoc, type MonitorVerdict } from './consensus';
export * from './types';

const edgePlatform: ClientPlatform = {
  build: 'fetch-only',
  // Vercel's edge runtime has process.env; Cloudflare Workers have no process (pass options or env there).
  env: () => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {},
};

const api = clientApi(edgePlatform);

/** A client with its own state cache; reads the monitors' /state URLs. */
export function createSentinelClient(options?: SentinelClientOptions): SentinelClient {
  return api.createSentinelClient(options);
}

/** The node to use now (see SentinelClient.getPreferredEndpoint). Pass the same options object each time. */
export function getPreferredEndpoint(options?: SentinelClientOptions): Promise<PreferredEndpoint> {
  return api.getPreferredEndpoint(options);
}

/** Drop-in for the seed's fetchWithFallback(path, body): same call shape, monitor-aware order. */
export function fetchWithFallback(path: string, body?: unknown, options?: SentinelClientOptions, init?: RequestInit): Promise<Response> {
  return api.fetchWithFallback(path, body, options, init);
}

/** A fetch for SDKs (ollama, openai): any request URL's origin is replaced by the preferred node's. */
export function sentinelFetch(options?: SentinelClientOptions): FetchLike {
  return api.sentinelFetch(options);
}
