import type { NodeConfig } from '../config';
import { REASON_INFO } from '../core/reasons';
import { SUSPECT_ATTEMPTS, suspectStagger } from '../core/suspect';
import type { ProbeContext, ProbeSettings } from './http';
import { probeLiveness } from './liveness';
import type { ProbeResult } from './types';

export interface ConfirmOptions {
  /** Attempts in all (>= 1). */
  attempts: number;
  /** A further attempt starts when the previous ones have been silent (or failed) this long. */
  staggerMs: number;
}

/**
 * Liveness for a suspect report: the verdict may move an app's request at once, so one lost packet must not
 * look like a hung node. Attempt k starts k × staggerMs after the first (on its own connection: the probe
 * agent opens one per concurrent request), all within the first attempt's deadline, so a hung node still
 * fails in `liveness.timeout`. The first passing attempt wins and the others are abandoned; the probe fails
 * only when every attempt found no answer. A node that answers, even wrongly (HTTP 500, model missing), is
 * answering: that first answer is the result, no retry. A healthy node costs one request, as a cadence probe.
 */
export async function probeLivenessConfirmed(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext, opts: ConfirmOptions): Promise<ProbeResult> {
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  const timeout = settings.liveness.timeout;
  const mono = ctx.clock ? () => ctx.clock!.mono() : () => performance.now();
  const n = Math.max(1, Math.floor(opts.attempts));
  const t0 = mono();
  let started = 0;
  let failed = 0;
  let first: ProbeResult | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ProbeResult>((resolve) => {
      let done = false;
      const finish = (r: ProbeResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ ...r, attempts: started });
      };
      const launch = (): void => {
        clearTimeout(timer);
        if (done || started >= n) return;
        const k = started++;
        const elapsed = mono() - t0;
        // Later attempts share the first one's deadline: a hung node fails no later than a cadence probe.
        const left = Math.max(1, Math.round(timeout - elapsed));
        void probeLiveness(node, { ...settings, liveness: { ...settings.liveness, timeout: left } }, { ...ctx, signal }).then((r) => {
          if (k === 0) first = r;
          if (done) return;
          if (r.reason === 'aborted' || r.ok || !REASON_INFO[r.reason].silent) return finish(r);
          if (++failed === n) {
            const f = first ?? r;
            return finish({ ...f, durationMs: Math.max(f.durationMs, mono() - t0), detail: `${f.detail ?? f.reason} (${n} attempts, none answered)`.slice(0, 300) });
          }
          // A quick failure (refused, reset, a tunnel error page) need not wait for the stagger.
          launch();
        });
        if (started < n) timer = setTimeout(launch, Math.max(0, Math.min(opts.staggerMs, timeout - (mono() - t0))));
      };
      launch();
    });
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** The liveness probe that answers a suspect report, with the attempts and stagger of src/core/suspect. */
export function probeSuspect(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext): Promise<ProbeResult> {
  return probeLivenessConfirmed(node, settings, ctx, { attempts: SUSPECT_ATTEMPTS, staggerMs: suspectStagger(settings.liveness.timeout) });
}
