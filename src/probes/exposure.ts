import type { NodeConfig } from '../config';
import { probeLiveness } from './liveness';
import type { ProbeContext, ProbeSettings } from './http';
import type { ProbeResult } from './types';

export interface ExposureResult {
  node: string;
  /** true: an anonymous request got Ollama's API to answer. */
  exposed: boolean;
  /** false when the check itself could not tell (node unreachable). */
  conclusive: boolean;
  detail: string;
  probe: ProbeResult;
}

/**
 * Asks the node's public URL WITHOUT its auth headers. Behind Cloudflare Access it must be refused (302 to
 * the login, 401, 403). An answer from Ollama's API means anyone on the internet can use the GPU.
 */
export async function probeExposure(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext = {}): Promise<ExposureResult> {
  const probe = await probeLiveness({ ...node, headers: {} }, settings, ctx);
  // ok or model_missing: /api/version and /api/tags answered an anonymous caller.
  const exposed = probe.reason === 'ok' || probe.reason === 'model_missing';
  const refused = probe.reason === 'auth_required';
  return {
    node: node.name,
    exposed,
    conclusive: exposed || refused,
    detail: exposed
      ? `${node.name} answered an unauthenticated request (${probe.detail ?? probe.reason}): it is open to the internet without authentication`
      : refused
        ? `unauthenticated requests are refused (${probe.detail ?? probe.reason})`
        : `could not tell: ${probe.reason}${probe.detail ? ` (${probe.detail})` : ''}`,
    probe,
  };
}
