import { startSimulator, type Simulator } from '../../src/simulator';
import { bundle, edgeClientTests, startStateServer, unavailable, VERCEL_EDGE, type Bundled, type AppOut, type StateServer } from '../helpers/edge';
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

  edgeClientTests({ app: () => app, primary: () => primary, fallback: () => fallback, state: () => state, runInEdge });
});
