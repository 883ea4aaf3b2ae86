import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Agent, Dispatcher } from 'undici';
import { parseConfig, type NodeConfig } from '../../src/config';
import { createProbeAgent, probeCanary, probeLiveness, type ProbeSettings } from '../../src/probes';
import { REASON_INFO } from '../../src/core/reasons';
import { REASONS, type Reason } from '../../src/probes/types';
import { FAULTS, startSimulator, type Fault, type FaultOptions, type Simulator } from '../../src/simulator';
import { FakeClock } from '../../src/util/clock';

/**
 * The probes against real sockets on 127.0.0.1: tiny servers of our own for things no simulator fault
 * covers (connect timeouts, exact deadlines, byte caps), then every simulator fault over both APIs.
 */

const SECRET = 'svc-token-secret-value-1234';
const LIVENESS_MS = 1000;
const CANARY_MS = 1500;
const FIRST_TOKEN_MS = 800;
const CONNECT_MS = 400;
/** Scheduling slack for "ends within its deadline". */
const SLACK_MS = 700;

function config(url: string, api: 'ollama' | 'openai' = 'ollama', probes: Record<string, unknown> = {}) {
  return parseConfig(
    {
      nodes: [
        { name: 'primary', url, api, model: 'llama3.2', headers: { 'CF-Access-Client-Id': 'abc.access', 'CF-Access-Client-Secret': SECRET } },
        { name: 'fallback', url: 'http://127.0.0.1:9' },
      ],
      probes: {
        liveness: { timeout: LIVENESS_MS },
        canary: { timeout: CANARY_MS, firstTokenTimeout: FIRST_TOKEN_MS, maxTokens: 16 },
        connectTimeout: CONNECT_MS,
        maxResponseBytes: 64 * 1024,
        ...probes,
      },
    },
    {},
  );
}

function setup(url: string, api: 'ollama' | 'openai' = 'ollama', probes: Record<string, unknown> = {}): { node: NodeConfig; settings: ProbeSettings } {
  const c = config(url, api, probes);
  return { node: c.nodes[0] as NodeConfig, settings: c.probes };
}

/** Counts response bytes undici hands to the probe, to show the cap bounds what is read. */
function counting(agent: Agent): { dispatcher: Dispatcher; bytes: () => number } {
  let bytes = 0;
  const dispatcher = agent.compose((dispatch) => (opts, handler) =>
    dispatch(
      opts,
      new Proxy(handler, {
        get(target, prop) {
          const value = Reflect.get(target, prop) as unknown;
          if (typeof value !== 'function') return value;
          if (prop === 'onData') return (chunk: Buffer) => ((bytes += chunk.length), (value as (c: Buffer) => boolean).call(target, chunk));
          if (prop === 'onResponseData') {
            return (ctl: unknown, chunk: Buffer) => ((bytes += chunk.length), (value as (c: unknown, b: Buffer) => void).call(target, ctl, chunk));
          }
          return (value as (...a: unknown[]) => unknown).bind(target);
        },
      }),
    ),
  );
  return { dispatcher, bytes: () => bytes };
}

async function listen<T extends Server | NetServer>(server: T): Promise<{ server: T; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function closeServer(server: Server | NetServer, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

function track(server: Server | NetServer): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t };
}

