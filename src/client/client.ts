import { classifyError, classifyResponse, settleFailure, type Failure } from './classify';
import type { AppOutcome } from './consensus';
import { plan, type Plan } from './plan';
import { createReporter, type Reporter } from './failure-report';
import { anySignal, refuseFileOptions, runtimeCheck, type ClientPlatform } from './platform';
import { encodeBody, reportUrlFor, target, type BodyInit, type HeadersInit } from './request';
import { httpStateSource, type StateSource, type StateView } from './state-source';
import { displayUrl, fanOutReporter, freshestStateSource, resolveStateUrls } from './state-sources';
import { SUSPECT_REASON } from './suspicion';
import { freshEvidence, watchSuspicion } from './watch';
import {
  AllEndpointsFailedError,
  type Attempt,
  type ClientNode,
  type Endpoint,
  type FetchLike,
  type PreferredEndpoint,
  type SentinelClient,
  type SentinelClientOptions,
} from './types';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_TTL_MS = 2_000;
const DEFAULT_STATE_TIMEOUT_MS = 2_000;
/** One report per node and reason per this long per client: a burst of failed requests is one signal. */
const REPORT_EVERY_MS = 5_000;
/**
 * A node this client just saw fail is tried last for this long, even while the monitor still calls it up:
 * between the failure and the monitor's verdict (a few seconds with a report) no second request should
 * wait out the same timeout. A success clears it at once.
 */
const DEFAULT_FAILURE_HOLD_MS = 30_000;
/** Suspicion: a request silent this long asks the monitor to probe its node now (see suspicion.ts). */
const DEFAULT_SUSPECT_AFTER_MS = 2_500;
/** One suspect report per node per this long per client: many waiting requests share one probe. */
const SUSPECT_EVERY_MS = 1_000;
/** How often a waiting request looks at the monitor's view: a stat for the file, the cached document for HTTP. */
const WATCH_POLL_MS = { file: 100, http: 250 } as const;

function envNodes(env: Record<string, string | undefined>): ClientNode[] {
  const out: ClientNode[] = [];
  if (env.OLLAMA_PRIMARY_URL) out.push({ name: 'primary', url: env.OLLAMA_PRIMARY_URL });
  if (env.OLLAMA_FALLBACK_URL) out.push({ name: 'fallback', url: env.OLLAMA_FALLBACK_URL });
  return out;
}

/** Mistakes in the app's own options are programming errors and fail at construction, not at request time. */
function checkNodes(nodes: ClientNode[]): void {
  if (nodes.length === 0) {
    throw new TypeError(
      'llm-sentinel client: no nodes configured; pass options.nodes or set OLLAMA_PRIMARY_URL (and OLLAMA_FALLBACK_URL) so requests still work while the monitor is down',
    );
  }
  nodes.forEach((n, i) => {
    if (!n || typeof n.name !== 'string' || n.name === '') throw new TypeError(`llm-sentinel client: nodes[${i}].name must be a non-empty string`);
    let ok = false;
    try {
      const u = new URL(n.url);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) throw new TypeError(`llm-sentinel client: nodes[${i}].url must be an http:// or https:// URL`);
  });
}

interface Outcome {
  response?: Response;
  failure?: Failure;
  /** Abandoned by the client itself (the other leg of a hedged pair won): not a node failure. */
  cancelled?: boolean;
}

