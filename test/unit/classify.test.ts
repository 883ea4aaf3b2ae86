import { classifyHttp, classifyNetworkError, cloudflareInfo, type HttpFacts } from '../../src/probes/classify';
import { normaliseModel } from '../../src/probes/liveness';
import { decodeUtf8, LineDecoder, NdjsonParser, SseParser, type StreamEvent } from '../../src/probes/stream';
import { REASONS } from '../../src/probes/types';

const CF = { server: 'cloudflare', 'cf-ray': '8f1e2b3c4d5e6f70-AMS' };
const json = (status: number, body: unknown, headers: Record<string, string> = {}, path = '/api/version'): HttpFacts => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  expect: 'json',
  body: typeof body === 'string' ? body : JSON.stringify(body),
  path,
});

// The RFC 9457 body Cloudflare sends for Accept: application/json (real capture, reference B.1).
const CF_1033_JSON = {
  type: 'https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-1033/',
  title: 'Error 1033: Cloudflare Tunnel error',
  status: 530,
  detail: 'The host is configured as a Cloudflare Tunnel, but Cloudflare is currently unable to reach it.',
  error_code: 1033,
  ray_id: 'a1f8efd02957a153',
  cloudflare_error: true,
  retryable: true,
};
const CF_1033_HTML = '<!DOCTYPE html><html><head><title>Cloudflare Tunnel error | example.com | Cloudflare</title></head><body><h1><span>Error</span><span>1033</span></h1><h2>Cloudflare Tunnel error</h2><p>Ray ID: 8f1e2b3c4d5e6f70 • 2026-01-01 00:00:00 UTC</p><span class="cf-error-code">Error 1033</span></body></html>';

describe('classifyHttp: Cloudflare', () => {
  it('530 with JSON body is a tunnel down, with code and ray in detail and facts', () => {
    const v = classifyHttp(json(530, CF_1033_JSON, { ...CF, 'content-type': 'application/problem+json' }));
    expect(v.reason).toBe('cloudflare_tunnel_down');
    expect(v.cloudflare).toEqual({ ray: '8f1e2b3c4d5e6f70-AMS', errorCode: 1033 });
    expect(v.detail).toContain('530 from Cloudflare (error 1033: tunnel not connected), ray 8f1e2b3c4d5e6f70-AMS');
  });

  it('530 with an HTML page still yields the 1033 code; the ray falls back to the JSON ray_id', () => {
    const html = classifyHttp({ status: 530, headers: { server: 'cloudflare', 'content-type': 'text/html' }, expect: 'json', body: CF_1033_HTML });
    expect(html.reason).toBe('cloudflare_tunnel_down');
    expect(html.cloudflare?.errorCode).toBe(1033);
    const noRayHeader = classifyHttp(json(530, CF_1033_JSON, { server: 'cloudflare' }));
    expect(noRayHeader.cloudflare?.ray).toBe('a1f8efd02957a153');
  });

  it('530 with 1016 in the cf-error-type header is a tunnel down too', () => {
    const v = classifyHttp({ status: 530, headers: { ...CF, 'cf-error-type': '1016' }, expect: 'json', body: '' });
    expect(v.reason).toBe('cloudflare_tunnel_down');
    expect(v.cloudflare?.errorCode).toBe(1016);
    expect(v.detail).toContain('origin DNS error');
  });

  it('a 530 without Cloudflare headers is not Cloudflare: text alone never decides', () => {
    const v = classifyHttp({ status: 530, headers: { 'content-type': 'text/html' }, expect: 'json', body: CF_1033_HTML });
    expect(v.reason).toBe('server_error');
    expect(v.cloudflare).toBeUndefined();
  });

  it.each([502, 520, 521, 522, 523])('%i via Cloudflare is origin unreachable', (status) => {
    const v = classifyHttp({ status, headers: CF, expect: 'json', body: '<html>Bad gateway</html>' });
    expect(v.reason).toBe('cloudflare_origin_unreachable');
    expect(v.cloudflare?.ray).toBe(CF['cf-ray']);
  });

  it("Ollama's own 502 JSON error passing through the tunnel is a server error", () => {
    const v = classifyHttp(json(502, { error: 'cloud model unreachable' }, CF, '/api/chat'));
    expect(v.reason).toBe('server_error');
    expect(v.detail).toContain('cloud model unreachable');
  });

  it('502 without Cloudflare headers is a plain server error', () => {
    expect(classifyHttp({ status: 502, headers: {}, expect: 'json', body: 'Bad Gateway' }).reason).toBe('server_error');
  });

  it('524 via Cloudflare is a Cloudflare timeout; without the headers a server error', () => {
    expect(classifyHttp({ status: 524, headers: CF, expect: 'json', body: '' }).reason).toBe('cloudflare_timeout');
    expect(classifyHttp({ status: 524, headers: {}, expect: 'json', body: '' }).reason).toBe('server_error');
  });

  it('a 302 to *.cloudflareaccess.com is auth_required and hides the signed query', () => {
    const location = 'https://team.cloudflareaccess.com/cdn-cgi/access/login/ollama.example.com?kid=abc&redirect_url=%2F&meta=eyJSECRETJWT';
    const v = classifyHttp({ status: 302, headers: { ...CF, location }, expect: 'json', body: '' });
    expect(v.reason).toBe('auth_required');
    expect(v.detail).toContain('team.cloudflareaccess.com');
    expect(v.detail).not.toContain('eyJSECRETJWT');
    expect(v.detail).not.toContain('kid=');
  });

  it('a relative redirect to /cdn-cgi/access/ is auth_required', () => {
    expect(classifyHttp({ status: 302, headers: { location: '/cdn-cgi/access/login?x=1' }, expect: 'json', body: '' }).reason).toBe('auth_required');
  });

  it('any other redirect is a bad response, not followed', () => {
    const v = classifyHttp({ status: 301, headers: { location: 'https://elsewhere.example/api/version?token=x' }, expect: 'json', body: '' });
    expect(v.reason).toBe('bad_response');
    expect(v.detail).toContain('redirect to https://elsewhere.example/api/version, not followed');
    expect(v.detail).not.toContain('token=x');
  });

  it("401 is auth_required; Cloudflare's 403 with 1010 (Browser Integrity Check) is its block, not Access", () => {
    expect(classifyHttp({ status: 401, headers: CF, expect: 'json', body: '{}' }).reason).toBe('auth_required');
    const v = classifyHttp({ status: 403, headers: CF, expect: 'json', body: 'error code: 1010' });
    expect(v.reason).toBe('cloudflare_blocked');
    expect(v.cloudflare?.errorCode).toBe(1010);
  });

  it("Ollama's 403 with an empty body names the Host header fix", () => {
    const v = classifyHttp({ status: 403, headers: CF, expect: 'json', body: '' });
    expect(v.reason).toBe('auth_required');
    expect(v.detail).toMatch(/Host header/);
    expect(v.detail).toContain('--http-host-header localhost:11434');
  });

  it('429 from Cloudflare (1015) or a server is overloaded', () => {
    expect(classifyHttp({ status: 429, headers: CF, expect: 'json', body: 'error code: 1015' })).toMatchObject({ reason: 'cloudflare_rate_limited', cloudflare: { errorCode: 1015 } });
    expect(classifyHttp(json(429, { error: 'rate limit exceeded' })).reason).toBe('overloaded');
  });
});