describe('probes against small servers of our own', () => {
  let agent: Agent;
  let http: Server;
  let httpSockets: Set<Socket>;
  let base = '';
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

  beforeAll(async () => {
    const created = await listen(createHttpServer((req, res) => handler(req, res)));
    http = created.server;
    httpSockets = track(http);
    base = `http://127.0.0.1:${created.port}`;
    agent = createProbeAgent(setup(base).settings);
  });
  afterAll(async () => {
    await agent.destroy();
    await closeServer(http, httpSockets);
  });

  const ndjson = (res: ServerResponse, lines: unknown[]) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  };

  it('a healthy NDJSON canary reports metrics from the final chunk', async () => {
    handler = (req, res) => {
      if (req.url !== '/api/chat') return res.writeHead(404).end();
      ndjson(res, [
        { message: { role: 'assistant', content: 'PO' }, done: false },
        { message: { role: 'assistant', content: 'NG' }, done: false },
        { message: { role: 'assistant', content: '' }, done: true, load_duration: 12_500_000, eval_count: 4, eval_duration: 100_000_000 },
      ]);
    };
    const { node, settings } = setup(base);
    const r = await probeCanary(node, settings, { dispatcher: agent });
    expect(r).toMatchObject({ ok: true, reason: 'ok', kind: 'canary', node: 'primary', httpStatus: 200, answer: 'PONG', evalCount: 4, loadMs: 12.5, tokensPerSec: 40 });
    expect(r.ttftMs).toBeGreaterThanOrEqual(r.ttfbMs ?? Infinity);
    expect(r.totalMs).toBeGreaterThanOrEqual(r.ttftMs ?? Infinity);
  });

  it('uses the injected clock for startedAt', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"0.12.6"}');
    const clock = new FakeClock(Date.UTC(2030, 5, 1));
    const { node, settings } = setup(base);
    const r = await probeLiveness(node, settings, { dispatcher: agent, clock });
    expect(r.startedAt).toBe(Date.UTC(2030, 5, 1));
    expect(r.durationMs).toBe(0); // the fake monotonic clock did not move
    expect(r.reason).toBe('bad_response'); // /api/tags answered a version object: no "models" list
  });

  it('an already aborted signal returns aborted without a request', async () => {
    let hits = 0;
    handler = (_req, res) => ((hits += 1), res.end());
    const { node, settings } = setup(base);
    const r = await probeLiveness(node, settings, { dispatcher: agent, signal: AbortSignal.abort() });
    expect(r).toMatchObject({ ok: false, reason: 'aborted' });
    expect(hits).toBe(0);
  });

  it('a 3-byte chunk per 100 ms body is cut at the deadline, not per-read idle time', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write('   '), 100);
      res.on('close', () => clearInterval(t));
    };
    const { node, settings } = setup(base);
    const { value: r, ms } = await timed(() => probeLiveness(node, settings, { dispatcher: agent }));
    expect(r.reason).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(LIVENESS_MS - 20);
    expect(ms).toBeLessThan(LIVENESS_MS + SLACK_MS);
  });

  it('an answer that keeps coming after done:true is not read past done', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(JSON.stringify({ message: { content: 'PONG' }, done: true, eval_count: 1, eval_duration: 1e6 }) + '\n');
      const t = setInterval(() => res.write('{"message":{"content":"x"},"done":false}\n'), 10);
      res.on('close', () => clearInterval(t));
    };
    const { node, settings } = setup(base);
    const { value: r, ms } = await timed(() => probeCanary(node, settings, { dispatcher: agent }));
    expect(r.reason).toBe('ok');
    expect(ms).toBeLessThan(CANARY_MS);
  });

  it('an unterminated endless line is stopped at the byte cap with memory bounded', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    };
    const { node, settings } = setup(base);
    const counted = counting(agent);
    const r = await probeCanary(node, settings, { dispatcher: counted.dispatcher });
    expect(r.reason).toBe('too_large');
    // What undici had already pulled off the socket when we stopped: at most a chunk or so past the cap.
    expect(counted.bytes()).toBeLessThanOrEqual(settings.maxResponseBytes + 128 * 1024);
  });

  it('without a dispatcher the probe makes and destroys its own agent', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/api/version' ? '{"version":"0.12.6"}' : JSON.stringify({ models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest' }] }));
    };
    const { node, settings } = setup(base);
    const r = await probeLiveness(node, settings);
    expect(r).toMatchObject({ ok: true, reason: 'ok', httpStatus: 200 });
    expect(r.detail).toContain('0.12.6');
  });

  describe('connection failures', () => {
    let silent: NetServer;
    let silentSockets: Set<Socket>;
    let silentPort = 0;
    beforeAll(async () => {
      // Accepts TCP and never speaks: a TLS handshake against it never completes.
      const created = await listen(createNetServer(() => undefined));
      silent = created.server;
      silentSockets = track(silent);
      silentPort = created.port;
    });
    afterAll(() => closeServer(silent, silentSockets));

    it('a handshake that never completes is connect_timeout at the connect deadline', async () => {
      const { node, settings } = setup(`https://127.0.0.1:${silentPort}`);
      const { value: r, ms } = await timed(() => probeLiveness(node, settings, { dispatcher: agent }));
      expect(r.reason).toBe('connect_timeout');
      expect(r.detail).toContain(`127.0.0.1:${silentPort}`);
      expect(ms).toBeGreaterThanOrEqual(CONNECT_MS - 20);
      expect(ms).toBeLessThan(CONNECT_MS + SLACK_MS);
    });
  });

  it('a JSON reply that is not valid UTF-8 is a bad response', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
    const { node, settings } = setup(base);
    const r = await probeLiveness(node, settings, { dispatcher: agent });
    expect(r.reason).toBe('bad_response');
    expect(r.detail).toContain('UTF-8');
  });

  it('every result reason is in the fixed set', async () => {
    handler = (_req, res) => res.writeHead(418).end('teapot');
    const { node, settings } = setup(base);
    const r = await probeLiveness(node, settings, { dispatcher: agent });
    expect(REASONS).toContain(r.reason);
    expect(r.reason).toBe('bad_response' satisfies Reason);
  });
});

