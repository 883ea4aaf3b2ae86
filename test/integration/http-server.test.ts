import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createMetrics } from '../../src/http/metrics';
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from '../../src/http/server';
import { silentLogger } from '../../src/logging';
import type { AcceptedReport } from '../../src/intake/intake';
import { FakeClock } from '../../src/util/clock';
import { Secret } from '../../src/util/secret';
import { captureLogger } from '../helpers/log';
import { makeState } from '../helpers/state';

const TOKEN = 'tok-3f9a-very-secret';
const stateJson = JSON.stringify(makeState([{ name: 'primary', url: 'http://10.0.0.1:11434' }, { name: 'fallback', url: 'http://10.0.0.2:11434' }]));

let server: RunningHttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface Harness {
  url: string;
  reports: AcceptedReport[];
  setState(s: { json: string; etag: string } | undefined): void;
  setHealth(h: { ok: boolean; detail: string }): void;
  clock: FakeClock;
}

async function start(extra: Partial<HttpServerOptions> = {}): Promise<Harness> {
  let state: { json: string; etag: string } | undefined = { json: stateJson, etag: 'abc123' };
  let health = { ok: true, detail: 'monitor running, 2 nodes' };
  const reports: AcceptedReport[] = [];
  const clock = new FakeClock();
  server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    nodeNames: ['primary', 'fallback'],
    reportsPerMinute: 3,
    clock,
    getState: () => state,
    health: () => health,
    metrics: createMetrics([{ name: 'primary', priority: 0 }], 'test', '1.2.3'),
    onReport: (r) => reports.push(r),
    ...extra,
  });
  return { url: server.url, reports, clock, setState: (s) => (state = s), setHealth: (h) => (health = h) };
}

const postReport = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/report`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('GET /state', () => {
  test('serves the document with a quoted ETag; If-None-Match answers 304; no state yet is 503', async () => {
    const h = await start();
    const res = await fetch(`${h.url}/state`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"abc123"');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.text()).toBe(stateJson);

    for (const inm of ['"abc123"', 'W/"abc123"', '"zzz", "abc123"', '*']) {
      const again = await fetch(`${h.url}/state`, { headers: { 'if-none-match': inm } });
      expect([inm, again.status, await again.text()]).toEqual([inm, 304, '']);
      expect(again.headers.get('etag')).toBe('"abc123"');
    }
    const changed = await fetch(`${h.url}/state`, { headers: { 'if-none-match': '"old"' } });
    expect(changed.status).toBe(200);
    await changed.text();

    const head = await fetch(`${h.url}/state`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);

    h.setState(undefined);
    const none = await fetch(`${h.url}/state`);
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: string }).error).toMatch(/no state yet/);
  });
});

describe('GET /healthz and /metrics, methods, unknown paths', () => {
  test('healthz is 200 or 503 with the detail; metrics is Prometheus text', async () => {
    const h = await start();
    const ok = await fetch(`${h.url}/healthz`);
    expect([ok.status, await ok.json()]).toEqual([200, { ok: true, detail: 'monitor running, 2 nodes' }]);
    h.setHealth({ ok: false, detail: 'state not written for 95s' });
    const bad = await fetch(`${h.url}/healthz`);
    expect([bad.status, await bad.json()]).toEqual([503, { ok: false, detail: 'state not written for 95s' }]);

    const m = await fetch(`${h.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await m.text()).toContain('llm_sentinel_info{instance="test",version="1.2.3"} 1');
  });

  test('405 with Allow for a wrong method, 404 for an unknown path or a missing status page', async () => {
    const h = await start();
    const post = await fetch(`${h.url}/state`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();
    const get = await fetch(`${h.url}/report`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    await get.text();
    for (const path of ['/nope', '/', '/state/', '/__proto__', '/constructor']) {
      const r = await fetch(`${h.url}${path}`);
      expect([path, r.status]).toEqual([path, 404]);
      await r.text();
    }
  });

  test('GET / serves the status page when one is given; a throwing handler is a 500, not a crash', async () => {
    const h = await start({ statusPage: () => '<!doctype html><title>status</title>', health: () => { throw new Error('boom'); } });
    const page = await fetch(`${h.url}/`);
    expect([page.status, page.headers.get('content-type'), await page.text()]).toEqual([200, 'text/html; charset=utf-8', '<!doctype html><title>status</title>']);
    const broken = await fetch(`${h.url}/healthz`);
    expect([broken.status, await broken.json()]).toEqual([500, { error: 'internal error' }]);
    expect((await fetch(`${h.url}/state`)).status).toBe(200);
  });
});