describe('classifyHttp: Ollama and other servers', () => {
  it('404 with Ollama model error JSON is model_missing (native and /v1 shapes)', () => {
    expect(classifyHttp(json(404, { error: "model 'llama9' not found" }, {}, '/api/chat')).reason).toBe('model_missing');
    const v1 = classifyHttp(json(404, { error: { message: "model 'llama9' not found", type: 'not_found_error' } }, {}, '/v1/chat/completions'));
    expect(v1.reason).toBe('model_missing');
    expect(v1.detail).toContain("model 'llama9' not found");
  });

  it("404 text (gin's page) means there is no such API here", () => {
    const v = classifyHttp({ status: 404, headers: { 'content-type': 'text/plain' }, expect: 'json', body: '404 page not found', path: '/api/version' });
    expect(v.reason).toBe('not_ollama');
    expect(v.detail).toContain('/api/version');
  });

  it('405 is not_ollama', () => {
    expect(classifyHttp({ status: 405, headers: {}, expect: 'json', body: '405 method not allowed' }).reason).toBe('not_ollama');
  });

  it('503 is overloaded with the server text; other 5xx are server errors', () => {
    const busy = classifyHttp(json(503, { error: 'server busy, please try again.  maximum pending requests exceeded' }));
    expect(busy.reason).toBe('overloaded');
    expect(busy.detail).toContain('server busy');
    const runner = classifyHttp(json(500, { error: 'model runner has unexpectedly stopped' }));
    expect(runner.reason).toBe('server_error');
    expect(runner.detail).toContain('model runner has unexpectedly stopped');
  });

  it('other 4xx are bad responses carrying the error text', () => {
    const v = classifyHttp(json(400, { error: '"bert" does not support chat' }, {}, '/api/chat'));
    expect(v.reason).toBe('bad_response');
    expect(v.detail).toContain('does not support chat');
  });

  it('200 JSON is ok; 200 HTML or plain text where JSON is expected is not_ollama', () => {
    expect(classifyHttp(json(200, { version: '0.12.6' })).reason).toBe('ok');
    expect(classifyHttp({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, expect: 'json', body: '<html>login</html>' }).reason).toBe('not_ollama');
    expect(classifyHttp({ status: 200, headers: { 'content-type': 'text/plain' }, expect: 'json', body: 'Ollama is running' }).reason).toBe('not_ollama');
  });

  it('200 declared JSON but unparseable, or empty, is a bad response', () => {
    expect(classifyHttp(json(200, '{"models":[{"name":"lla')).reason).toBe('bad_response');
    expect(classifyHttp(json(200, '')).reason).toBe('bad_response');
  });

  it('stream replies are judged by content type', () => {
    const h = (t: string) => ({ 'content-type': t });
    expect(classifyHttp({ status: 200, headers: h('application/x-ndjson'), expect: 'ndjson' }).reason).toBe('ok');
    expect(classifyHttp({ status: 200, headers: h('text/html'), expect: 'ndjson' }).reason).toBe('not_ollama');
    expect(classifyHttp({ status: 200, headers: h('text/event-stream'), expect: 'sse' }).reason).toBe('ok');
    expect(classifyHttp({ status: 200, headers: h('application/json'), expect: 'sse' }).reason).toBe('bad_response');
    expect(classifyHttp({ status: 200, headers: h('image/png'), expect: 'ndjson' }).reason).toBe('bad_response');
  });

  it('details stay within 300 characters', () => {
    const v = classifyHttp(json(500, { error: 'x'.repeat(5000) }));
    expect(v.detail.length).toBeLessThanOrEqual(300);
  });

  it('every reason it returns is in the fixed set', () => {
    for (const status of [200, 204, 301, 302, 400, 401, 403, 404, 405, 418, 429, 500, 502, 503, 504, 520, 524, 530, 599]) {
      expect(REASONS).toContain(classifyHttp({ status, headers: CF, expect: 'json', body: 'x' }).reason);
    }
  });
});