/** `platform` is injected by the entry point: index.ts (Node) or edge.ts (fetch-only). */
export function createSentinelClient(options: SentinelClientOptions | undefined, platform: ClientPlatform): SentinelClient {
  options = options ?? {};
  const env = options.env ?? platform.env();
  const nodes = (options.nodes ?? envNodes(env)).map((n) => ({ ...n }));
  checkNodes(nodes);
  const explicitSource = options.stateFile !== undefined || options.stateUrl !== undefined || options.stateUrls !== undefined;
  const stateUrls = resolveStateUrls(options, env, explicitSource);
  const files = platform.files;
  if (!files) refuseFileOptions(options, explicitSource ? undefined : env.LLM_SENTINEL_STATE_FILE, stateUrls !== undefined);
  const stateFile = !files ? undefined : explicitSource ? options.stateFile : env.LLM_SENTINEL_STATE_FILE || undefined;
  const stateUrl = stateUrls?.[0];
  const token = options.token ?? (env.LLM_SENTINEL_TOKEN || undefined);
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const ready = runtimeCheck(options.fetch !== undefined);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  /** This app's own latest results per node: the tie-breaker when several monitors disagree. */
  const outcomes: Record<string, AppOutcome> = {};
  let source: StateSource | undefined;
  const several = !stateFile && stateUrls !== undefined && stateUrls.length > 1;
  const httpSource = (url: string): StateSource =>
    httpStateSource({
      url,
      token,
      ttlMs: options.ttlMs ?? DEFAULT_TTL_MS,
      timeoutMs: options.stateTimeoutMs ?? DEFAULT_STATE_TIMEOUT_MS,
      fetch: fetchImpl,
      now,
      ...(several ? { revalidateStale: { staleAfterMs: options.staleAfterMs } } : {}),
    });
  if (stateFile && files) source = files.stateSource(stateFile);
  else if (several && stateUrls) {
    source = freshestStateSource(
      stateUrls.map((url) => ({ label: displayUrl(url), source: httpSource(url) })),
      { now, staleAfterMs: options.staleAfterMs, outcomes: () => outcomes, warn: options.onWarning ?? ((m) => console.warn(m)) },
    );
  } else if (stateUrl) source = httpSource(stateUrl);

  let reporter: Reporter | undefined;
  if (options.reports !== false) {
    const explicit = options.reportDir !== undefined || options.reportUrl !== undefined;
    const reportDir = explicit ? options.reportDir : stateFile && files ? files.reportDirFor(stateFile) : undefined;
    const reportUrl = explicit ? options.reportUrl : !stateFile && stateUrl ? reportUrlFor(stateUrl) : undefined;
    reporter =
      !explicit && several && stateUrls
        ? fanOutReporter(stateUrls.map((url) => ({ label: displayUrl(url), reporter: createReporter({ reportUrl: reportUrlFor(url), token, fetch: fetchImpl, now, timeoutMs: DEFAULT_STATE_TIMEOUT_MS }) })))
        : createReporter({ reportDir, writeFile: files?.writeReport, reportUrl, token, fetch: fetchImpl, now, timeoutMs: DEFAULT_STATE_TIMEOUT_MS });
  }
  const lastReported = new Map<string, number>();
  const failureHoldMs = options.failureHoldMs ?? DEFAULT_FAILURE_HOLD_MS;
  const failedAt = new Map<string, number>();
  const hedgeAfterMs = options.hedgeAfterMs;
  const heldBack = (ep: Endpoint, t: number): boolean => {
    const at = failedAt.get(ep.name);
    return at !== undefined && t - at >= 0 && t - at < failureHoldMs;
  };

  const suspicion = options.suspicion !== false && source !== undefined && reporter !== undefined;
  const suspectAfterMs = options.suspectAfterMs ?? DEFAULT_SUSPECT_AFTER_MS;
  const lastSuspect = new Map<string, number>();

  const readView = async (): Promise<StateView | undefined> => {
    ready(); // every call that needs the runtime reads the view first: a missing capability is named here
    try {
      return source ? await source.read() : undefined;
    } catch (e) {
      // Sources return errors as values; this is insurance that the monitor can never break the app.
      return { source: stateFile ? 'file' : 'http', error: `state unreadable: ${(e as Error)?.message}` };
    }
  };
  const currentPlan = async (): Promise<Plan> => plan(nodes, await readView(), now(), options.staleAfterMs);

  const suspectInBackground = (ep: Endpoint, waitedMs: number): void => {
    if (!reporter) return;
    const t = now();
    const last = lastSuspect.get(ep.name);
    if (last !== undefined && t - last >= 0 && t - last < SUSPECT_EVERY_MS) return;
    lastSuspect.set(ep.name, t);
    void reporter.send({ node: ep.name, reason: SUSPECT_REASON, detail: `no response headers after ${Math.round(waitedMs)}ms` }).catch(() => undefined);
  };

  const reportInBackground = (ep: Endpoint, f: Failure): void => {
    // The monitor already knows a node it publishes as down; telling it again is noise.
    if (!reporter || ep.status === 'down') return;
    const key = `${ep.name}\u0000${f.reason}`;
    const t = now();
    const last = lastReported.get(key);
    if (last !== undefined && t - last >= 0 && t - last < REPORT_EVERY_MS) return;
    lastReported.set(key, t);
    void reporter.send({ node: ep.name, reason: f.reason, detail: f.detail }).catch(() => undefined);
  };

  /** One try on one node: a deadline on the response headers only, so a long stream is never cut. */
  const attempt = async (url: string, init: RequestInit, userSignal: AbortSignal | undefined, cancel?: AbortSignal): Promise<Outcome> => {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new DOMException(`no response headers within ${timeoutMs}ms`, 'TimeoutError'));
    }, timeoutMs);
    try {
      const signals = [ctl.signal, ...(userSignal ? [userSignal] : []), ...(cancel ? [cancel] : [])];
      const signal = signals.length === 1 ? ctl.signal : anySignal(signals);
      const res = await fetchImpl(url, { ...init, signal, redirect: init.redirect ?? 'manual' });
      const failure = classifyResponse(res);
      if (!failure) return { response: res };
      const settled = await settleFailure(res, failure);
      if (userSignal?.aborted) throw userSignal.reason;
      return { failure: settled };
    } catch (e) {
      // The caller cancelling is not a node failure: stop here, try nothing else, report nothing.
      if (userSignal?.aborted) throw userSignal.reason ?? e;
      if (cancel?.aborted) return { cancelled: true };
      return { failure: classifyError(e, timedOut, timeoutMs) };
    } finally {
      clearTimeout(timer);
    }
  };

  const tryInOrder = async (build: (ep: Endpoint) => { url: string; init: RequestInit }, userSignal: AbortSignal | undefined): Promise<Response> => {
    if (userSignal?.aborted) throw userSignal.reason;
    const view = await readView();
    const planned = plan(nodes, view, now(), options.staleAfterMs).order;
    const t = now();
    const order = [...planned.filter((ep) => !heldBack(ep, t)), ...planned.filter((ep) => heldBack(ep, t))];
    const attempts: Attempt[] = [];

    type Leg = Outcome & { ep: Endpoint; url: string };
    const runLeg = async (ep: Endpoint, cancel?: AbortSignal): Promise<Leg> => {
      let req: { url: string; init: RequestInit };
      try {
        req = build(ep);
      } catch (e) {
        return { ep, url: ep.url, failure: { reason: 'bad_response', detail: `cannot build the request: ${(e as Error)?.message}` } };
      }
      return { ep, url: req.url, ...(await attempt(req.url, req.init, userSignal, cancel)) };
    };
    /** Books a leg's outcome; returns its response when it has one. */
    const book = (leg: Leg): Response | undefined => {
      if (leg.response) {
        failedAt.delete(leg.ep.name);
        (outcomes[leg.ep.name] ??= {}).lastOkAt = now();
        return leg.response;
      }
      if (leg.cancelled || !leg.failure) return undefined;
      const f = leg.failure;
      failedAt.set(leg.ep.name, now());
      (outcomes[leg.ep.name] ??= {}).lastFailAt = now();
      attempts.push({ node: leg.ep.name, url: leg.url, reason: f.reason, ...(f.status !== undefined ? { status: f.status } : {}), detail: f.detail });
      reportInBackground(leg.ep, f);
      return undefined;
    };

    /**
     * What makes a silent attempt on `ep` get company: the blunt hedgeAfterMs timer (opt-in) and/or the
     * monitor's suspicion (default). Undefined: nothing can, the attempt waits up to timeoutMs.
     */
    const companyFor = (ep: Endpoint): { when: Promise<string>; stop(): void } | undefined => {
      const stops: Array<() => void> = [];
      const triggers: Array<Promise<string>> = [];
      if (hedgeAfterMs !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        triggers.push(new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no response headers within ${hedgeAfterMs}ms`), hedgeAfterMs))));
        stops.push(() => clearTimeout(timer));
      }
      if (suspicion && source && view) {
        const started = now();
        const w = watchSuspicion({
          source,
          node: ep.name,
          before: freshEvidence(view.state, ep.name, started, options.staleAfterMs),
          suspectAfterMs,
          pollMs: WATCH_POLL_MS[view.source === 'http' ? 'http' : 'file'],
          staleAfterMs: options.staleAfterMs,
          now,
          suspect: () => suspectInBackground(ep, now() - started),
        });
        triggers.push(w.hedge.then((h) => `no response headers yet and ${h.detail}`));
        stops.push(() => w.stop());
      }
      if (triggers.length === 0) return undefined;
      return { when: Promise.race(triggers), stop: () => stops.forEach((f) => f()) };
    };

    for (let i = 0; i < order.length; i++) {
      const ep = order[i] as Endpoint;
      const next = order[i + 1];
      const company = next === undefined ? undefined : companyFor(ep);
      if (!company || next === undefined) {
        const res = book(await runLeg(ep));
        if (res) return res;
        continue;
      }
      // If `ep` has not answered when company is due, ask `next` too; the first response wins and the
      // other leg is abandoned (Ollama stops generating when the client goes away).
      const cancelFirst = new AbortController();
      const first = runLeg(ep, cancelFirst.signal);
      let early: Leg | { why: string };
      try {
        early = await Promise.race([first, company.when.then((why) => ({ why }))]);
      } finally {
        // Also when the caller aborts (the race rejects): a watch must not outlive its request.
        company.stop();
      }
      if (!('why' in early)) {
        const res = book(early);
        if (res) return res;
        continue;
      }
      const why = early.why;
      i++;
      const cancelNext = new AbortController();
      const winner = await new Promise<Response | undefined>((resolve, reject) => {
        let pending = 2;
        let won = false;
        const settle = (leg: Leg, other: AbortController) => {
          if (leg.response && won) void leg.response.body?.cancel().catch(() => undefined);
          else if (leg.response) {
            won = true;
            other.abort();
            resolve(book(leg));
          } else book(leg);
          if (--pending === 0 && !won) resolve(undefined);
        };
        first.then((leg) => settle(leg, cancelNext), reject);
        runLeg(next, cancelNext.signal).then((leg) => {
          // The company answered while `ep` was still silent: that silence is a failure worth remembering
          // (the failure hold) and reporting, even though the abandoned request itself ends as cancelled.
          if (leg.response && !won) book({ ep, url: ep.url, failure: { reason: 'timeout', detail: `${why}; ${leg.ep.name} answered first` } });
          settle(leg, cancelFirst);
        }, reject);
      });
      if (winner) return winner;
    }
    throw new AllEndpointsFailedError(attempts);
  };

  /**
   * The caller's headers go to every node; a node's own credentials (URL userinfo, configured headers) are
   * meant for that node alone, so they win. An SDK's placeholder `Authorization: Bearer ollama` must not
   * replace the Basic credentials of a node behind a proxy.
   */
  const headersFor = (ep: Endpoint, basic: string | undefined, contentType: string | undefined, callerHeaders: HeadersInit | undefined): Headers => {
    const h = new Headers();
    if (contentType) h.set('content-type', contentType);
    new Headers(callerHeaders).forEach((v, k) => h.set(k, v));
    if (basic) h.set('authorization', `Basic ${basic}`);
    for (const [k, v] of Object.entries(ep.headers ?? {})) h.set(k, v);
    return h;
  };

  const fetchWithFallback = (path: string, body?: unknown, init: RequestInit = {}): Promise<Response> => {
    const fixed = typeof body === 'function' ? undefined : encodeBody(body);
    return tryInOrder((ep) => {
      const enc = fixed ?? encodeBody((body as (e: Endpoint) => unknown)(ep));
      const t = target(ep, path, false);
      const method = init.method ?? (enc.body === undefined ? 'GET' : 'POST');
      return { url: t.url, init: { ...init, method, body: enc.body, headers: headersFor(ep, t.basic, enc.contentType, init.headers) } };
    }, init.signal ?? undefined);
  };

  const sentinelFetch: FetchLike = async (input, init) => {
    const req = input instanceof Request ? input : undefined;
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const u = new URL(raw);
    const method = init?.method ?? req?.method ?? 'GET';
    const headers = new Headers(req?.headers);
    new Headers(init?.headers).forEach((v, k) => headers.set(k, v));
    let body: BodyInit | undefined = init?.body ?? undefined;
    if (body === undefined && req && method !== 'GET' && method !== 'HEAD') body = await req.arrayBuffer();
    // A stream can be sent once; a request that may go to a second node has to be replayable.
    if (body instanceof ReadableStream) body = await new Response(body).arrayBuffer();
    const signal = init?.signal ?? req?.signal ?? undefined;
    const { body: _b, headers: _h, method: _m, signal: _s, ...rest } = init ?? {};
    return tryInOrder((ep) => {
      const t = target(ep, `${u.pathname}${u.search}`, true);
      return { url: t.url, init: { ...rest, method, body, headers: headersFor(ep, t.basic, undefined, headers) } };
    }, signal);
  };

  const getPreferredEndpoint = async (): Promise<PreferredEndpoint> => (await currentPlan()).preferred;

  return {
    getPreferredEndpoint,
    endpoints: async () => (await currentPlan()).order,
    fetchWithFallback,
    fetch: sentinelFetch,
    report: async (r) => {
      ready();
      return reporter ? reporter.send(r) : { delivered: false, via: 'none', error: 'reports are off' };
    },
  };
}
