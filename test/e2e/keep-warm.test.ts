import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { waitFor } from '../helpers/wait';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(90_000);

/**
 * Keep-warm (issue 12) through the real daemon: the apps' models stay loaded between canaries. Ollama's
 * load request is POST /api/generate with a model and keep_alive and no prompt (docs/api.md "Load a
 * model"); the simulator counts those apart from generations.
 */
describe('keep-warm (real daemon, simulated Ollama)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-warm-', { primary: { models: ['llama3.2', 'qwen3:8b'] } });
    ({ dir, primary, fallback } = nodes);
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await nodes.close();
  });

  test('a model unloaded behind the monitor’s back is loaded again within one liveness interval, by a load request, while the canary runs every 60 s', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      `instance: warm
nodes:
  - { name: primary, url: "${primary.url}", model: llama3.2, models: [llama3.2, qwen3:8b] }
  - { name: fallback, url: "${fallback.url}", model: llama3.2 }
probes:
  liveness: { interval: 500ms, timeout: 400ms }
  canary: { interval: 60s, timeout: 2s, numCtx: 8192 }
  connectTimeout: 300ms
selfCheck: { witnesses: ["tcp://127.0.0.1:${primary.port}"] }
state: { heartbeat: 500ms, staleAfter: 5s }
stateFile: state.json
database: sentinel.db
`,
    );
    const stateFile = join(dir, 'state.json');
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 20_000);
    // Both app models loaded at start-up (the first pass found them cold).
    await waitFor('both app models loaded', () => primary.loaded().length === 2, 10_000);
    const generations = primary.generations;
    const loadsBefore = primary.loads.length;
    // The start-up loads are first loads, not cold models loaded again (issue 21): counted apart.
    const startLoads = primary.loads.length;
    const first = await waitForState(stateFile, (st) => (st.nodes.find((n) => n.name === 'primary')?.memory?.firstLoads ?? 0) >= startLoads, 5_000);
    expect(first.nodes.find((n) => n.name === 'primary')).toMatchObject({ coldEvents: 0, lastColdEvent: null });
    const coldBefore = 0;

    const psBefore = primary.requestsTo('/api/ps');
    primary.unload(['qwen3:8b']);
    await waitFor('the load request', () => primary.loads.length > loadsBefore, 10_000);
    // The very next look at /api/ps (one liveness cycle) found it gone and loaded it (a pass looks again after
    // each load, to see what the load evicted: at most that second look may have gone out already).
    expect(primary.requestsTo('/api/ps') - psBefore).toBeLessThanOrEqual(2);
    const load = primary.loads[loadsBefore];
    expect(load).toMatchObject({ model: 'qwen3:8b', keepAlive: '30m', options: { num_ctx: 8192 } });
    expect(primary.loaded()).toContain('qwen3:8b');
    // A load, not a generation: no canary has run since (the next one is a minute away).
    expect(primary.generations).toBe(generations);

    const s = await waitForState(stateFile, (st) => (st.nodes.find((n) => n.name === 'primary')?.coldEvents ?? 0) > coldBefore, 5_000);
    expect(s.nodes.find((n) => n.name === 'primary')).toMatchObject({ coldEvents: coldBefore + 1, lastColdEvent: { model: 'qwen3:8b' } });
    await daemon.stop();
    daemon = undefined;
    const db = new Database(join(dir, 'sentinel.db'), { readonly: true });
    try {
      const rows = db.prepare("SELECT node, model, why, ok FROM cold_events WHERE model = 'qwen3:8b' ORDER BY id").all();
      expect(rows.at(-1)).toEqual({ node: 'primary', model: 'qwen3:8b', why: 'not_loaded', ok: 1 });
    } finally {
      db.close();
    }
  });
});
