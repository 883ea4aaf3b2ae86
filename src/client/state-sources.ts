import type { PublishedState } from '../state/types';
import { isStale } from '../state/validate';
import { emptyConsensus, settle, type AppOutcomes } from './consensus';
import type { Reporter } from './failure-report';
import type { StateSource, StateView } from './state-source';
import type { ReportOutcome } from './types';

/*
 * Several monitors (issue 11: one next to each node) for one app. Each monitor is read by its own
 * httpStateSource, unchanged; this file only composes them: the freshest non-stale document wins, so the app
 * keeps a monitor's view while either monitor's host is down, and failure reports go to every monitor.
 */

/**
 * After the first fresh answer, how long a read still waits for the other monitors before it settles for
 * what it has. Only a monitor without a document in hand is ever waited for (one with a document answers
 * from its cache at once), so this is paid on a cold start or while a monitor has never answered: long
 * enough for two monitors on different continents to both answer a cold start, short enough that a hung
 * monitor costs an app request almost nothing. The straggler's answer is cached when it comes.
 */
export const STRAGGLER_GRACE_MS = 100;

/**
 * Splits and checks a list of monitor URLs. `what` names the option or variable in the error, e.g.
 * "stateUrls" or "LLM_SENTINEL_STATE_URL". Throws TypeError: a wrong list is a programming error of the app.
 */
export function checkStateUrls(urls: readonly unknown[], what: string): string[] {
  if (urls.length === 0) throw new TypeError(`llm-sentinel client: ${what} is empty; give at least one monitor's /state URL`);
  return urls.map((u, i) => {
    const at = `${what}[${i}]`;
    if (typeof u !== 'string' || u.trim() === '') throw new TypeError(`llm-sentinel client: ${at} is empty; expected an http:// or https:// /state URL`);
    let ok = false;
    try {
      const p = new URL(u.trim());
      ok = (p.protocol === 'http:' || p.protocol === 'https:') && p.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) throw new TypeError(`llm-sentinel client: ${at} must be an http:// or https:// URL, got ${JSON.stringify(u.slice(0, 100))}`);
    return u.trim();
  });
}

/**
 * The monitors' /state URLs from the options or the environment; undefined when there are none.
 * One URL given as `stateUrl` or as an LLM_SENTINEL_STATE_URL without a comma is passed through untouched,
 * exactly as before several monitors existed. A list (`stateUrls`, or a comma in the variable) is checked.
 */
export function resolveStateUrls(
  options: { stateUrl?: string; stateUrls?: readonly string[] },
  env: Record<string, string | undefined>,
  explicit: boolean,
): string[] | undefined {
  if (options.stateUrl !== undefined && options.stateUrls !== undefined) {
    throw new TypeError('llm-sentinel client: pass stateUrl (one monitor) or stateUrls (several), not both');
  }
  if (options.stateUrls !== undefined) {
    if (!Array.isArray(options.stateUrls)) throw new TypeError('llm-sentinel client: stateUrls must be an array of /state URLs');
    return checkStateUrls(options.stateUrls, 'stateUrls');
  }
  const one = explicit ? options.stateUrl : env.LLM_SENTINEL_STATE_URL || undefined;
  if (one === undefined || one === '') return undefined;
  if (!explicit && one.includes(',')) return checkStateUrls(one.split(','), 'LLM_SENTINEL_STATE_URL');
  return [one];
}

/** A URL as it may appear in a reason: no credentials, no query (either could carry a secret). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

export interface Monitor {
  /** How the monitor is named in reasons (its URL without credentials or query). */
  label: string;
  source: StateSource;
}

export interface FreshestOptions {
  now: () => number;
  /** The app's override of each document's own staleAfterMs. */
  staleAfterMs?: number;
  graceMs?: number;
  /** The app's own recent results per node: the tie-breaker when the monitors disagree (consensus.ts). */
  outcomes?: () => AppOutcomes;
  /** Told once per monitor and problem (a self-contradicting document, a clock that is off). */
  warn?: (message: string) => void;
}

const updatedMs = (s: PublishedState): number => Date.parse(s.updatedAt);

/**
 * The rule before issue 22, kept for the bench's "before" figure: the freshest (latest updatedAt) non-stale
 * document, ties to the earlier monitor in the list. It alternates with every heartbeat while the monitors
 * disagree; freshestStateSource uses consensus.ts instead. Pure. When none is fresh, the freshest stale document is returned (the plan then
 * says how old it is and uses the configured order), or, with no document at all, every monitor's error.
 */
