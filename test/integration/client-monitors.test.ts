import { createServer, type Server, type Socket } from 'node:net';
import { createSentinelClient, type SentinelClientOptions } from '../../src/client';
import type { StateView } from '../../src/client/state-source';
import { freshestStateSource, pickFreshest } from '../../src/client/state-sources';
import { createMetrics } from '../../src/http/metrics';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server';
import type { AcceptedReport } from '../../src/intake/intake';
import { silentLogger } from '../../src/logging';
import { Secret } from '../../src/util/secret';
import type { PublishedState } from '../../src/state/types';
import { makeState } from '../helpers/state';
import { waitFor } from '../helpers/wait';

/*
 * Issue 11: an app given several monitors' /state URLs uses the freshest non-stale answer, so it keeps a
 * monitor's view while either monitor's host is down or hung. Real HTTP servers on loopback serve the
 * documents; a closed port stands for a dead host and a socket that accepts and never answers for a hung one.
 */
const A = 'http://10.9.0.1:11434';
const B = 'http://10.9.0.2:11434';
const nodes = [
  { name: 'primary', url: A },
  { name: 'fallback', url: B },
];
const T0 = Date.UTC(2026, 0, 1);

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A real monitor HTTP API serving whatever `doc()` returns, with its reports collected. */
async function monitor(doc: () => PublishedState | undefined, token?: string): Promise<{ url: string; reports: AcceptedReport[]; server: RunningHttpServer }> {
  const reports: AcceptedReport[] = [];
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    token: token ? new Secret(token) : undefined,
    logger: silentLogger(),
    nodeNames: ['primary', 'fallback'],
    reportsPerMinute: 30,
    getState: () => {
      const d = doc();
      return d && { json: JSON.stringify(d), etag: d.updatedAt };
    },
    health: () => ({ ok: true, detail: 'ok' }),
    metrics: createMetrics([], 'test', '0.0.0'),
    onReport: (r) => reports.push(r),
  });
  open.push(server);
  return { url: `${server.url}/state`, reports, server };
}

/** A port with nothing behind it (bound, then closed): connection refused, like a host that is down. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/state`;
}

/** Accepts connections and never answers: a hung host (or a tunnel that holds the request). */
async function hungUrl(): Promise<string> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
    c.on('close', () => sockets.delete(c));
  });
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
  open.push({
    close: () =>
      new Promise<void>((r) => {
        for (const c of sockets) c.destroy();
        s.close(() => r());
      }),
  });
  return `http://127.0.0.1:${port}/state`;
}

const doc = (primary: 'up' | 'down', updatedAt: number, staleAfterMs = 30_000): PublishedState =>
  makeState(
    [
      { name: 'primary', url: A, status: primary },
      { name: 'fallback', url: B },
    ],
    { updatedAt, staleAfterMs },
  );

function client(stateUrls: string[], now: () => number, extra: Partial<SentinelClientOptions> = {}) {
  return createSentinelClient({ stateUrls, nodes, env: {}, reports: false, now, ...extra });
}

