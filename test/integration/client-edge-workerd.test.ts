import type { Miniflare } from 'miniflare';
import { startSimulator, type Simulator } from '../../src/simulator';
import { bundle, CLOUDFLARE_WORKERS, edgeClientTests, startStateServer, unavailable, type Bundled, type AppOut, type StateServer } from '../helpers/edge';
import { makeState } from '../helpers/state';

/*
 * The fetch-only client in Cloudflare's workerd (the Workers runtime itself, run by miniflare), not in Node:
 * a module worker without nodejs_compat, so node:* does not exist at all. The app is bundled as wrangler
 * bundles a Worker: esbuild, conditions workerd, worker, browser (wrangler's "Prefer the workerd exports
 * condition" change), platform neutral, ESM. Requests reach the test's servers on 127.0.0.1 through
 * workerd's own fetch.
 */
const why = unavailable('miniflare');
if (why) console.warn(`client-edge-workerd: skipped: ${why}`);
const suite = why ? describe.skip : describe;

suite(`llm-sentinel/client in Cloudflare's workerd (miniflare)${why ? ` (skipped: ${why})` : ''}`, () => {
  let app: Bundled;
  let primary: Simulator;
  let fallback: Simulator;
  let state: StateServer;

  beforeAll(async () => {
    app = await bundle(CLOUDFLARE_WORKERS, 'esm');
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

  /** A fresh worker with the bundle as its script (`prelude` first), then one request per cfg, in order. */
  async function runRequests(cfgs: Array<Record<string, unknown>>, prelude = '', between?: (i: number) => void): Promise<Array<AppOut>> {
    const { Miniflare } = await import('miniflare');
    // cf: false: miniflare would otherwise download request.cf data from the Internet.
    const mf: Miniflare = new Miniflare({ modules: true, script: `${prelude}\n${app.code}`, compatibilityDate: '2025-09-01', cf: false });
    const outs: Array<AppOut> = [];
    try {
      for (const [i, cfg] of cfgs.entries()) {
        if (i > 0) between?.(i);
        const res = await mf.dispatchFetch('http://worker.local/', { method: 'POST', body: JSON.stringify(cfg) });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`worker answered ${res.status}: ${text.slice(0, 500)}`);
        outs.push(JSON.parse(text) as AppOut);
      }
      return outs;
    } finally {
      await mf.dispose();
    }
  }
  const runInEdge = async (cfg: Record<string, unknown>, prelude = ''): Promise<AppOut> => (await runRequests([cfg], prelude))[0] as AppOut;

  edgeClientTests({ app: () => app, primary: () => primary, fallback: () => fallback, state: () => state, runInEdge });

  test('a revalidation cancelled with the request that started it does not stop later requests from seeing a new state', async () => {
    const cfg = { stateUrl: state.url, primary: primary.url, fallback: fallback.url };
    // Request 1 reads the state, then starts a background revalidation that the slow monitor answers only
    // after request 1 has ended; workerd cancels that fetch. Request 2 must still see the next document.
    state.delayMs = 1_000;
    state.holdFrom = 2;
    const [one, two] = await runRequests([{ ...cfg, scenario: 'warm-1' }, { ...cfg, scenario: 'warm-2' }], '', () => {
      state.delayMs = 0;
      state.publish(makeState([{ name: 'primary', url: primary.url, status: 'down' }, { name: 'fallback', url: fallback.url }]));
    });
    expect(one).toMatchObject({ first: 'primary', second: 'primary' });
    expect(two?.seen.at(-1)).toBe('fallback');
  });
});