export function pickFreshest(views: ReadonlyArray<{ label: string; view: StateView | undefined }>, now: number, staleAfterMs?: number): StateView {
  let fresh: { view: StateView; at: number } | undefined;
  let stale: { view: StateView; at: number } | undefined;
  for (const { view } of views) {
    const s = view?.state;
    if (!view || !s) continue;
    const at = updatedMs(s);
    if (!isStale(s, now, staleAfterMs ?? s.staleAfterMs)) {
      if (!fresh || at > fresh.at) fresh = { view, at };
    } else if (!stale || at > stale.at) stale = { view, at };
  }
  if (fresh) return fresh.view;
  const errors = views.map(({ label, view }) => `${label}: ${view?.error ?? (view?.state ? `stale since ${view.state.updatedAt}` : 'no answer yet')}`).join('; ');
  const error = `no monitor has a fresh state (${errors})`;
  return stale ? { ...stale.view, error } : { source: 'http', error };
}

/**
 * One StateSource over several monitors. Every read asks each monitor's source (each answers from its cache
 * when it can and revalidates behind it) and settles what came back into one view (consensus.ts: one steady
 * choice while the monitors disagree; the rule's memory lives here, one per client). It waits for all of
 * them, except that once some monitor has given a fresh document, stragglers get STRAGGLER_GRACE_MS more: a
 * hung monitor never holds an app request for its whole state timeout while another monitor has answered.
 */
export function freshestStateSource(monitors: readonly Monitor[], opts: FreshestOptions): StateSource {
  const grace = opts.graceMs ?? STRAGGLER_GRACE_MS;
  const isFresh = (v: StateView): boolean => v.state !== undefined && !isStale(v.state, opts.now(), opts.staleAfterMs ?? v.state.staleAfterMs);
  let memory = emptyConsensus();
  const warned = new Set<string>();
  const combine = (views: Array<StateView | undefined>): StateView => {
    const r = settle(
      monitors.map((m, i) => ({ label: m.label, state: views[i]?.state, error: views[i]?.error })),
      opts.outcomes?.() ?? {},
      memory,
      opts.now(),
      opts.staleAfterMs,
    );
    memory = r.memory;
    for (const w of r.warnings) {
      if (warned.has(w.key)) continue;
      warned.add(w.key);
      opts.warn?.(`llm-sentinel client: ${w.message}`);
    }
    if (r.error !== undefined) return { source: 'http', ...(r.state ? { state: r.state } : {}), error: r.error };
    // The chosen monitor's own refresh error (a cached document) still reaches the plan's reason.
    const own = views[monitors.findIndex((m) => m.label === r.label)]?.error;
    return { source: 'http', state: r.state, ...(own ? { error: own } : {}), ...(r.disagreement ? { disagreement: r.disagreement } : {}) };
  };
  return {
    read: () =>
      new Promise<StateView>((resolve) => {
        const views: Array<StateView | undefined> = monitors.map(() => undefined);
        let pending = monitors.length;
        let timer: NodeJS.Timeout | undefined;
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          if (timer) clearTimeout(timer);
          resolve(combine(views));
        };
        monitors.forEach((m, i) => {
          m.source
            .read()
            .catch((e: unknown): StateView => ({ source: 'http', error: `state unreadable: ${(e as Error)?.message ?? String(e)}` }))
            .then((v) => {
              views[i] = v;
              pending--;
              if (pending === 0) finish();
              else if (!timer && !done && isFresh(v)) timer = setTimeout(finish, grace);
            });
        });
        if (monitors.length === 0) finish();
      }),
  };
}

/**
 * Sends each failure report to every monitor: each judges the nodes for itself, and a report only the dead
 * monitor received would be lost. Delivered when at least one monitor took it.
 */
export function fanOutReporter(reporters: ReadonlyArray<{ label: string; reporter: Reporter }>): Reporter {
  return {
    async send(r): Promise<ReportOutcome> {
      const outcomes = await Promise.all(reporters.map(async ({ label, reporter }) => ({ label, outcome: await reporter.send(r) })));
      const ok = outcomes.find((o) => o.outcome.delivered);
      if (ok) return ok.outcome;
      return {
        delivered: false,
        via: 'http',
        error: outcomes.map(({ label, outcome }) => `${label}: ${outcome.delivered ? 'delivered' : outcome.error}`).join('; '),
      };
    },
  };
}
