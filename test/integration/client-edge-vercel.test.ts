import { startSimulator, type Simulator } from '../../src/simulator';
import { bundle, startStateServer, unavailable, VERCEL_EDGE, type Bundled, type AppOut, type StateServer } from '../helpers/edge';
import { makeState } from '../helpers/state';

/*
 * The fetch-only client in Vercel's edge runtime (the `edge-runtime` package: the same VM and web primitives
 * `vercel dev` and Next.js use for Edge Functions and middleware), not in Node: no process, no Buffer, no
 * require, no node:*. The app is bundled as Next.js bundles edge code: conditions edge-light, worker, browser,
 * module, import, node (next.js packages/next/src/build/webpack-config.ts, the edge compiler's conditionNames),
 * platform browser. 'node' is in that list on purpose: the export map must pick edge-light first.
 */
const why = unavailable('edge-runtime');
if (why) console.warn(`client-edge-vercel: skipped: ${why}`);
const suite = why ? describe.skip : describe;

suite(`llm-sentinel/client in Vercel's edge-runtime${why ? ` (skipped: ${why})` : ''}`, () => {
  let app: Bundled;
  let primary: Simulator;
  let fallback: Simulator;
  let state: StateServer;

  beforeAll(async () => {
    app = await bundle(VERCEL_EDGE, 'iife');
    primary = await startSimulator({ answer: 'PRIMARY', tokenDelayMs: 1 });
    fallback = await startSimulator({ answer: 'FALLBACK', tokenDelayMs: 1 });
  });
  afterAll(async () => {
    await primary?.close();
    await fallback?.close();
  });
  beforeEach(async () => {
    state = await startStateServer(makeState([{ name: 'primary', url: primary.url }, { name: 'fallback', url: fallback.url }]), { answerSuspects: true });
    await primary.setFault('none');
  });
  afterEach(() => state.close());

  /** A fresh runtime with the bundle loaded (`prelude` runs first), then `app.run(cfg)` inside it. */
  async function runInEdge(cfg: Record<string, unknown>, prelude = ''): Promise<AppOut> {
    const { EdgeRuntime } = await import('edge-runtime');
    const runtime = new EdgeRuntime();
    // The runtime really is not Node: what the Node build would need is not there.
    expect(runtime.evaluate('[typeof process, typeof Buffer, typeof require].join()')).toBe('undefined,undefined,undefined');
    if (prelude) runtime.evaluate(prelude);
    runtime.evaluate(app.code);
    const json = await runtime.evaluate<Promise<string>>(`app.run(${JSON.stringify(cfg)}).then((r) => JSON.stringify(r))`);
    return JSON.parse(json) as AppOut;
  }

  test('the bundle is the fetch-only build: no node:* module, no state file reader, no drop folder', () => {
    expect(app.inputs).toContain('dist/client/edge.js');
    for (const f of ['dist/client/index.js', 'dist/client/node.js', 'dist/client/state-file.js', 'dist/client/drop-folder.js']) expect(app.inputs).not.toContain(f);
    expect(app.inputs.filter((f) => f.startsWith('node:') || !f.startsWith('dist/'))).toEqual(['app.js']);
  });

  test('reads the state over loopback, fails over on a 530, reports it over HTTP, streams through sentinelFetch', async () => {
    await primary.setFault('cf_tunnel_down');
    const out = await runInEdge({ scenario: 'failover', stateUrl: state.url, primary: primary.url, fallback: fallback.url });
    expect(out.globals).toBe('undefined,undefined,undefined'); // not Node: no process, Buffer or require
    expect(out.preferred).toMatchObject({ name: 'primary', url: primary.url, source: 'http', stale: false });
    expect(out.failover).toEqual({ status: 200, response: 'FALLBACK' });
    expect(out.stream.status).toBe(200);
    expect(out.stream.lines).toBeGreaterThan(1);
    expect(out.stream.content).toBe('FALLBACK');
    expect(state.reports).toContainEqual(expect.objectContaining({ node: 'primary', reason: 'cloudflare_tunnel_down' }));
    expect(out.stateFile.message).toMatch(/stateFile needs the Node build/);
  });

  test('suspicion: a hung primary gets company once the monitor publishes a failed liveness probe', async () => {
    await primary.setFault('hang');
    const out = await runInEdge({ scenario: 'suspicion', stateUrl: state.url, primary: primary.url, fallback: fallback.url });
    expect(out.suspicion).toMatchObject({ status: 200, response: 'FALLBACK' });
    // Far below the 25 s timeoutMs: the monitor's verdict, not the timeout, moved the request.
    expect(out.suspicion.ms).toBeLessThan(15_000);
    expect(state.reports.map((r) => r.reason)).toContain('suspect');
  });

  test('a runtime whose fetch cannot stream: importing works, the call rejects naming what is missing', async () => {
    // Response.body is null here, as in a runtime without streaming bodies.
    const prelude = "Object.defineProperty(Response.prototype, 'body', { get() { return null; }, configurable: true });";
    const out = await runInEdge({ scenario: 'unsupported', stateUrl: state.url, primary: primary.url, fallback: fallback.url }, prelude);
    expect(out.resolved).toBeUndefined();
    expect(out.error).toMatchObject({ name: 'UnsupportedRuntimeError', unsupported: true });
    expect(out.error.message).toMatch(/fetch streaming \(Response\.body/);
    expect(state.reports).toEqual([]);
  });
});
