import type { ProbeResult } from '../probes/types';
import { isSlow, type Policy } from './decide';
import type { NodeStatus } from './status';

/**
 * A one-shot verdict from a single liveness + canary pair (`llm-sentinel check`), without hysteresis:
 *   liveness ok,  canary ok (fast)  → up
 *   liveness ok,  canary ok (slow)  → degraded (slow)
 *   liveness ok,  canary failed     → degraded (answers liveness only)
 *   liveness bad, canary ok         → degraded (generation works but the API check failed)
 *   liveness bad, canary failed     → down
 *   canary cut off while thinking   → as liveness says (the canary budget is wrong, not the node)
 * With the canary disabled, liveness alone decides.
 */
export function oneShotVerdict(liveness: ProbeResult, canary: ProbeResult | undefined, policy: Policy): { status: NodeStatus; reason: string } {
  if (!canary) return liveness.ok ? { status: 'up', reason: 'ok' } : { status: 'down', reason: liveness.reason };
  // Cut off while thinking: the server works; the canary's budget is what needs changing (see its detail).
  if (canary.reason === 'thinking_budget') return liveness.ok ? { status: 'up', reason: 'thinking_budget' } : { status: 'degraded', reason: liveness.reason };
  if (liveness.ok && canary.ok) return isSlow(canary, policy) ? { status: 'degraded', reason: 'slow' } : { status: 'up', reason: 'ok' };
  if (liveness.ok) return { status: 'degraded', reason: canary.reason };
  if (canary.ok) return { status: 'degraded', reason: liveness.reason };
  return { status: 'down', reason: liveness.reason };
}
