import type { ProbeResult } from '../probes/types';
import { REASON_INFO } from './reasons';

/** No answer came back at all (the reason table's `noAnswer`): the monitor's own network may be gone. */
export const isUnreachable = (r: Pick<ProbeResult, 'ok' | 'reason'>): boolean => !r.ok && REASON_INFO[r.reason].noAnswer;

/**
 * Every node's latest result failed with no answer at all: either everything broke at once, or the
 * monitor's own network is gone. Only witnesses can tell which (see the daemon's offline guard).
 */
export function everyNodeUnreachable(nodeNames: readonly string[], latest: ReadonlyMap<string, Pick<ProbeResult, 'ok' | 'reason'>>): boolean {
  return nodeNames.length > 0 && nodeNames.every((n) => {
    const r = latest.get(n);
    return r !== undefined && isUnreachable(r);
  });
}

/**
 * Root cause for a node reachable two ways (public tunnel URL and a direct URL):
 *   public fails, direct answers → tunnel (cloudflared, DNS, Cloudflare): Ollama itself is fine
 *   both fail                   → ollama_or_host
 */
export function rootCause(publicPath: Pick<ProbeResult, 'ok'>, directPath: Pick<ProbeResult, 'ok'>): 'tunnel' | 'ollama_or_host' | undefined {
  if (publicPath.ok) return undefined;
  return directPath.ok ? 'tunnel' : 'ollama_or_host';
}

export const describeCause = (c: 'tunnel' | 'ollama_or_host'): string =>
  c === 'tunnel' ? 'the direct path answers: the tunnel (cloudflared, DNS or Cloudflare) is at fault, not Ollama' : 'the direct path fails too: Ollama or its host is down';
