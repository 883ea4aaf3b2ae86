import { cloudflareProtection, retryAfterMs, MAX_RETRY_AFTER_MS } from '../../src/core/cloudflare';
import { decide, initialState, type MonitorState, type NodeRuntime, type Policy } from '../../src/core/decide';
import type { ProbeResult, Reason } from '../../src/probes/types';
import { REASON_INFO } from '../../src/core/reasons';
import { nextProbeDelay, rateLimitHold, wantsFastRecheck } from '../../src/core/schedule';
import { newTrack, type Track } from '../../src/core/hysteresis';
import { classifyResponse, settleFailure } from '../../src/client/classify';
import { classifyHttp, type HttpFacts } from '../../src/probes/classify';
import { challengePage, cloudflareError } from '../../src/simulator/cloudflare';
import { parseFaultRequest } from '../../src/simulator/control';

/*
 * Cloudflare's own protections, recognised from its documented signals only (src/core/cloudflare.ts):
 *   - cf-mitigated: challenge: developers.cloudflare.com/cloudflare-challenges/challenge-types/challenge-pages/detect-response
 *   - 1020 / 1015 RFC 9457 JSON: changelog 2026-03-11 (JSON for 1xxx errors); field values as in live 2026-08 captures
 *   - Retry-After: 30 on 1015: changelog 2026-03-12 (Retry-After for retryable 1xxx errors)
 *   - cf-error-type: support/troubleshooting/http-status-codes/cloudflare-error-headers
 * The fixtures are the simulator's own pages (src/simulator/cloudflare.ts), which follow those documents.
 */

const HOST = 'ollama.example.com';
const JSON_ACCEPT = 'application/json';
const facts = (reply: { status: number; headers: Record<string, string>; body?: unknown }, path = '/api/version'): HttpFacts => ({
  status: reply.status,
  headers: reply.headers,
  expect: 'json',
  body: typeof reply.body === 'string' ? reply.body : '',
  path,
  now: Date.parse('2026-12-07T00:00:00Z'),
});
/** The same page without the diagnostic header: the code must come from the page itself. */
const withoutErrorType = (reply: { status: number; headers: Record<string, string>; body?: unknown }) => {
  const headers = { ...reply.headers };
  delete headers['cf-error-type'];
  return { ...reply, headers };
};

