/**
 * `llm-sentinel/client` on Node (and Bun and Deno, which implement node:fs): what apps import instead of a
 * hand-written timeout-and-retry loop. Light on purpose (node builtins, the state contract and its hand-written
 * validator, global fetch): it runs in serverless functions and small scripts, where every imported megabyte
 * is cold-start time. Edge runtimes get edge.ts instead (package.json's conditional exports): the same API
 * without the state file and the drop folder.
 */
import { clientApi } from './entry';
import { nodePlatform } from './node';
import type { FetchLike, PreferredEndpoint, SentinelClient, SentinelClientOptions } from './types';

export { emptyConsensus, settle, type AppOutcomes, type ConsensusMemory, type ConsensusResult, type Disagreement, type MonitorDoc, type MonitorVerdict } from './consensus';
export { writeReportFile } from './drop-folder';
export * from './types';

const api = clientApi(nodePlatform);

/** A client with its own state cache; reads the state file or the monitors' /state URLs. */
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
