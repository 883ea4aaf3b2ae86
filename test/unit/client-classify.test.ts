import { classifyError, classifyResponse } from '../../src/client/classify';
import { ERROR_CODES, REASON_INFO } from '../../src/core/reasons';
import { classifyNetworkError } from '../../src/probes/classify';

/**
 * The client's classifier: which responses and thrown fetch errors make an app try the next node, and under
 * which reason it reports them. Status rows follow Ollama's API (docs/api.md: 2xx, a JSON error body with 4xx
 * for a bad request or a missing model) and Cloudflare's documented 5xx/1xxx errors (see
 * ../shared/reference/ollama-cloudflare.md).
 */
const res = (status: number, headers: Record<string, string> = {}) => new Response(status === 204 ? null : '', { status, headers });
const coded = (code: string, cause?: unknown) => Object.assign(new Error(`fetch failed (${code})`), { code, cause });
const wrapped = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: coded(code) });

describe('classifyResponse: status and headers only', () => {
  test.each([
    [200, {}, undefined],
    [204, {}, undefined],
    [302, { location: 'https://team.cloudflareaccess.com/cdn-cgi/access/login/x' }, 'auth_required'],
    [301, { location: 'https://elsewhere.example/' }, 'bad_response'],
    [401, {}, 'auth_required'],
    [403, { 'content-length': '0' }, 'auth_required'],
    [429, {}, 'overloaded'],
    [503, {}, 'overloaded'],
    [530, { server: 'cloudflare', 'cf-ray': '8d1f-AMS' }, 'cloudflare_tunnel_down'],
    [524, { server: 'cloudflare' }, 'cloudflare_timeout'],
    [502, { server: 'cloudflare' }, 'cloudflare_origin_unreachable'],
    [522, { 'cf-ray': 'x' }, 'cloudflare_origin_unreachable'],
    [502, {}, 'server_error'],
    [526, {}, 'tls'],
    [500, {}, 'server_error'],
    // Every node would answer a bad request or an unknown model the same: the caller needs the message.
    [400, {}, undefined],
    [404, {}, undefined],
  ] as Array<[number, Record<string, string>, string | undefined]>)('%i %j → %s', (status, headers, reason) => {
    expect(classifyResponse(res(status, headers))?.reason).toBe(reason);
  });

  test('an empty 403 names the Host-header fix', () => {
    expect(classifyResponse(res(403, { 'content-length': '0' }))?.detail).toMatch(/Host header/);
  });
});

describe('classifyError: error codes through the reason table', () => {
  test('our own deadline is a timeout, whatever the error says', () => {
    expect(classifyError(coded('ECONNRESET'), true, 15_000)).toEqual({ reason: 'timeout', detail: 'no response headers within 15000ms' });
  });

  test.each([
    ['ECONNREFUSED', 'refused'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect_timeout'],
    // An unreachable host is "no answer", the same as the probes say (it was `refused` in the client once).
    ['EHOSTUNREACH', 'connect_timeout'],
    ['ENETUNREACH', 'connect_timeout'],
    ['ECONNRESET', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['HPE_INVALID_CONSTANT', 'bad_response'],
    ['UND_ERR_HEADERS_OVERFLOW', 'bad_response'],
  ])('%s (wrapped by fetch as `cause`) → %s', (code, reason) => {
    expect(classifyError(wrapped(code), false, 1000)).toEqual({ reason, detail: code });
  });

  test('Happy Eyeballs: a refusal on one address beats a reset on another', () => {
    const agg = Object.assign(new AggregateError([coded('ECONNRESET'), coded('ECONNREFUSED')]), { code: 'ETIMEDOUT_NOT_A_CODE' });
    expect(classifyError(Object.assign(new TypeError('fetch failed'), { cause: agg }), false, 1000).reason).toBe('refused');
  });

  test('an unknown error is a reset, named by its code or class', () => {
    expect(classifyError(wrapped('EWHATEVER'), false, 1000)).toEqual({ reason: 'reset', detail: 'EWHATEVER' });
    expect(classifyError(new TypeError('fetch failed'), false, 1000)).toEqual({ reason: 'reset', detail: 'TypeError' });
  });

  test('every code in the table means the same to the client and to the probes', () => {
    for (const [reason, codes] of Object.entries(ERROR_CODES)) {
      for (const code of codes) {
        expect([code, classifyError(wrapped(code), false, 1000).reason]).toEqual([code, reason]);
        expect([code, classifyNetworkError(wrapped(code)).reason]).toEqual([code, reason]);
      }
    }
  });

  test('every reason the client reports is a probe reason with words for a mail', () => {
    const seen = [...Object.values(ERROR_CODES).flat().map((c) => classifyError(wrapped(c), false, 1).reason), classifyError(new Error('x'), true, 1).reason];
    for (const status of [302, 401, 429, 500, 502, 524, 526, 530]) seen.push(classifyResponse(res(status, { server: 'cloudflare' }))?.reason ?? 'ok' as never);
    for (const r of seen) expect([r, REASON_INFO[r].words.length > 0, REASON_INFO[r].weight]).toEqual([r, true, expect.stringMatching(/hard|soft/)]);
  });
});
