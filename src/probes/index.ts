export { probeLiveness, normaliseModel } from './liveness';
export { probeCanary } from './canary';
export { classifyHttp, classifyNetworkError, type HttpFacts, type Verdict, type CloudflareInfo } from './classify';
export { createProbeAgent, type ProbeContext, type ProbeSettings } from './http';
export { REASONS, type Reason, type ProbeKind, type ProbeResult } from './types';
