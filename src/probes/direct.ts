import { REASON_INFO } from '../core/reasons';
import { describeCause, rootCause } from '../core/selfcheck';
import { probeLiveness } from './liveness';
import type { ProbeResult } from './types';

type Ctx = Parameters<typeof probeLiveness>[2];

/**
 * Same server, second path: after a failure of the path (core/reasons `path`), a liveness probe of the node's
 * `directUrl` tells a broken tunnel from a broken Ollama. The cause (core/selfcheck rootCause) goes into the
 * result and its detail. Without a direct URL, or when the direct probe was aborted, the result is unchanged.
 */
export async function withRootCause(result: ProbeResult, node: Parameters<typeof probeLiveness>[0], probes: Parameters<typeof probeLiveness>[1], ctx: Ctx): Promise<ProbeResult> {
  if (result.ok || !REASON_INFO[result.reason].path || !node.directUrl) return result;
  const direct = await probeLiveness({ ...node, url: node.directUrl, headers: {} }, probes, ctx);
  const cause = direct.reason === 'aborted' ? undefined : rootCause(result, direct);
  return cause ? { ...result, cause, detail: `${result.detail ?? result.reason}; ${describeCause(cause)}`.slice(0, 300) } : result;
}
