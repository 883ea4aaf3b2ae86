import { join } from 'node:path';
import { createSentinelClient, type SentinelClient } from '../../src/client';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(90_000);

/**
 * Suspicion against the real daemon (dist/cli.js) and two simulators. The cadence is slow (liveness every
 * 30 s), so only a suspect report can explain a probe within seconds; fall 3 is never reached in a test's
 * time, so a hedge here comes from one published liveness result, not from a status change.
 */
describe('suspicion: fail over before the app notices (real daemon)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let stateFile: string;
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-suspicion-', { primary: { answer: 'PONG from primary' }, fallback: { answer: 'PONG from fallback' } });
    ({ dir, primary, fallback } = nodes);
    stateFile = join(dir, 'state.json');
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await nodes.close();
  });

  const LIVENESS_TIMEOUT_MS = 1_000;
  const start = async (extra = ''): Promise<void> => {
    const config = writeFastConfig(dir, primary.url, fallback.url, extra, {
      liveness: `{ interval: 30s, timeout: ${LIVENESS_TIMEOUT_MS}ms }`,
      canary: '{ interval: 120s, timeout: 5s }',
    });
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 30_000);
  };
  /** Requests the client itself sent to the fallback (the daemon's own canaries also chat with it). */
  let toFallback = 0;
  const counting = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(fallback.url)) toFallback++;
    return fetch(input, init);
  };
  const client = (suspectAfterMs: number): SentinelClient =>
    createSentinelClient({
      fetch: counting,
      stateFile,
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
      timeoutMs: 15_000,
      suspectAfterMs,
    });
  const answerOf = async (res: Response): Promise<string> => ((await res.json()) as { message: { content: string } }).message.content;

  test('a hung primary: the fallback answers the first request within suspectAfterMs + one liveness timeout, not 15 s', async () => {
    await start();
    const c = client(1_000);
    await primary.setFault('hang');
    const t0 = performance.now();
    const res = await c.fetchWithFallback('/api/chat', body);
    const elapsed = performance.now() - t0;
    expect(await answerOf(res)).toBe('PONG from fallback');
    // Budget: 1 s of silence + the suspect probe's 1 s deadline + publishing and one look (100 ms); generous
    // slack for a loaded CI machine, still far below the 15 s timeout this replaces.
    expect(elapsed).toBeLessThan(1_000 + LIVENESS_TIMEOUT_MS + 4_000);
    expect(daemon?.output()).toMatch(/suspect report: probing now/);
    const s = await waitForState(stateFile, () => true, 1_000);
    const live = s.nodes.find((n) => n.name === 'primary')?.lastLiveness;
    expect(live).toMatchObject({ ok: false, reason: 'timeout' });
    expect(live?.attempts).toBeGreaterThan(1);
  });

  test('a slow but healthy primary is never duplicated: every answer comes from it', async () => {
    await start();
    const c = client(500);
    // First token after 3 s, six times the suspect wait; liveness stays quick (scope: generation).
    await primary.setFault('slow_first_token', { delayMs: 3_000, scope: 'generation' });
    const versionBefore = primary.requestsTo('/api/version');
    toFallback = 0;
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 300));
        return answerOf(await c.fetchWithFallback('/api/chat', body));
      }),
    );
    expect(answers).toEqual(Array(8).fill('PONG from primary'));
    expect(toFallback).toBe(0);
    // The client did suspect, and the monitor did look (and found the node alive).
    expect(daemon?.output()).toMatch(/suspect report: probing now/);
    expect(primary.requestsTo('/api/version')).toBeGreaterThan(versionBefore);
  });

  test('a flood of suspect reports from many apps: at most one extra probe per node per second; unknown node 400', async () => {
    await start('http: { listen: "127.0.0.1:0", reportsPerMinute: 6000 }\n');
    const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*HTTP API listening/.exec(daemon?.output() ?? '');
    expect(m).not.toBeNull();
    const reportUrl = `${m?.[1]}/report`;
    const post = (node: string) => fetch(reportUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node, reason: 'suspect' }) });

    const unknown = await post('nope');
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toMatch(/unknown node \\"nope\\"/);

    const before = primary.requestsTo('/api/version');
    const logBefore = daemon?.output().length ?? 0;
    const t0 = performance.now();
    let accepted = 0;
    // Ten "apps", 30 reports each, as fast as they can.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = 0; i < 30; i++) {
          const r = await post('primary');
          await r.arrayBuffer();
          if (r.status === 202) accepted++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    // Let the last admitted probe finish before counting.
    await new Promise((r) => setTimeout(r, 300));
    const probes = (daemon?.output().slice(logBefore).match(/suspect report: probing now/g) ?? []).length;
    expect(accepted).toBe(300);
    expect(probes).toBeGreaterThanOrEqual(1);
    // One at the start of the flood, then at most one per further second.
    expect(probes).toBeLessThanOrEqual(Math.floor(seconds) + 1);
    // What the node saw: those probes (a healthy node answers the first attempt), plus perhaps one cadence probe.
    expect(primary.requestsTo('/api/version') - before).toBeLessThanOrEqual(Math.floor(seconds) + 2);
  });
});