describe('several monitors: the freshest non-stale answer', () => {
  test('one monitor dead (connection refused): the first read already has the live monitor’s fresh view', async () => {
    const live = await monitor(() => doc('down', T0));
    const dead = await deadUrl();
    for (const order of [
      [dead, live.url],
      [live.url, dead],
    ]) {
      const t0 = performance.now();
      const p = await client(order, () => T0 + 1_000).getPreferredEndpoint();
      expect(p).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
      expect(p.reason).toBeUndefined();
      expect(performance.now() - t0).toBeLessThan(1_500);
    }
  });

  test('one monitor hung: the read does not wait out the state timeout; the hung one is dropped after a short grace', async () => {
    const live = await monitor(() => doc('down', T0));
    const hung = await hungUrl();
    const t0 = performance.now();
    const c = client([hung, live.url], () => T0 + 1_000, { stateTimeoutMs: 10_000 });
    const p = await c.getPreferredEndpoint();
    const ms = performance.now() - t0;
    expect(p).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
    // A single-URL client on the hung monitor would wait the whole 10 s; the grace is 100 ms (load: slack).
    expect(ms).toBeLessThan(3_000);
    // Later reads answer from the live monitor's cache at once, while the hung one is still pending.
    const t1 = performance.now();
    expect(await c.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false });
    expect(performance.now() - t1).toBeLessThan(1_000);
  });

  test('both alive and disagreeing (issue 22): one choice whatever the order in the list, and the disagreement is said', async () => {
    // The second monitor sees the primary down; the first still sees it up. The freshest-document rule took
    // the newer one and alternated with every heartbeat; the steady rule tries the better node first (the
    // app's own failure would move it in milliseconds) and says how it settled.
    const older = await monitor(() => doc('up', T0 - 8_000));
    const newer = await monitor(() => doc('down', T0 - 1_000));
    for (const order of [
      [older.url, newer.url],
      [newer.url, older.url],
    ]) {
      const p = await client(order, () => T0).getPreferredEndpoint();
      expect(p).toMatchObject({ name: 'primary', stale: false });
      expect(p.disagreement?.chosen).toBe('primary');
      expect(p.disagreement?.monitors.map((m) => `${m.monitor}:${m.preferred}:${m.nodes.primary}`).sort()).toEqual(
        [`${older.url}:primary:up`, `${newer.url}:fallback:down`].sort(),
      );
      expect(p.reason).toMatch(/^the monitors disagree \(.* prefers (primary|fallback), .* prefers (primary|fallback)\); primary: the better node/);
    }
  });

  test('both alive and agreeing: the freshest document, no disagreement reported', async () => {
    const older = await monitor(() => doc('down', T0 - 8_000));
    const newer = await monitor(() => doc('down', T0 - 1_000));
    const p = await client([older.url, newer.url], () => T0).getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'fallback', stale: false });
    expect(p.disagreement).toBeUndefined();
  });

  test('a stale answer is never used, even when it is the most recent one', async () => {
    // B is newer but its own staleAfterMs (2 s) says it is too old now; A is older but within its 30 s.
    const a = await monitor(() => doc('up', T0 - 10_000, 30_000));
    const b = await monitor(() => doc('down', T0 - 5_000, 2_000));
    expect(await client([b.url, a.url], () => T0).getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false, source: 'http' });
    // Both stale: configured order, and the reason says so.
    const p = await client([a.url, b.url], () => T0 + 60_000).getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', stale: true, source: 'config' });
    expect(p.reason).toMatch(/state is stale/);
  });

  test('a monitor that dies later: its last view ages out, the live monitor’s fresh view carries on', async () => {
    let t = T0;
    let liveDoc = doc('up', T0 - 2_000);
    const live = await monitor(() => liveDoc);
    const dying = await monitor(() => doc('up', t));
    const c = client([dying.url, live.url], () => t, { ttlMs: 1_000 });
    expect(await c.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false });
    await dying.server.close();

    // 40 s later: the dead monitor's last document is stale; the live one keeps publishing and saw the primary fail.
    t = T0 + 40_000;
    liveDoc = doc('down', t - 1_000);
    await waitFor('the live monitor’s newer view', async () => (await c.getPreferredEndpoint()).name === 'fallback', 10_000);
    const p = await c.getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
  });

  test('a cached document about to turn stale is revalidated before it is used (no stale verdict at the boundary)', async () => {
    let t = T0;
    let served = doc('up', T0 - 29_500);
    const live = await monitor(() => served);
    const dead = await deadUrl();
    const c = client([dead, live.url], () => t, { ttlMs: 100 });
    expect(await c.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false, source: 'http' });
    // 200 ms on, the cached document is 29.7 s old (staleAfter 30 s): within a second of stale, so the live
    // monitor is asked before answering, and its newer view (primary down) is what the app gets at once.
    t = T0 + 200;
    served = doc('down', t);
    expect(await c.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
  });

  test('every monitor down and never seen: configured order, with each monitor’s error named', async () => {
    const d1 = await deadUrl();
    const d2 = await deadUrl();
    const p = await client([d1, d2], () => T0).getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', stale: true, source: 'config' });
    expect(p.reason).toContain(`${d1}: state URL unreachable (ECONNREFUSED)`);
    expect(p.reason).toContain(`${d2}: state URL unreachable (ECONNREFUSED)`);
  });

  test('failure reports go to every monitor; one dead monitor does not stop delivery', async () => {
    const m1 = await monitor(() => doc('up', Date.now()), 'app-token');
    const m2 = await monitor(() => doc('up', Date.now()), 'app-token');
    const dead = await deadUrl();
    const c = createSentinelClient({ stateUrls: [m1.url, dead, m2.url], token: 'app-token', nodes, env: {} });
    const out = await c.report({ node: 'primary', reason: 'refused', detail: 'from the test' });
    expect(out).toEqual({ delivered: true, via: 'http' });
    expect(m1.reports.map((r) => r.node)).toEqual(['primary']);
    expect(m2.reports.map((r) => r.node)).toEqual(['primary']);
    const none = await createSentinelClient({ stateUrls: [dead, await deadUrl()], nodes, env: {} }).report({ node: 'primary', reason: 'refused' });
    expect(none.delivered).toBe(false);
    expect(!none.delivered && none.error).toMatch(/127\.0\.0\.1:\d+\/state: .*; http:\/\/127\.0\.0\.1:\d+\/state: /);
  });

  test('LLM_SENTINEL_STATE_URL with a comma is a list of monitors', async () => {
    const live = await monitor(() => doc('down', T0));
    const dead = await deadUrl();
    const c = createSentinelClient({ nodes, env: { LLM_SENTINEL_STATE_URL: ` ${dead} , ${live.url}` }, reports: false, now: () => T0 });
    expect(await c.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
  });
});

