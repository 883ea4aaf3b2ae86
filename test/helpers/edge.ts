/**
 * Shared by the edge-runtime tests (test/integration/client-edge-*.test.ts): an app bundled the way each
 * platform bundles it, a state server on loopback, and a check that the runtime packages are there.
 */
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { PublishedState } from '../../src/state/types';
import type { Simulator } from '../../src/simulator';

export const ROOT = join(__dirname, '..', '..');

/*
 * The app, as a user would write it: it imports `llm-sentinel/client` by its package name, so the bundler
 * picks the build through package.json's conditional exports (the repo refers to itself by name). Plain
 * JavaScript in a string because it is compiled by esbuild for the runtime under test, not by ts-jest.
 * `run(cfg)` does what an app on the edge does and returns what the test asserts on; every value crosses
 * back as JSON. `export default { fetch }` is a Workers module handler around it.
 */
const APP = `
import { createSentinelClient, fetchWithFallback, getPreferredEndpoint, sentinelFetch, UnsupportedRuntimeError } from 'llm-sentinel/client';

const nodesOf = (cfg) => [{ name: 'primary', url: cfg.primary }, { name: 'fallback', url: cfg.fallback }];
const errorOf = (e) => ({ name: e && e.name, message: String(e && e.message), unsupported: e instanceof UnsupportedRuntimeError, missing: e && e.missing });

export async function run(cfg) {
  const out = { globals: [typeof process, typeof Buffer, typeof globalThis.require].join() };
  if (cfg.scenario === 'failover') {
    const options = { stateUrls: [cfg.stateUrl], nodes: nodesOf(cfg), env: {}, ttlMs: 50 };
    out.preferred = await getPreferredEndpoint(options);
    const res = await fetchWithFallback('/api/generate', { model: 'llama3.2', prompt: 'Reply with PONG', stream: false }, options);
    out.failover = { status: res.status, response: (await res.json()).response };
    const sdk = await sentinelFetch(options)('http://127.0.0.1:9/api/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'Reply with PONG' }], stream: true }),
    });
    // A streamed NDJSON answer, read chunk by chunk as an app would.
    const reader = sdk.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) { const { done, value } = await reader.read(); if (done) break; text += decoder.decode(value, { stream: true }); }
    out.stream = { status: sdk.status, lines: text.trim().split('\\n').length, content: text.trim().split('\\n').map((l) => JSON.parse(l).message?.content ?? '').join('') };
    try { createSentinelClient({ stateFile: '/var/lib/llm-sentinel/state.json', nodes: nodesOf(cfg) }); } catch (e) { out.stateFile = errorOf(e); }
  } else if (cfg.scenario === 'suspicion') {
    const client = createSentinelClient({ stateUrls: [cfg.stateUrl], nodes: nodesOf(cfg), env: {}, ttlMs: 50, suspectAfterMs: 200, timeoutMs: 25000 });
    await client.getPreferredEndpoint();
    const started = Date.now();
    const res = await client.fetchWithFallback('/api/generate', { model: 'llama3.2', prompt: 'Reply with PONG', stream: false });
    out.suspicion = { status: res.status, response: (await res.json()).response, ms: Date.now() - started };
  } else if (cfg.scenario === 'warm-1') {
    // Kept between requests, as an app keeps its client in module scope.
    globalThis.warmClient = createSentinelClient({ stateUrls: [cfg.stateUrl], nodes: nodesOf(cfg), env: {}, ttlMs: 50, stateTimeoutMs: 500 });
    out.first = (await globalThis.warmClient.getPreferredEndpoint()).name;
    await new Promise((r) => setTimeout(r, 100));
    // Starts a background revalidation that this request does not wait for: it ends with the request.
    out.second = (await globalThis.warmClient.getPreferredEndpoint()).name;
  } else if (cfg.scenario === 'warm-2') {
    const seen = [];
    for (let i = 0; i < 40 && seen[seen.length - 1] !== 'fallback'; i++) {
      seen.push((await globalThis.warmClient.getPreferredEndpoint()).name);
      await new Promise((r) => setTimeout(r, 100));
    }
    out.seen = seen;
  } else if (cfg.scenario === 'unsupported') {
    try { await getPreferredEndpoint({ stateUrl: cfg.stateUrl, nodes: nodesOf(cfg), env: {} }); out.resolved = true; } catch (e) { out.error = errorOf(e); }
  }
  return out;
}

export default {
  async fetch(request) {
    return new Response(JSON.stringify(await run(await request.json())), { headers: { 'content-type': 'application/json' } });
  },
};
`;