// ---------------------------------------------------------------------------------------------------------

type Api = 'ollama' | 'openai';
interface FaultCase {
  fault: Fault;
  opts?: FaultOptions;
  liveness: Reason;
  canary: Reason;
  /** Checked against the detail of every non-ok result of the case. */
  detail?: RegExp;
  errorCode?: number;
  /** The probe must give up at its deadline: checks it ends within deadline + slack. */
  deadline?: boolean;
}

const CASES: FaultCase[] = [
  { fault: 'none', liveness: 'ok', canary: 'ok' },
  { fault: 'refuse', liveness: 'refused', canary: 'refused' },
  { fault: 'reset', liveness: 'reset', canary: 'reset' },
  { fault: 'hang', liveness: 'timeout', canary: 'timeout', deadline: true },
  { fault: 'slow_first_token', opts: { delayMs: 5_000 }, liveness: 'ok', canary: 'timeout', detail: /first token/, deadline: true },
  { fault: 'stall_mid_stream', liveness: 'timeout', canary: 'timeout', deadline: true },
  { fault: 'slowloris', opts: { delayMs: 200 }, liveness: 'timeout', canary: 'timeout', deadline: true },
  { fault: 'endless_stream', liveness: 'ok', canary: 'timeout', deadline: true },
  { fault: 'huge_body', liveness: 'too_large', canary: 'too_large', detail: /maxResponseBytes/ },
  { fault: 'cf_tunnel_down', liveness: 'cloudflare_tunnel_down', canary: 'cloudflare_tunnel_down', errorCode: 1033, detail: /530 from Cloudflare \(error 1033: tunnel not connected\), ray [0-9a-f]{16}-AMS/ },
  { fault: 'cf_origin_unreachable', liveness: 'cloudflare_origin_unreachable', canary: 'cloudflare_origin_unreachable', detail: /502 from Cloudflare/ },
  { fault: 'cf_timeout', liveness: 'cloudflare_timeout', canary: 'cloudflare_timeout', detail: /524 from Cloudflare/ },
  { fault: 'cf_challenge', liveness: 'cloudflare_challenge', canary: 'cloudflare_challenge', detail: /403 from Cloudflare on \S+: a challenge page \(cf-mitigated: challenge\), ray [0-9a-f]{16}-AMS/ },
  { fault: 'cf_waf_block', liveness: 'cloudflare_blocked', canary: 'cloudflare_blocked', errorCode: 1020, detail: /403 from Cloudflare on \S+ \(error 1020: blocked by a firewall rule\), ray [0-9a-f]{16}-AMS/ },
  { fault: 'cf_rate_limit', liveness: 'cloudflare_rate_limited', canary: 'cloudflare_rate_limited', errorCode: 1015, detail: /429 from Cloudflare on \S+ \(error 1015: rate limited\), ray [0-9a-f]{16}-AMS: a rate limiting rule; retry after 30 s/ },
  { fault: 'access_redirect', liveness: 'auth_required', canary: 'auth_required', detail: /Cloudflare Access/ },
  { fault: 'access_401', liveness: 'auth_required', canary: 'auth_required', detail: /401/ },
  { fault: 'forbidden_host', liveness: 'auth_required', canary: 'auth_required', detail: /Host header/ },
  { fault: 'html_200', liveness: 'not_ollama', canary: 'not_ollama', detail: /text\/html/ },
  { fault: 'redirect_loop', liveness: 'bad_response', canary: 'bad_response', detail: /not followed/ },
  { fault: 'server_error', liveness: 'server_error', canary: 'server_error', detail: /model runner has unexpectedly stopped/ },
  { fault: 'busy', liveness: 'overloaded', canary: 'overloaded', detail: /server busy/ },
  { fault: 'mid_stream_error', liveness: 'ok', canary: 'stream_error' },
  { fault: 'wrong_answer', liveness: 'ok', canary: 'wrong_answer', detail: /does not match/ },
  { fault: 'empty_answer', liveness: 'ok', canary: 'empty_answer' },
  { fault: 'model_missing', liveness: 'model_missing', canary: 'model_missing', detail: /llama3\.2/ },
  { fault: 'bad_json', liveness: 'bad_response', canary: 'bad_response' },
  { fault: 'truncated_json', liveness: 'bad_response', canary: 'stream_error' },
  { fault: 'invalid_utf8', liveness: 'ok', canary: 'bad_response', detail: /UTF-8/ },
];

