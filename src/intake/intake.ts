import { SUSPECT_REASON } from '../client/failure-report';
import type { Logger } from '../logging';
import type { RateLimiter } from './rate-limit';
import { parseReport, type ClientReport } from './validate';

export type ReportSource = 'http' | 'dropbox';

export interface AcceptedReport extends ClientReport {
  source: ReportSource;
}

export type IntakeResult =
  | { ok: true; node: string }
  | { ok: false; kind: 'invalid'; error: string }
  | { ok: false; kind: 'rate_limited'; node: string; retryAfterMs: number; error: string };

export interface ReportCounter {
  countReport(node: string, source: ReportSource, outcome: 'accepted' | 'rate_limited'): void;
}

export interface IntakeOptions {
  nodeNames: readonly string[];
  limiter: RateLimiter;
  logger: Logger;
  onReport(r: AcceptedReport): void;
  metrics?: ReportCounter;
}

/** The one path every report takes, whichever door it came in by: parse, check, rate-limit, hand over. */
export function createReportIntake(opts: IntakeOptions): { take(text: string, source: ReportSource): IntakeResult } {
  return {
    take(text, source) {
      const check = parseReport(text, opts.nodeNames);
      if (!check.ok) return { ok: false, kind: 'invalid', error: check.error };
      const { node } = check.report;
      // Suspect reports (a request waiting on a silent node) get their own budget: a busy app's suspicion
      // must not use up the budget of failure reports. The daemon caps the probes they cause (core/suspect).
      const t = opts.limiter.take(check.report.reason === SUSPECT_REASON ? `${node}\u0000${SUSPECT_REASON}` : node);
      if (!t.ok) {
        opts.metrics?.countReport(node, source, 'rate_limited');
        opts.logger.debug({ node, source }, 'client report rate-limited');
        return { ok: false, kind: 'rate_limited', node, retryAfterMs: t.retryAfterMs, error: `too many reports for node ${node}; try again in ${Math.ceil(t.retryAfterMs / 1000)}s` };
      }
      opts.metrics?.countReport(node, source, 'accepted');
      opts.logger.debug({ node, reason: check.report.reason, source }, 'client report accepted');
      opts.onReport({ ...check.report, source });
      return { ok: true, node };
    },
  };
}