describe("Cloudflare's protections in the probe classifier", () => {
  it.each([
    ['challenge', 'cloudflare_challenge', challengePage(HOST), undefined],
    ['WAF block, HTML', 'cloudflare_blocked', cloudflareError(1020, undefined, HOST), 1020],
    ['WAF block, RFC 9457 JSON', 'cloudflare_blocked', cloudflareError(1020, JSON_ACCEPT, HOST), 1020],
    ['WAF block, HTML without cf-error-type', 'cloudflare_blocked', withoutErrorType(cloudflareError(1020, undefined, HOST)), 1020],
    ['WAF block, JSON without cf-error-type', 'cloudflare_blocked', withoutErrorType(cloudflareError(1020, JSON_ACCEPT, HOST)), 1020],
    ['rate limit, HTML', 'cloudflare_rate_limited', cloudflareError(1015, undefined, HOST), 1015],
    ['rate limit, JSON', 'cloudflare_rate_limited', cloudflareError(1015, JSON_ACCEPT, HOST), 1015],
    ['rate limit, JSON without cf-error-type', 'cloudflare_rate_limited', withoutErrorType(cloudflareError(1015, JSON_ACCEPT, HOST)), 1015],
  ] as const)('%s → %s', (_name, reason, reply, code) => {
    const v = classifyHttp(facts(reply as { status: number; headers: Record<string, string>; body?: unknown }));
    expect(v.reason).toBe(reason);
    expect(v.cloudflare?.errorCode).toBe(code);
    expect(v.cloudflare?.ray).toMatch(/^[0-9a-f]{16}-AMS$/);
    expect(v.detail.length).toBeLessThanOrEqual(300);
    expect(REASON_INFO[reason].hint).toMatch(/Security Events log/);
    expect(REASON_INFO[reason].hint).toMatch(/apps/);
  });

  it('a rate limit carries its Retry-After (seconds, or an HTTP-date) into the result', () => {
    const v = classifyHttp(facts(cloudflareError(1015, JSON_ACCEPT, HOST)));
    expect(v).toMatchObject({ reason: 'cloudflare_rate_limited', retryAfterMs: 30_000 });
    expect(v.detail).toMatch(/429 from Cloudflare on \/api\/version \(error 1015: rate limited\), ray [0-9a-f]{16}-AMS: a rate limiting rule; retry after 30 s/);
    const dated = cloudflareError(1015, JSON_ACCEPT, HOST);
    dated.headers['retry-after'] = 'Mon, 07 Dec 2026 00:01:30 GMT';
    expect(classifyHttp(facts(dated)).retryAfterMs).toBe(90_000);
    expect(retryAfterMs('86400000')).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it('the hints name the right setting: Bot Fight Mode cannot be skipped, Super Bot Fight Mode can', () => {
    const hint = REASON_INFO.cloudflare_challenge.hint;
    expect(hint).toMatch(/Bot Fight Mode cannot be skipped by a WAF skip rule/);
    expect(hint).toMatch(/IP Access rule/);
    expect(hint).toMatch(/skip rule can skip Super Bot Fight Mode/);
    expect(REASON_INFO.cloudflare_blocked.hint).toMatch(/WAF custom rule \(1020\)/);
    expect(REASON_INFO.cloudflare_rate_limited.hint).toMatch(/rate limiting rule \(1015\)/);
    for (const r of ['cloudflare_challenge', 'cloudflare_blocked', 'cloudflare_rate_limited'] as const) {
      expect(REASON_INFO[r].hint).not.toMatch(/service token|OLLAMA_MAX_QUEUE/);
      // The path refuses: a direct URL tells the tunnel from Ollama, and a canary failing so counts as reachability.
      expect(REASON_INFO[r]).toMatchObject({ network: true, path: true, noAnswer: false, silent: false });
    }
    expect([REASON_INFO.cloudflare_challenge.weight, REASON_INFO.cloudflare_blocked.weight, REASON_INFO.cloudflare_rate_limited.weight]).toEqual(['hard', 'hard', 'soft']);
  });
});

describe('bad input: no Cloudflare signal, no Cloudflare reason', () => {
  const CF = { server: 'cloudflare', 'cf-ray': '8f1e2b3c4d5e6f70-AMS' };
  it("a 403 without any Cloudflare signal is still Ollama's own 403, with today's hint", () => {
    // Ollama's empty 403 (Host refused), tunnelled: Cloudflare's proxy headers, nothing more.
    const empty = classifyHttp({ status: 403, headers: CF, expect: 'json', body: '' });
    expect(empty.reason).toBe('auth_required');
    expect(empty.detail).toMatch(/Host header/);
    const plain = classifyHttp({ status: 403, headers: { 'content-type': 'text/plain' }, expect: 'json', body: 'Forbidden' });
    expect(plain.reason).toBe('auth_required');
    expect(REASON_INFO.auth_required.hint).toBe('send the Access service token in the node headers, or fix the Host header');
  });

  it('a page that only mentions Cloudflare (even its codes) is not a Cloudflare answer', () => {
    const page = '<html><head><title>Just a moment...</title></head><body>Protected by Cloudflare. Error 1020: Access denied. error code: 1015</body></html>';
    const html = { 'content-type': 'text/html' };
    expect(classifyHttp({ status: 403, headers: html, expect: 'json', body: page }).reason).toBe('auth_required');
    expect(classifyHttp({ status: 429, headers: html, expect: 'json', body: page }).reason).toBe('overloaded');
    expect(classifyHttp({ status: 200, headers: html, expect: 'json', body: page }).reason).toBe('not_ollama');
    // JSON that looks like Cloudflare's, from a server without Cloudflare's headers, is not Cloudflare's either.
    const fake = JSON.stringify({ error_code: 1020, cloudflare_error: true });
    expect(classifyHttp({ status: 403, headers: { 'content-type': 'application/json' }, expect: 'json', body: fake }).reason).toBe('auth_required');
  });

  it("Ollama's 429 passed through Cloudflare (proxy headers, Ollama's JSON) stays overloaded", () => {
    const v = classifyHttp({ status: 429, headers: { ...CF, 'content-type': 'application/json' }, expect: 'json', body: '{"error":"too many requests"}' });
    expect(v.reason).toBe('overloaded');
    expect(cloudflareProtection(429, (n) => (CF as Record<string, string>)[n], undefined, '{"error":"x"}')).toBeUndefined();
  });
});

describe('weights that match the facts', () => {
  const policy: Policy = { fall: 3, softFall: 4, rise: 2, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000, canaryEnabled: true, coldStartMs: 2_000, queueAllowance: 45_000 };
  /** Probes until primary is down, starting up; how many it took (liveness and canary alternating). */
  const probesToDown = (reason: Reason): number => {
    let state: MonitorState = initialState([{ name: 'primary', priority: 0 }], { wall: 0, mono: 0 });
    const result = (kind: 'liveness' | 'canary', r: Reason, t: number): ProbeResult => ({ node: 'primary', kind, ok: r === 'ok', reason: r, startedAt: t, durationMs: 5 });
    for (let t = 1; t <= 4; t++) state = decide(state, result(t % 2 ? 'liveness' : 'canary', 'ok', t), policy, { wall: t, mono: t }).next;
    expect(state.nodes[0]?.status).toBe('up');
    for (let n = 1; n <= 10; n++) {
      state = decide(state, result(n % 2 ? 'liveness' : 'canary', reason, 100 + n), policy, { wall: 100 + n, mono: 100 + n }).next;
      if (state.nodes[0]?.status === 'down') return n;
    }
    return Infinity;
  };

  it('a challenge or a block is confirmed as quickly as a refused connection; a rate limit needs softFall', () => {
    expect(probesToDown('refused')).toBe(policy.fall);
    expect(probesToDown('cloudflare_challenge')).toBe(policy.fall);
    expect(probesToDown('cloudflare_blocked')).toBe(policy.fall);
    // Liveness and canary alike: a canary that meets Cloudflare never reached Ollama (reachability, not generation).
    expect(probesToDown('cloudflare_rate_limited')).toBe(policy.softFall);
  });
});

describe('the monitor never probes into a rate limit', () => {
  const cadence = { liveness: 10_000, canary: 60_000, fast: 2_000 };
  // Up, with one failure in: between its first bad sample and `fall`, the state that re-checks fast.
  const undecided: Track = { ...newTrack('ok'), failStreak: 1 };
  const node = (reason: string, retry?: number, at = 1_000_000, lastCheckAt = at) => ({
    reach: undecided,
    gen: newTrack(),
    speed: newTrack(),
    lastCheckAt,
    lastError: { reason: reason as 'cloudflare_rate_limited', message: '', at, ...(retry === undefined ? {} : { retryAfterMs: retry }) },
  });

  it('no fast re-check while rate limited; a hold until Retry-After has passed, never longer', () => {
    expect(wantsFastRecheck(node('refused'), 'liveness')).toBe(wantsFastRecheck({ reach: undecided, gen: newTrack(), speed: newTrack() }, 'liveness'));
    expect(wantsFastRecheck(node('cloudflare_rate_limited', 30_000), 'liveness')).toBe(false);
    expect(nextProbeDelay(node('cloudflare_rate_limited', 30_000), 'liveness', cadence)).toBe(10_000);
    expect(rateLimitHold(node('cloudflare_rate_limited', 30_000), 1_000_000 + 5_000)).toBe(25_000);
    expect(rateLimitHold(node('cloudflare_rate_limited', 30_000), 1_000_000 + 31_000)).toBe(0);
    // A wall clock stepped back an hour cannot stretch the hold past Retry-After from now.
    expect(rateLimitHold(node('cloudflare_rate_limited', 30_000), 1_000_000 - 3_600_000)).toBe(30_000);
    // Without Retry-After: no hold, but still no fast re-checks.
    expect(rateLimitHold(node('cloudflare_rate_limited'), 1_000_001)).toBe(0);
    // An older rate limit, since followed by another result, holds nothing.
    expect(rateLimitHold(node('cloudflare_rate_limited', 30_000, 1_000_000, 1_005_000), 1_006_000)).toBe(0);
    expect(rateLimitHold(node('overloaded', 30_000), 1_000_001)).toBe(0);
  });

  it('a canary that started before the rate limit and ends inside the hold does not lift it', () => {
    // A canary may run 75 s (it waits for the apps' drafts): liveness meets 1015 while it is under way.
    const policy: Policy = { fall: 3, softFall: 4, rise: 2, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000, canaryEnabled: true, coldStartMs: 2_000, queueAllowance: 45_000 };
    let state: MonitorState = initialState([{ name: 'primary', priority: 1 }], { wall: 0, mono: 0 });
    const at = (t: number) => ({ wall: t, mono: t });
    const limited: ProbeResult = { node: 'primary', kind: 'liveness', ok: false, reason: 'cloudflare_rate_limited', startedAt: 1_010_000, durationMs: 40, retryAfterMs: 30_000 };
    state = decide(state, limited, policy, at(1_010_040)).next;
    expect(rateLimitHold(state.nodes[0], 1_015_000)).toBe(25_000);
    const canary: ProbeResult = { node: 'primary', kind: 'canary', ok: true, reason: 'ok', startedAt: 1_000_000, durationMs: 20_000, ttftMs: 19_000, totalMs: 20_000 };
    state = decide(state, canary, policy, at(1_020_000)).next;
    expect(rateLimitHold(state.nodes[0], 1_020_000)).toBe(20_000);
    expect(wantsFastRecheck(state.nodes[0] as NodeRuntime, 'canary')).toBe(false);
    // Nor does one that fails (its deadline ran out) after the rate limit was met.
    state = decide(state, { ...canary, ok: false, reason: 'timeout', startedAt: 1_005_000 }, policy, at(1_025_000)).next;
    expect(rateLimitHold(state.nodes[0], 1_025_000)).toBe(15_000);
    expect(state.nodes[0]?.lastError?.reason).toBe('cloudflare_rate_limited');
    // A probe started after the rate limit (the hold over) ends it.
    state = decide(state, { ...canary, startedAt: 1_041_000 }, policy, at(1_042_000)).next;
    expect(rateLimitHold(state.nodes[0], 1_042_000)).toBe(0);
  });
});

describe("the client judges an app's response through the same table", () => {
  const response = (reply: { status: number; headers: Record<string, string>; body?: unknown }) =>
    new Response(typeof reply.body === 'string' ? reply.body : null, { status: reply.status, headers: reply.headers });

  it('a challenge is named from the headers alone', () => {
    expect(classifyResponse(response(challengePage(HOST)))).toMatchObject({ reason: 'cloudflare_challenge', status: 403, detail: expect.stringMatching(/^HTTP 403: Cloudflare challenged this request, ray [0-9a-f]{16}-AMS$/) });
  });

  it('a 1020 or 1015 page whose code is only in the body is named once the body prefix is read', async () => {
    for (const [code, reason] of [
      [1020, 'cloudflare_blocked'],
      [1015, 'cloudflare_rate_limited'],
    ] as const) {
      for (const accept of [undefined, JSON_ACCEPT]) {
        const reply = withoutErrorType(cloudflareError(code, accept, HOST));
        const first = classifyResponse(response(reply));
        expect(first?.reason).toBe(code === 1020 ? 'auth_required' : 'overloaded');
        const settled = await settleFailure(response(reply), first!);
        expect({ accept, reason: settled.reason, detail: settled.detail }).toEqual({ accept, reason, detail: expect.stringContaining(`(error ${code})`) });
      }
    }
    // With cf-error-type the headers are enough.
    expect(classifyResponse(response(cloudflareError(1015, JSON_ACCEPT, HOST)))).toMatchObject({ reason: 'cloudflare_rate_limited', detail: expect.stringMatching(/Retry-After 30$/) });
  });

  it("Ollama's own 403 stays auth_required, and its body is not read for nothing", async () => {
    const res = new Response('', { status: 403 });
    const f = classifyResponse(res)!;
    expect(f).toMatchObject({ reason: 'auth_required', detail: 'HTTP 403' });
    expect(await settleFailure(res, f)).toBe(f);
  });
});

describe("the simulator's control plane takes the page format", () => {
  it('format html or negotiate; anything else is refused with what is allowed', () => {
    expect(parseFaultRequest({ fault: 'cf_waf_block', format: 'html' })).toEqual({ fault: 'cf_waf_block', opts: { format: 'html' } });
    expect(parseFaultRequest({ fault: 'cf_rate_limit', format: 'negotiate', scope: 'liveness' })).toEqual({ fault: 'cf_rate_limit', opts: { format: 'negotiate', scope: 'liveness' } });
    expect(parseFaultRequest({ fault: 'cf_challenge', format: 'xml' })).toEqual({ error: 'format must be one of: negotiate, html' });
  });
});