/** What run(cfg) returned, parsed from JSON; the tests assert on it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from inside another runtime
export type AppOut = Record<string, any>;

export interface Bundled {
  code: string;
  bytes: number;
  /** The files esbuild put in, relative to the repo. */
  inputs: string[];
}

type EsbuildOptions = Parameters<typeof import('esbuild').build>[0];

/** Bundles the app (or `source`) with the platform's own options; `format` only changes the wrapper. */
export async function bundle(platform: Platform, format: 'esm' | 'iife', source = APP): Promise<Bundled> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    stdin: { contents: source, resolveDir: ROOT, sourcefile: 'app.js', loader: 'js' },
    bundle: true,
    write: false,
    metafile: true,
    format,
    ...(format === 'iife' ? { globalName: 'app' } : {}),
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
    ...platform,
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error('esbuild wrote nothing');
  return { code: out.text, bytes: out.contents.byteLength, inputs: Object.keys(r.metafile.inputs) };
}

/** The builds a platform gets: how Next.js/Vercel and wrangler call esbuild (see the tests for sources). */
type Platform = Pick<EsbuildOptions, 'platform' | 'conditions' | 'mainFields'>;
export const VERCEL_EDGE: Platform = { platform: 'browser', conditions: ['edge-light', 'worker', 'browser', 'module', 'import', 'node'] };
export const CLOUDFLARE_WORKERS: Platform = { platform: 'neutral', conditions: ['workerd', 'worker', 'browser'], mainFields: ['workerd', 'worker', 'browser', 'module', 'main'] };

/** Why the runtime cannot run here, or undefined when it can (a test is skipped with this reason). */
export function unavailable(pkg: 'edge-runtime' | 'miniflare'): string | undefined {
  try {
    require.resolve(pkg);
    require.resolve('esbuild');
  } catch {
    return `${pkg} or esbuild is not installed (npm ci installs both as devDependencies)`;
  }
  if (pkg === 'miniflare') {
    // workerd is a native binary from an optional dependency: a platform without one has none.
    const r = spawnSync(process.execPath, ['-e', "require('child_process').execFileSync(require('workerd').default, ['--version'], { stdio: 'ignore' })"], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) return `workerd does not start on this machine (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()})`;
  }
  return undefined;
}

export interface StateServer {
  url: string;
  state: PublishedState;
  /** Bodies of the POST /report requests, in order. */
  reports: Array<{ node: string; reason: string; detail?: string }>;
  /** Holds GET /state answers this long (a slow monitor), from the `holdFrom`th GET on (1: all). */
  delayMs: number;
  holdFrom: number;
  /** Publishes a new document (a new ETag). */
  publish(state: PublishedState): void;
  close(): Promise<void>;
}

/**
 * GET /state and POST /report, as the daemon serves them (ETag, 304, 202), on 127.0.0.1. With
 * `answerSuspects`, a `suspect` report makes it publish what the daemon's suspect probe publishes for a hung
 * node: a failed liveness result, retried (attempts 2), newer than anything before.
 */