describe('cloudflareInfo', () => {
  it('reads "Error 1033" from an HTML page', () => {
    expect(cloudflareInfo({ 'cf-ray': 'abc-LHR' }, CF_1033_HTML)).toEqual({ ray: 'abc-LHR', errorCode: 1033 });
  });
  it('ignores a 5xx status repeated as error_code in the JSON body', () => {
    expect(cloudflareInfo({ 'cf-ray': 'abc-LHR' }, JSON.stringify({ status: 502, error_code: 502, cloudflare_error: true }))).toEqual({ ray: 'abc-LHR' });
  });
  it('returns no code when there is none', () => {
    expect(cloudflareInfo({ 'cf-ray': 'abc-LHR' }, '<html>Bad gateway</html>')).toEqual({ ray: 'abc-LHR' });
  });
});

describe('classifyNetworkError', () => {
  const err = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`boom ${code}`), { code, ...extra });

  it.each([
    ['ECONNREFUSED', 'refused'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect_timeout'],
    ['EHOSTUNREACH', 'connect_timeout'],
    ['ECONNRESET', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['EPIPE', 'reset'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls'],
    ['ERR_SSL_PACKET_LENGTH_TOO_LONG', 'tls'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'timeout'],
    ['HPE_INVALID_CONSTANT', 'bad_response'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'bad_response'],
    ['EWEIRD', 'reset'],
  ])('%s → %s', (code, reason) => {
    expect(classifyNetworkError(err(code)).reason).toBe(reason);
  });

  it('names the address without leaking anything else', () => {
    const v = classifyNetworkError(err('ECONNREFUSED', { address: '127.0.0.1', port: 11434 }));
    expect(v.detail).toContain('127.0.0.1:11434');
    expect(classifyNetworkError(err('ENOTFOUND', { hostname: 'ollama.invalid' })).detail).toContain('ollama.invalid');
  });

  it('looks through cause chains and AggregateError (Happy Eyeballs)', () => {
    expect(classifyNetworkError(new TypeError('fetch failed', { cause: err('ECONNREFUSED') })).reason).toBe('refused');
    const agg = Object.assign(new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')], 'x'), { code: 'ECONNREFUSED' });
    expect(classifyNetworkError(agg).reason).toBe('refused');
    expect(classifyNetworkError(new AggregateError([err('ETIMEDOUT')], 'x')).reason).toBe('connect_timeout');
  });

  it('abort and timeout errors are timeouts; unknown values do not throw', () => {
    expect(classifyNetworkError(new DOMException('t', 'TimeoutError')).reason).toBe('timeout');
    expect(classifyNetworkError(Object.assign(new Error('a'), { name: 'AbortError' })).reason).toBe('timeout');
    expect(classifyNetworkError('a string').reason).toBe('bad_response');
    expect(classifyNetworkError(null).reason).toBe('bad_response');
  });
});

describe('normaliseModel', () => {
  it('treats a missing tag as :latest, case-insensitively, and keeps registry ports apart from tags', () => {
    expect(normaliseModel('llama3.2')).toBe('llama3.2:latest');
    expect(normaliseModel('Llama3.2:latest')).toBe('llama3.2:latest');
    expect(normaliseModel('qwen3:8b')).toBe('qwen3:8b');
    expect(normaliseModel('registry.local:5000/team/model')).toBe('registry.local:5000/team/model:latest');
  });
});

describe('stream parsers', () => {
  const feed = (parser: NdjsonParser | SseParser, text: string): StreamEvent[] => {
    const dec = new LineDecoder();
    const out: StreamEvent[] = [];
    for (const l of dec.push(Buffer.from(text)) ?? []) out.push(...parser.line(l));
    for (const l of dec.end() ?? []) out.push(...parser.line(l));
    out.push(...parser.end());
    return out;
  };

  it('NDJSON: content, then done with Ollama nanosecond stats', () => {
    const ev = feed(
      new NdjsonParser(),
      '{"message":{"role":"assistant","content":"PO"},"done":false}\n{"message":{"role":"assistant","content":"NG"},"done":false}\n' +
        '{"message":{"role":"assistant","content":""},"done":true,"load_duration":1334875,"eval_count":2,"eval_duration":50000000}\n',
    );
    expect(ev).toEqual([
      { type: 'content', text: 'PO' },
      { type: 'content', text: 'NG' },
      { type: 'done', stats: { evalCount: 2, evalDurationNs: 50000000, loadDurationNs: 1334875 } },
    ]);
  });

  it('NDJSON: an error line and a garbage line', () => {
    expect(feed(new NdjsonParser(), '{"message":{"content":"a"}}\n{"error":"llama-server process has terminated"}\n')).toContainEqual({
      type: 'error',
      message: 'llama-server process has terminated',
    });
    expect(feed(new NdjsonParser(), '{"message":\n')[0]?.type).toBe('invalid');
  });

  it('SSE: new chunk shape with a finish chunk, usage chunk and [DONE]', () => {
    const ev = feed(
      new SseParser(),
      'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"PO"},"finish_reason":null}]}\n\n' +
        'data: {"choices":[{"index":0,"delta":{"content":"NG"},"finish_reason":null}]}\n\n' +
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
        'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
        'data: [DONE]\n\n',
    );
    expect(ev).toEqual([{ type: 'content', text: 'PO' }, { type: 'content', text: 'NG' }, { type: 'done', stats: { evalCount: 2 } }]);
  });

  it('SSE: old chunk shape (role+content on every delta, finish on the last), CRLF and comments', () => {
    const ev = feed(
      new SseParser(),
      ': keep-alive\r\n\r\ndata: {"choices":[{"delta":{"role":"assistant","content":"PONG"},"finish_reason":null}]}\r\n\r\n' +
        'data: {"choices":[{"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}\r\n\r\ndata: [DONE]',
    );
    expect(ev).toEqual([{ type: 'content', text: 'PONG' }, { type: 'done', stats: {} }]);
  });

  it('SSE: an error event', () => {
    expect(feed(new SseParser(), 'data: {"error":{"message":"boom"}}\n\n')).toEqual([{ type: 'error', message: 'boom' }]);
  });

  it('LineDecoder rejects invalid UTF-8 but joins a character split across chunks', () => {
    const dec = new LineDecoder();
    const euro = Buffer.from('€\n'); // 3 bytes + newline
    expect(dec.push(euro.subarray(0, 1))).toEqual([]);
    expect(dec.push(euro.subarray(1))).toEqual(['€']);
    expect(new LineDecoder().push(Buffer.from([0x7b, 0xff, 0xfe, 0x0a]))).toBeUndefined();
    const cut = new LineDecoder();
    expect(cut.push(Buffer.from('ok\n€').subarray(0, 4))).toEqual(['ok']);
    expect(cut.end()).toBeUndefined();
    expect(decodeUtf8(Buffer.from('{"a":"€"}'))).toBe('{"a":"€"}');
    expect(decodeUtf8(Buffer.from([0x22, 0xc3, 0x28, 0x22]))).toBeUndefined();
  });
});