describe('bearer token', () => {
  test('every route but /healthz needs it: 401 without or wrong, 200 with; never logged', async () => {
    const cap = captureLogger('debug');
    const h = await start({ token: new Secret(TOKEN), logger: cap.logger });
    const none = await fetch(`${h.url}/state`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="llm-sentinel"');
    await none.text();
    const wrong = await fetch(`${h.url}/state`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await wrong.text();
    // Same length, one character off: still refused.
    const close = await fetch(`${h.url}/state`, { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}X` } });
    expect(close.status).toBe(401);
    await close.text();
    // Basic with the token as the password is accepted (a browser opening the status page); a wrong one is not.
    const basic = await fetch(`${h.url}/state`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
    await basic.text();
    const badBasic = await fetch(`${h.url}/state`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}X`).toString('base64')}` } });
    expect(badBasic.status).toBe(401);
    await badBasic.text();
    const page = await fetch(`${h.url}/`);
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toMatch(/^Basic realm="llm-sentinel"/);
    await page.text();

    const auth = { authorization: `bearer ${TOKEN}` };
    expect((await fetch(`${h.url}/state`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`, { headers: auth })).status).toBe(200);
    expect((await postReport(h.url, { node: 'primary', reason: 'timeout' }, auth)).status).toBe(202);
    expect((await postReport(h.url, { node: 'primary', reason: 'timeout' })).status).toBe(401);
    expect(h.reports).toHaveLength(1);

    // Unknown paths are hidden behind the token too; /healthz is open for load balancers and systemd.
    expect((await fetch(`${h.url}/nope`)).status).toBe(401);
    expect((await fetch(`${h.url}/nope`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);

    expect(cap.lines.length).toBeGreaterThan(5);
    expect(cap.lines.join('\n')).not.toContain(TOKEN);
    expect(cap.lines.join('\n')).not.toMatch(/authorization/i);
  });
});