export async function startStateServer(state: PublishedState, opts: { answerSuspects?: boolean } = {}): Promise<StateServer> {
  const reports: StateServer['reports'] = [];
  let version = 1;
  let gets = 0;
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    if (req.method === 'GET' && req.url === '/state' && !(req as { held?: boolean }).held && ++gets >= s.holdFrom && s.delayMs > 0) {
      (req as { held?: boolean }).held = true;
      setTimeout(() => handle(req, res, body), s.delayMs);
      return;
    }
    if (req.method === 'GET' && req.url === '/state') {
      const etag = `"v${version}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
        return;
      }
      s.state.updatedAt = new Date().toISOString();
      res.writeHead(200, { 'content-type': 'application/json', etag, 'cache-control': 'no-cache' }).end(JSON.stringify(s.state));
      return;
    }
    if (req.method === 'POST' && req.url === '/report') {
      const r = JSON.parse(body) as StateServer['reports'][number];
      reports.push(r);
      const node = s.state.nodes.find((n) => n.name === r.node);
      if (opts.answerSuspects && r.reason === 'suspect' && node) {
        node.lastLiveness = { ok: false, reason: 'timeout', at: new Date().toISOString(), attempts: 2 };
        version++;
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      return;
    }
    res.writeHead(404).end();
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handle(req, res, body));
  });
  server.on('connection', (c: Socket) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const s: StateServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/state`,
    state,
    reports,
    delayMs: 0,
    holdFrom: 1,
    publish(next) {
      s.state = next;
      version++;
    },
    async close() {
      for (const c of sockets) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return s;
}

/** What the shared edge tests need from a runtime's suite (read when each test runs, after its beforeAll/beforeEach). */
export interface EdgeSuite {
  app(): Bundled;
  primary(): Simulator;
  fallback(): Simulator;
  state(): StateServer;
  /** A fresh runtime with the bundle loaded (`prelude` runs first), then `app.run(cfg)` inside it. */
  runInEdge(cfg: Record<string, unknown>, prelude?: string): Promise<AppOut>;
}

/**
 * The tests every edge runtime must pass with the fetch-only client (client-edge-vercel and client-edge-workerd
 * call this inside their suites): the bundle, failover on a 530 with its report, suspicion, a fetch that
 * cannot stream.
 */
export function edgeClientTests(s: EdgeSuite): void {
  test('the bundle is the fetch-only build: no node:* module, no state file reader, no drop folder', () => {
    expect(s.app().inputs).toContain('dist/client/edge.js');
    for (const f of ['dist/client/index.js', 'dist/client/node.js', 'dist/client/state-file.js', 'dist/client/drop-folder.js']) expect(s.app().inputs).not.toContain(f);
    expect(s.app().inputs.filter((f) => f.startsWith('node:') || !f.startsWith('dist/'))).toEqual(['app.js']);
  });

  test('reads the state over loopback, fails over on a 530, reports it over HTTP, streams through sentinelFetch', async () => {
    await s.primary().setFault('cf_tunnel_down');
    const out = await s.runInEdge({ scenario: 'failover', stateUrl: s.state().url, primary: s.primary().url, fallback: s.fallback().url });
    expect(out.globals).toBe('undefined,undefined,undefined'); // not Node: no process, Buffer or require
    expect(out.preferred).toMatchObject({ name: 'primary', url: s.primary().url, source: 'http', stale: false });
    expect(out.failover).toEqual({ status: 200, response: 'FALLBACK' });
    expect(out.stream.status).toBe(200);
    expect(out.stream.lines).toBeGreaterThan(1);
    expect(out.stream.content).toBe('FALLBACK');
    expect(s.state().reports).toContainEqual(expect.objectContaining({ node: 'primary', reason: 'cloudflare_tunnel_down' }));
    expect(out.stateFile.message).toMatch(/stateFile needs the Node build/);
  });

  test('suspicion: a hung primary gets company once the monitor publishes a failed liveness probe', async () => {
    await s.primary().setFault('hang');
    const out = await s.runInEdge({ scenario: 'suspicion', stateUrl: s.state().url, primary: s.primary().url, fallback: s.fallback().url });
    expect(out.suspicion).toMatchObject({ status: 200, response: 'FALLBACK' });
    // Far below the 25 s timeoutMs: the monitor's verdict, not the timeout, moved the request.
    expect(out.suspicion.ms).toBeLessThan(15_000);
    expect(s.state().reports.map((r) => r.reason)).toContain('suspect');
  });

  test('a runtime whose fetch cannot stream: importing works, the call rejects naming what is missing', async () => {
    // Response.body is null here, as in a runtime without streaming bodies.
    const prelude = "Object.defineProperty(Response.prototype, 'body', { get() { return null; }, configurable: true });";
    const out = await s.runInEdge({ scenario: 'unsupported', stateUrl: s.state().url, primary: s.primary().url, fallback: s.fallback().url }, prelude);
    expect(out.resolved).toBeUndefined();
    expect(out.error).toMatchObject({ name: 'UnsupportedRuntimeError', unsupported: true });
    expect(out.error.message).toMatch(/fetch streaming \(Response\.body/);
    expect(s.state().reports).toEqual([]);
  });
}
