import type { Policy } from '../core/decide';
import type { Config } from './index';

/** The decision core's policy, from a validated config (the core never sees config types). */
export const policyOf = (c: Config): Policy => ({ ...c.decision, canaryEnabled: c.probes.canary.enabled, coldStartMs: c.probes.canary.coldStart, queueAllowance: c.probes.canary.queueAllowance });
