import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSentinelClient, type PreferredEndpoint } from '../../src/client';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(90_000);

/*
 * Issue 11 "Show": a client given both monitors' URLs, with one monitor dead, gets a fresh, non-stale answer.
 * Two real daemon processes (each with its own folder, database, state file and HTTP port) watch the same
 * two simulators; one is SIGKILLed (a power cut on its host) and the client is asked again once the dead
 * monitor's last document is older than staleAfter (5 s in the fast config).
 */
describe('a client given two monitors (real daemons)', () => {
  let nodes: TwoNodes | undefined;
  let root: string;
  let primary: Simulator;
  let fallback: Simulator;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    nodes = await startTwoNodes('sentinel-monitors-');
    ({ dir: root, primary, fallback } = nodes);
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.kill9()));
    await nodes?.close();
  });

  async function startMonitor(name: string): Promise<{ daemon: DaemonProcess; stateUrl: string; stateFile: string }> {
    const dir = join(root, name);
    mkdirSync(dir);
    const config = writeFastConfig(dir, primary.url, fallback.url, 'http: { listen: "127.0.0.1:0", token: { env: LLM_SENTINEL_TOKEN } }\n');
    const daemon = spawnDaemon(['run', '--config', config], { LLM_SENTINEL_TOKEN: 'shared-app-token' });
    daemons.push(daemon);
    const stateFile = join(dir, 'state.json');
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 20_000);
    let url = '';
    await waitFor(`${name}'s HTTP API`, () => (url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*HTTP API listening/.exec(daemon.output())?.[1] ?? '') !== '', 10_000);
    return { daemon, stateUrl: `${url}/state`, stateFile };
  }

  test('one monitor SIGKILLed: the client keeps a fresh, non-stale view from the other', async () => {
    const mac = await startMonitor('mac');
    const oracle = await startMonitor('oracle');
    const nodes = [
      { name: 'primary', url: primary.url },
      { name: 'fallback', url: fallback.url },
    ];
    const both = createSentinelClient({ nodes, env: { LLM_SENTINEL_STATE_URL: `${mac.stateUrl},${oracle.stateUrl}`, LLM_SENTINEL_TOKEN: 'shared-app-token' }, reports: false, ttlMs: 200 });
    const macOnly = createSentinelClient({ nodes, stateUrl: mac.stateUrl, token: 'shared-app-token', env: {}, reports: false, ttlMs: 200 });
    expect(await both.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false, source: 'http' });
    expect(await macOnly.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false, source: 'http' });

    await mac.daemon.kill9();
    const killedAt = Date.now();
    // Past the dead monitor's staleAfter (5 s): its last document can no longer be used by anyone.
    let single = await macOnly.getPreferredEndpoint();
    await waitFor('the dead monitor’s document to go stale', () => {
      void macOnly.getPreferredEndpoint().then((p) => (single = p));
      return single.stale;
    }, 20_000);
    expect(Date.now() - killedAt).toBeGreaterThan(4_000);

    const t0 = performance.now();
    const p = await both.getPreferredEndpoint();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(p).toMatchObject({ name: 'primary', stale: false, source: 'http' });

    // The survivor's view is live, not a cached copy: a fault it sees reaches the app.
    await primary.setFault('refuse');
    let latest: PreferredEndpoint | undefined;
    await waitFor('the surviving monitor to move the app to the fallback', () => {
      void both.getPreferredEndpoint().then((x) => (latest = x));
      return latest?.name === 'fallback';
    }, 20_000);
    expect(latest).toMatchObject({ name: 'fallback', stale: false, source: 'http' });
    await primary.setFault('none');
  });
});
