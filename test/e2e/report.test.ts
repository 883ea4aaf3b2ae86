import { join } from 'node:path';
import { createSentinelClient } from '../../src/client';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(60_000);

/**
 * The unaided cadence here is slow (liveness every 30 s): only a client's failure report can make the
 * daemon notice within seconds. A report never flips anything by itself; the re-probes it triggers do.
 */
describe('client failure reports (real daemon, real client library)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let stateFile: string;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-report-');
    ({ dir, primary, fallback } = nodes);
    stateFile = join(dir, 'state.json');
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await nodes.close();
  });

  const slowCadence = (extra = '') =>
    writeFastConfig(dir, primary.url, fallback.url, extra, { liveness: '{ interval: 30s, timeout: 400ms }', canary: '{ interval: 60s, timeout: 1500ms }' });

  const ready = (s: Parameters<typeof statusOf>[0]) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up';

  test.each(['dropbox', 'http'] as const)('one failed request reported via %s flips the state within about 2 s', async (door) => {
    const config = slowCadence(door === 'http' ? 'http: { listen: "127.0.0.1:0" }\n' : '');
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, ready, 15_000);
    let reportUrl: string | undefined;
    if (door === 'http') {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*HTTP API listening/.exec(daemon.output());
      expect(m).not.toBeNull();
      reportUrl = `${m?.[1]}/report`;
    }
    const client = createSentinelClient({
      stateFile,
      reportUrl,
      reportDir: door === 'dropbox' ? join(dir, 'reports') : undefined,
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
    });
    await primary.setFault('server_error');
    const t0 = performance.now();
    const res = await client.fetchWithFallback('/api/chat', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
    expect(res.status).toBe(200);
    expect(res.url.startsWith(fallback.url)).toBe(true);
    await res.arrayBuffer();
    const flipped = await waitForState(stateFile, (s) => s.preferred.name === 'fallback', 10_000, 20);
    const elapsed = performance.now() - t0;
    // 500s on every route: whichever track (liveness → down, canary → degraded) reaches softFall first.
    expect(['down', 'degraded']).toContain(statusOf(flipped, 'primary'));
    // Unaided, the next liveness probe would come ~30 s later; "about 2 s" with generous slack for CI.
    expect(elapsed).toBeLessThan(5_000);
    expect(daemon.output()).toMatch(/client reported a failure; re-probing now/);
  });

  test('a report about a healthy node changes nothing', async () => {
    const config = slowCadence();
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, ready, 15_000);
    const client = createSentinelClient({ stateFile, reportDir: join(dir, 'reports'), nodes: [{ name: 'primary', url: primary.url }, { name: 'fallback', url: fallback.url }], env: {} });
    await client.report({ node: 'primary', reason: 'timeout' });
    await new Promise((r) => setTimeout(r, 1500));
    const s = await waitForState(stateFile, () => true, 1000);
    expect(s.preferred.name).toBe('primary');
    expect(statusOf(s, 'primary')).toBe('up');
    expect(daemon.output()).toMatch(/client reported a failure; re-probing now/);
  });
});