describe('several monitors: bad input names the option or variable', () => {
  test.each([
    ['an empty entry in stateUrls', { stateUrls: ['http://127.0.0.1:1/state', ''] }, /stateUrls\[1\] is empty/],
    ['a non-http entry in stateUrls', { stateUrls: ['http://127.0.0.1:1/state', 'ftp://127.0.0.1/state'] }, /stateUrls\[1\] must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/127\.0\.0\.1\/state"/],
    ['a relative entry in stateUrls', { stateUrls: ['/state'] }, /stateUrls\[0\] must be an http/],
    ['an empty stateUrls', { stateUrls: [] }, /stateUrls is empty/],
    ['stateUrl and stateUrls together', { stateUrl: 'http://127.0.0.1:1/state', stateUrls: ['http://127.0.0.1:2/state'] }, /stateUrl .* or stateUrls .*, not both/],
    ['a trailing comma in LLM_SENTINEL_STATE_URL', { env: { LLM_SENTINEL_STATE_URL: 'http://127.0.0.1:1/state,' } }, /LLM_SENTINEL_STATE_URL\[1\] is empty/],
    ['a non-http entry in LLM_SENTINEL_STATE_URL', { env: { LLM_SENTINEL_STATE_URL: 'http://127.0.0.1:1/state,127.0.0.1:2/state' } }, /LLM_SENTINEL_STATE_URL\[1\] must be an http/],
  ] as Array<[string, Partial<SentinelClientOptions>, RegExp]>)('%s', (_what, opts, error) => {
    expect(() => createSentinelClient({ nodes, env: {}, reports: false, ...opts })).toThrow(error);
  });

  test('one URL without a comma is passed through as before (checked by the request, not at construction)', async () => {
    const c = createSentinelClient({ nodes, env: { LLM_SENTINEL_STATE_URL: 'not-a-url' }, reports: false });
    const p = await c.getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', stale: true });
    expect(p.reason).toMatch(/state URL unreachable/);
  });
});

describe('pickFreshest (pure)', () => {
  const v = (updatedAt: number, staleAfterMs = 30_000, error?: string) => ({ source: 'http' as const, state: doc('up', updatedAt, staleAfterMs), ...(error ? { error } : {}) });
  test.each([
    ['newest fresh wins', [v(T0 - 9_000), v(T0 - 1_000)], 1],
    ['a tie goes to the earlier monitor', [v(T0 - 1_000), v(T0 - 1_000)], 0],
    ['a stale newer one loses to a fresh older one', [v(T0 - 20_000), v(T0 - 3_000, 2_000)], 0],
    ['a cached view whose refresh failed still counts while fresh', [v(T0 - 2_000, 30_000, 'state URL unreachable (ECONNREFUSED)'), v(T0 - 5_000)], 0],
    ['no document at all: nothing picked', [undefined, { source: 'http' as const, error: 'boom' }], -1],
  ] as Array<[string, Array<StateView | undefined>, number]>)('%s', (_what, views, expected) => {
    const labelled = views.map((view, i) => ({ label: `m${i}`, view }));
    const picked = pickFreshest(labelled, T0);
    if (expected < 0) {
      expect(picked.state).toBeUndefined();
      expect(picked.error).toBe('no monitor has a fresh state (m0: no answer yet; m1: boom)');
    } else expect(picked.state).toBe(views[expected]?.state);
  });
});

describe('freshestStateSource: how long a read waits', () => {
  const fresh = (at: number): StateView => ({ source: 'http', state: doc('up', at) });
  const never = { read: () => new Promise<StateView>(() => undefined) };
  const after = (ms: number, v: StateView) => ({ read: () => new Promise<StateView>((r) => setTimeout(() => r(v), ms)) });

  test('a fresh answer in hand: a source that never answers costs the grace, not more', async () => {
    const src = freshestStateSource(
      [
        { label: 'hung', source: never },
        { label: 'live', source: after(0, fresh(T0)) },
      ],
      { now: () => T0, graceMs: 50 },
    );
    const t0 = performance.now();
    const v = await src.read();
    expect(v.state?.updatedAt).toBe(new Date(T0).toISOString());
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  test('a newer answer within the grace wins over the first one', async () => {
    const src = freshestStateSource(
      [
        { label: 'first', source: after(0, fresh(T0 - 5_000)) },
        { label: 'second', source: after(20, fresh(T0 - 1_000)) },
      ],
      { now: () => T0, graceMs: 2_000 },
    );
    expect((await src.read()).state?.updatedAt).toBe(new Date(T0 - 1_000).toISOString());
  });

  test('no fresh answer yet: every monitor is waited for (each is bounded by its own state timeout)', async () => {
    const src = freshestStateSource(
      [
        { label: 'slow', source: after(300, fresh(T0)) },
        { label: 'broken', source: after(0, { source: 'http', error: 'state URL answered HTTP 503' }) },
      ],
      { now: () => T0, graceMs: 10 },
    );
    const v = await src.read();
    expect(v.state?.updatedAt).toBe(new Date(T0).toISOString());
  });

  test('a source that throws is an error value, never a rejected read', async () => {
    const src = freshestStateSource([{ label: 'bad', source: { read: () => Promise.reject(new Error('boom')) } }], { now: () => T0 });
    expect((await src.read()).error).toBe('no monitor has a fresh state (bad: state unreadable: boom)');
  });
});


describe('several monitors that disagree: one rule in every entry point (issue 22)', () => {
  /*
   * Two real monitor APIs disagree about the primary for the whole test, each rewriting its document every
   * step (a heartbeat) with alternating freshness, which made the freshest-document rule switch every step.
   * Two real simulators are the nodes. Every entry point must send every request to the same node.
   */
  let sims: Array<{ url: string; close(): Promise<void>; setFault(f: 'none' | 'cf_tunnel_down'): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.close()));
  });

  async function setup() {
    const { startSimulator } = await import('../../src/simulator');
    const p = await startSimulator({ answer: 'PRIMARY', tokenDelayMs: 1 });
    const f = await startSimulator({ answer: 'FALLBACK', tokenDelayMs: 1 });
    sims = [p, f];
    const appNodes = [
      { name: 'primary', url: p.url },
      { name: 'fallback', url: f.url },
    ];
    let t = T0;
    const published = (primary: 'up' | 'down', lag: number) =>
      makeState(
        [
          { name: 'primary', url: p.url, status: primary },
          { name: 'fallback', url: f.url },
        ],
        { updatedAt: t - lag },
      );
    let step = 0;
    // Alternate which monitor wrote last: the freshest document alternates with every step.
    const mac = await monitor(() => published('up', step % 2 === 0 ? 100 : 900));
    const oracle = await monitor(() => published('down', step % 2 === 0 ? 900 : 100));
    const opts: SentinelClientOptions = { stateUrls: [mac.url, oracle.url], nodes: appNodes, env: {}, reports: false, ttlMs: 0, now: () => t, onWarning: () => undefined };
    return {
      p,
      opts,
      next: () => {
        step++;
        t += 1_000;
      },
    };
  }

  const answerOf = async (res: Response): Promise<string> => {
    const text = await res.text();
    return text.includes('PRIMARY') ? 'primary' : text.includes('FALLBACK') ? 'fallback' : text.slice(0, 80);
  };
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };

  test('getPreferredEndpoint, endpoints(), fetchWithFallback, sentinelFetch and the module functions agree, step after step', async () => {
    const { opts, next } = await setup();
    const { getPreferredEndpoint, fetchWithFallback, sentinelFetch } = await import('../../src/client');
    const c = createSentinelClient(opts);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      seen.add(`gpe:${(await c.getPreferredEndpoint()).name}`);
      seen.add(`endpoints:${(await c.endpoints())[0]?.name}`);
      seen.add(`fwf:${await answerOf(await c.fetchWithFallback('/api/chat', body))}`);
      seen.add(`fetch:${await answerOf(await c.fetch('http://placeholder/api/chat', { method: 'POST', body: JSON.stringify(body) }))}`);
      seen.add(`module-gpe:${(await getPreferredEndpoint(opts)).name}`);
      seen.add(`module-fwf:${await answerOf(await fetchWithFallback('/api/chat', body, opts))}`);
      seen.add(`module-fetch:${await answerOf(await sentinelFetch(opts)('http://placeholder/api/chat', { method: 'POST', body: JSON.stringify(body) }))}`);
      next();
    }
    expect([...seen].sort()).toEqual(['endpoints:primary', 'fetch:primary', 'fwf:primary', 'gpe:primary', 'module-fetch:primary', 'module-fwf:primary', 'module-gpe:primary']);
  });

  test("the app's own failure with the chosen node moves every entry point once, and it stays there (no hold)", async () => {
    const { p, opts, next } = await setup();
    const c = createSentinelClient({ ...opts, failureHoldMs: 0 });
    expect(await answerOf(await c.fetchWithFallback('/api/chat', body))).toBe('primary');
    await p.setFault('cf_tunnel_down');
    next();
    // The request fails over within itself (530 is a hard failure), and the choice moves with it.
    expect(await answerOf(await c.fetchWithFallback('/api/chat', body))).toBe('fallback');
    await p.setFault('none');
    const after: string[] = [];
    for (let i = 0; i < 6; i++) {
      next();
      after.push((await c.getPreferredEndpoint()).name, await answerOf(await c.fetch('http://placeholder/api/chat', { method: 'POST', body: JSON.stringify(body) })));
    }
    expect(new Set(after)).toEqual(new Set(['fallback']));
    const p2 = await c.getPreferredEndpoint();
    expect(p2.disagreement?.why).toMatch(/this app's own request to primary failed/);
  });
});