/** Reasons shown by tests outside the fault table (name resolution, TLS, connect deadline, shutdown; thinking_budget in thinking.test.ts). */
// stalled: judged by the daemon from a canary timeout while liveness passes (test/integration/canary-busy.test.ts).
const OTHER_REASONS: Reason[] = ['dns', 'tls', 'connect_timeout', 'aborted', 'thinking_budget', 'stalled'];

it('the fault table plus the other tests cover every reason', () => {
  const covered = new Set<Reason>([...CASES.flatMap((c) => [c.liveness, c.canary]), ...OTHER_REASONS]);
  expect([...covered].sort()).toEqual([...REASONS].sort());
  expect(CASES.map((c) => c.fault).sort()).toEqual([...FAULTS].sort());
});

describe('probes against the simulator', () => {
  let sim: Simulator;
  let agent: Agent;
  const settingsFor = (api: Api, probes: Record<string, unknown> = {}) => setup(sim.url, api, { maxResponseBytes: 1024 * 1024, ...probes });

  beforeAll(async () => {
    sim = await startSimulator({ tokenDelayMs: 5 });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    // A fresh Agent per test: no kept-alive socket from one fault leaks into the next.
    agent = createProbeAgent(settingsFor('ollama').settings);
  });
  afterEach(async () => {
    await agent.destroy();
    await sim.setFault('none');
  });

  describe.each(['ollama', 'openai'] as const)('api: %s', (api) => {
    it.each(CASES)('$fault → liveness $liveness, canary $canary', async (c) => {
      await sim.setFault(c.fault, c.opts);
      const { node, settings } = settingsFor(api);
      for (const [kind, expected, limit] of [
        ['liveness', c.liveness, LIVENESS_MS],
        ['canary', c.canary, CANARY_MS],
      ] as const) {
        const counted = counting(agent);
        const probe = kind === 'liveness' ? probeLiveness : probeCanary;
        const { value: r, ms } = await timed(() => probe(node, settings, { dispatcher: counted.dispatcher }));
        expect({ kind, reason: r.reason, detail: r.detail }).toEqual({ kind, reason: expected, detail: expect.any(String) });
        expect(r.ok).toBe(expected === 'ok');
        expect(r.detail?.length ?? 0).toBeLessThanOrEqual(300);
        expect(JSON.stringify(r)).not.toContain(SECRET);
        expect(counted.bytes()).toBeLessThanOrEqual(settings.maxResponseBytes + 128 * 1024);
        if (expected !== 'ok' && c.detail) expect(r.detail).toMatch(c.detail);
        if (expected !== 'ok' && c.errorCode !== undefined) expect(r.cloudflare?.errorCode).toBe(c.errorCode);
        if (expected.startsWith('cloudflare_')) expect(r.cloudflare?.ray).toMatch(/^[0-9a-f]{16}-AMS$/);
        if (c.deadline && expected !== 'ok') expect(ms).toBeLessThan(limit + SLACK_MS);
      }
    });

    // Cloudflare's protections in both of its formats: HTML, and the RFC 9457 JSON it sends for Accept:
    // application/json (a challenge page is HTML either way). The reason, code, ray, Retry-After and hint.
    describe.each(['negotiate', 'html'] as const)("Cloudflare's protections, format %s", (format) => {
      it.each([
        ['cf_challenge', 'cloudflare_challenge', undefined],
        ['cf_waf_block', 'cloudflare_blocked', 1020],
        ['cf_rate_limit', 'cloudflare_rate_limited', 1015],
      ] as const)('%s → %s', async (fault, reason, code) => {
        await sim.setFault(fault, { format });
        const seen = await fetch(`${sim.url}/api/version`, { headers: { accept: 'application/json' } });
        await seen.text();
        const json = format === 'negotiate' && fault !== 'cf_challenge';
        expect(seen.headers.get('content-type')).toMatch(json ? /^application\/json/ : /^text\/html/);
        const { node, settings } = settingsFor(api);
        for (const probe of [probeLiveness, probeCanary]) {
          const r = await probe(node, settings, { dispatcher: agent });
          expect({ reason: r.reason, ok: r.ok, code: r.cloudflare?.errorCode }).toEqual({ reason, ok: false, code });
          expect(r.cloudflare?.ray).toMatch(/^[0-9a-f]{16}-AMS$/);
          expect(r.retryAfterMs).toBe(fault === 'cf_rate_limit' ? 30_000 : undefined);
          expect(r.httpStatus).toBe(fault === 'cf_rate_limit' ? 429 : 403);
          expect(REASON_INFO[r.reason].hint).toMatch(/Security Events log \(Security > Analytics > Events\)/);
        }
      });
    });

    it('healthy node: liveness names the version; the canary measures the generation', async () => {
      const { node, settings } = settingsFor(api);
      const live = await probeLiveness(node, settings, { dispatcher: agent });
      expect(live).toMatchObject({ ok: true, reason: 'ok', kind: 'liveness', httpStatus: 200 });
      expect(live.ttfbMs).toBeGreaterThanOrEqual(0);
      if (api === 'ollama') expect(live.detail).toContain('0.12.6');
      const headers = sim.lastRequestHeaders() ?? {};
      expect(headers.accept).toBe('application/json');
      expect(headers['cf-access-client-secret']).toBe(SECRET);

      const r = await probeCanary(node, settings, { dispatcher: agent });
      expect(r).toMatchObject({ ok: true, reason: 'ok', kind: 'canary', httpStatus: 200, answer: 'PONG' });
      expect(r.ttfbMs).toBeGreaterThanOrEqual(0);
      expect(r.ttftMs).toBeGreaterThanOrEqual(r.ttfbMs as number);
      expect(r.totalMs).toBeGreaterThanOrEqual(r.ttftMs as number);
      expect(r.tokensPerSec).toBeGreaterThan(0);
      expect(r.evalCount).toBeGreaterThan(0);
      if (api === 'ollama') expect(r.loadMs).toBeGreaterThanOrEqual(0);
    });

    it('an endless stream under a small cap stops at the cap, fast, with bounded reads', async () => {
      await sim.setFault('endless_stream');
      const cap = 4096;
      const { node, settings } = settingsFor(api, { maxResponseBytes: cap });
      const counted = counting(agent);
      const { value: r, ms } = await timed(() => probeCanary(node, settings, { dispatcher: counted.dispatcher }));
      expect(r.reason).toBe('too_large');
      expect(ms).toBeLessThan(CANARY_MS + SLACK_MS);
      expect(counted.bytes()).toBeLessThanOrEqual(cap + 64 * 1024);
    });

    it('a name under .invalid is a dns failure', async () => {
      const { node, settings } = setup('http://ollama-node.invalid:11434', api);
      const r = await probeLiveness(node, settings, { dispatcher: agent });
      expect(r.reason).toBe('dns');
      expect(r.detail).toContain('ollama-node.invalid');
    });

    it('https:// against the plain-HTTP simulator is a tls failure', async () => {
      const { node, settings } = setup(`https://127.0.0.1:${sim.port}`, api);
      expect((await probeLiveness(node, settings, { dispatcher: agent })).reason).toBe('tls');
      expect((await probeCanary(node, settings, { dispatcher: agent })).reason).toBe('tls');
    });

    it('the daemon aborting a hung probe ends it at once as aborted', async () => {
      await sim.setFault('hang');
      const { node, settings } = settingsFor(api);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 100);
      const { value: r, ms } = await timed(() => probeCanary(node, settings, { dispatcher: agent, signal: controller.signal }));
      clearTimeout(timer);
      expect(r).toMatchObject({ ok: false, reason: 'aborted' });
      expect(ms).toBeLessThan(100 + SLACK_MS);
      expect(ms).toBeLessThan(FIRST_TOKEN_MS);
    });

    it('a model named without its tag matches the installed :latest', async () => {
      const { node, settings } = settingsFor(api);
      expect(node.model).toBe('llama3.2');
      expect((await probeLiveness(node, settings, { dispatcher: agent })).reason).toBe('ok');
      const other = { ...node, model: 'llama3.2:70b' };
      expect((await probeLiveness(other, settings, { dispatcher: agent })).reason).toBe('model_missing');
    });
  });
});
