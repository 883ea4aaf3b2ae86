/**
 * `llm-sentinel/client`: what apps import instead of a hand-written timeout-and-retry loop.
 * Light on purpose (node builtins, the state contract and its hand-written validator, global fetch): it
 * runs in serverless functions and small scripts, where every imported megabyte is cold-start time.
 */
import { createSentinelClient } from './client';
import type { FetchLike, PreferredEndpoint, SentinelClient, SentinelClientOptions } from './types';

export { createSentinelClient } from './client';
export { emptyConsensus, settle, type AppOutcomes, type ConsensusMemory, type ConsensusResult, type Disagreement, type MonitorDoc, type MonitorVerdict } from './consensus';
export { writeReportFile } from './failure-report';
export * from './types';

/*
 * The convenience functions keep one client per options object, so its state cache survives between calls.
 * The WeakMap is the only module-level state: keyed by the caller's own object, it goes away with it.
 * Calls without options share one client built from the environment.
 */
const clients = new WeakMap<object, SentinelClient>();
const FROM_ENV: object = Object.freeze({});

function clientFor(options: SentinelClientOptions | undefined): SentinelClient {
  const key = options ?? FROM_ENV;
  let c = clients.get(key);
  if (!c) {
    c = createSentinelClient(options);
    clients.set(key, c);
  }
  return c;
}

/** The node to use now (see SentinelClient.getPreferredEndpoint). Pass the same options object each time. */
export function getPreferredEndpoint(options?: SentinelClientOptions): Promise<PreferredEndpoint> {
  return clientFor(options).getPreferredEndpoint();
}

/** Drop-in for the seed's fetchWithFallback(path, body): same call shape, monitor-aware order. */
export function fetchWithFallback(path: string, body?: unknown, options?: SentinelClientOptions, init?: RequestInit): Promise<Response> {
  return clientFor(options).fetchWithFallback(path, body, init);
}

/** A fetch for SDKs (ollama, openai): any request URL's origin is replaced by the preferred node's. */
export function sentinelFetch(options?: SentinelClientOptions): FetchLike {
  return clientFor(options).fetch;
}