describe('several monitors: documents that cannot be taken at their word (issue 22)', () => {
  test('a self-contradicting document is logged once and read by its node verdicts; the ghost endpoint is never used', async () => {
    const contradicting = () => {
      const d = doc('down', Date.now() - 500);
      return { ...d, preferred: { name: 'primary', url: A, model: 'llama3.2', api: 'ollama' as const } };
    };
    const ghost = () => {
      const d = doc('up', Date.now() - 500);
      return { ...d, preferred: { name: 'ghost', url: 'http://10.66.6.6:11434', model: 'x', api: 'ollama' as const } };
    };
    const a = await monitor(contradicting);
    const b = await monitor(ghost);
    const warnings: string[] = [];
    const c = createSentinelClient({ stateUrls: [a.url, b.url], nodes, env: {}, reports: false, ttlMs: 0, onWarning: (m) => warnings.push(m) });
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const p = await c.getPreferredEndpoint();
      seen.add(p.name);
      for (const e of await c.endpoints()) expect(['primary', 'fallback']).toContain(e.name);
    }
    expect([...seen].every((n) => n === 'primary' || n === 'fallback')).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w.includes(a.url))).toMatch(/its document prefers primary, which it calls down; read by its node verdicts \(fallback\)/);
    expect(warnings.find((w) => w.includes(b.url))).toMatch(/prefers ghost, which is not one of its nodes/);
  });
});
