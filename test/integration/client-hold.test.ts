import { AllEndpointsFailedError, createSentinelClient } from '../../src/client';
import { startSimulator, type Simulator } from '../../src/simulator';

/**
 * Between a failure and the monitor's verdict, the client's own memory keeps later requests from waiting
 * out the same timeout: the failed node is tried last for failureHoldMs.
 */
describe('client: a node that just failed is tried last for a while', () => {
  let primary: Simulator;
  let fallback: Simulator;
  beforeEach(async () => {
    primary = await startSimulator();
    fallback = await startSimulator();
  });
  afterEach(async () => {
    await primary.close();
    await fallback.close();
  });

  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };

  test('a hung primary costs one timeout, not one per request; after the hold it is tried again', async () => {
    let t = 1_000_000;
    const client = createSentinelClient({
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
      reports: false,
      timeoutMs: 300,
      failureHoldMs: 10_000,
      now: () => t,
    });
    await primary.setFault('hang');
    const t0 = performance.now();
    const first = await client.fetchWithFallback('/api/chat', body);
    expect(first.url.startsWith(fallback.url)).toBe(true);
    await first.arrayBuffer();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);

    for (let i = 0; i < 5; i++) {
      const r = await client.fetchWithFallback('/api/chat', body);
      expect(r.url.startsWith(fallback.url)).toBe(true);
      await r.arrayBuffer();
    }
    // Five more requests, and the hung primary saw none of them: nobody waited out its timeout again.
    expect(primary.requestsTo('/api/chat')).toBe(1);

    await primary.setFault('none');
    t += 10_001;
    const back = await client.fetchWithFallback('/api/chat', body);
    expect(back.url.startsWith(primary.url)).toBe(true);
    await back.arrayBuffer();
  });
});

describe('client: hedged requests (hedgeAfterMs)', () => {
  let primary: Simulator;
  let fallback: Simulator;
  beforeEach(async () => {
    primary = await startSimulator();
    fallback = await startSimulator();
  });
  afterEach(async () => {
    await primary.close();
    await fallback.close();
  });
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };
  const nodes = () => [
    { name: 'primary', url: primary.url },
    { name: 'fallback', url: fallback.url },
  ];

  test('a silent primary costs hedgeAfterMs, not the timeout; the fallback answers and the primary is held back', async () => {
    const client = createSentinelClient({ nodes: nodes(), env: {}, reports: false, timeoutMs: 10_000, hedgeAfterMs: 200 });
    await primary.setFault('hang');
    const t0 = performance.now();
    const r = await client.fetchWithFallback('/api/chat', body);
    const took = performance.now() - t0;
    expect(r.url.startsWith(fallback.url)).toBe(true);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    // Far below the 10 s timeout: the hedge answered (generous bound for a loaded machine).
    expect(took).toBeLessThan(5_000);
    // The silent primary is remembered: the next request goes to the fallback alone.
    const again = await client.fetchWithFallback('/api/chat', body);
    expect(again.url.startsWith(fallback.url)).toBe(true);
    await again.arrayBuffer();
    expect(primary.requestsTo('/api/chat')).toBe(1);
  });

  test('a healthy primary answering before hedgeAfterMs: the fallback is never asked', async () => {
    const client = createSentinelClient({ nodes: nodes(), env: {}, reports: false, hedgeAfterMs: 5_000 });
    for (let i = 0; i < 3; i++) {
      const r = await client.fetchWithFallback('/api/chat', body);
      expect(r.url.startsWith(primary.url)).toBe(true);
      await r.arrayBuffer();
    }
    expect(fallback.requestsTo('/api/chat')).toBe(0);
  });

  test('both legs failing: the error lists both nodes with their reasons', async () => {
    const client = createSentinelClient({ nodes: nodes(), env: {}, reports: false, hedgeAfterMs: 100, timeoutMs: 600 });
    await primary.setFault('hang');
    await fallback.setFault('server_error');
    const err = (await client.fetchWithFallback('/api/chat', body).catch((e: unknown) => e)) as AllEndpointsFailedError;
    expect(err).toBeInstanceOf(AllEndpointsFailedError);
    expect(err.attempts.map((a) => [a.node, a.reason]).sort()).toEqual([
      ['fallback', 'server_error'],
      ['primary', 'timeout'],
    ]);
  });
});