describe('POST /report', () => {
  test('202 for a valid report, handed over with source http', async () => {
    const h = await start();
    const res = await postReport(h.url, { node: 'fallback', reason: 'cloudflare_tunnel_down', detail: 'HTTP 530\nfake log line', extra: 1 });
    expect([res.status, await res.json()]).toEqual([202, { accepted: true, node: 'fallback' }]);
    expect(h.reports).toEqual([{ node: 'fallback', reason: 'cloudflare_tunnel_down', detail: 'HTTP 530 fake log line', source: 'http' }]);
  });

  test.each<[string, string, RegExp]>([
    ['bad JSON', '{"node":', /not valid JSON/],
    ['not an object', '["primary"]', /must be a JSON object/],
    ['null', 'null', /must be a JSON object/],
    ['missing node', '{"reason":"timeout"}', /node: required, one of: primary, fallback/],
    ['unknown node', '{"node":"mars","reason":"timeout"}', /node: unknown node "mars"; valid nodes: primary, fallback/],
    ['node via __proto__', '{"__proto__":{"node":"primary"},"reason":"timeout"}', /node: required/],
    ['reason missing', '{"node":"primary"}', /reason: expected a short string/],
    ['reason a number', '{"node":"primary","reason":5}', /reason: expected a short string .* got 5/],
    ['reason too long', JSON.stringify({ node: 'primary', reason: 'x'.repeat(65) }), /reason: expected a short string/],
    ['reason with spaces', '{"node":"primary","reason":"it broke"}', /reason: expected a short string/],
    ['detail an object', '{"node":"primary","reason":"timeout","detail":{}}', /detail: expected a string/],
  ])('400 for %s, with a message naming the problem', async (_name, body, message) => {
    const h = await start();
    const res = await postReport(h.url, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
    expect(h.reports).toHaveLength(0);
  });

  test('415 for a wrong or missing content type', async () => {
    const h = await start();
    const text = await fetch(`${h.url}/report`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"node":"primary","reason":"x"}' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: string }).error).toMatch(/Content-Type must be application\/json, got "text\/plain"/);
    const none = await fetch(`${h.url}/report`, { method: 'POST', body: new TextEncoder().encode('{"node":"primary","reason":"x"}') });
    expect(none.status).toBe(415);
    await none.text();
    const charset = await postReport(h.url, { node: 'primary', reason: 'x' }, { 'content-type': 'Application/JSON; charset=utf-8' });
    expect(charset.status).toBe(202);
  });

  test('413 over 4 KiB, by Content-Length or by counting a chunked body', async () => {
    const h = await start();
    const big = JSON.stringify({ node: 'primary', reason: 'timeout', detail: 'x'.repeat(5000) });
    const declared = await postReport(h.url, big);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: string }).error).toMatch(/larger than 4096 bytes/);

    // No Content-Length: the server counts while reading and stops at the cap.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${h.url}/report`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write('{"node":"primary","reason":"timeout","detail":"');
      req.write('y'.repeat(6000));
      // The rest never needs to be sent; the server has answered already.
    });
    expect(chunked.status).toBe(413);
    expect(h.reports).toHaveLength(0);
  });

  test('429 past reportsPerMinute for one node, with Retry-After; other nodes and refills are unaffected', async () => {
    const h = await start();
    for (let i = 0; i < 3; i++) expect((await postReport(h.url, { node: 'primary', reason: 'timeout' })).status).toBe(202);
    const limited = await postReport(h.url, { node: 'primary', reason: 'timeout' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('20');
    expect(((await limited.json()) as { error: string }).error).toMatch(/too many reports for node primary/);
    expect((await postReport(h.url, { node: 'fallback', reason: 'timeout' })).status).toBe(202);
    h.clock.advance(20_000);
    expect((await postReport(h.url, { node: 'primary', reason: 'timeout' })).status).toBe(202);
    expect(h.reports.map((r) => r.node)).toEqual(['primary', 'primary', 'primary', 'fallback', 'primary']);
  });
});

describe('connections', () => {
  function rawSocket(url: string): Promise<Socket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), hostname, () => resolve(s));
      s.on('error', reject);
    });
  }
  const closed = (s: Socket): Promise<void> => new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

  test('a client that never finishes its headers is cut off after headersTimeout', async () => {
    const h = await start({ timeouts: { headersMs: 300, requestMs: 600 } });
    const s = await rawSocket(h.url);
    let answer = '';
    s.on('data', (c: Buffer) => (answer += c.toString()));
    const started = Date.now();
    s.write('GET /state HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    await closed(s);
    expect(Date.now() - started).toBeLessThan(300 + 3_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  test('oversized headers get 431 and the connection is closed', async () => {
    const h = await start();
    const s = await rawSocket(h.url);
    let answer = '';
    s.on('data', (c: Buffer) => (answer += c.toString()));
    s.write(`GET /state HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await closed(s);
    expect(answer).toMatch(/^HTTP\/1\.1 431/);
  });

  test('close() ends idle keep-alive and in-flight connections', async () => {
    const h = await start();
    const idle = await rawSocket(h.url);
    idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((r) => idle.once('data', r));
    const partial = await rawSocket(h.url);
    partial.write('POST /report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"no');
    const running = server as RunningHttpServer;
    server = undefined;
    await running.close();
    await Promise.all([closed(idle), closed(partial)]);
    expect(idle.destroyed && partial.destroyed).toBe(true);
  });
});
