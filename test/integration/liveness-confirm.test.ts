import type { Agent } from 'undici';
import { parseConfig, type NodeConfig } from '../../src/config';
import { createProbeAgent, type ProbeSettings } from '../../src/probes';
import { probeLivenessConfirmed } from '../../src/probes/liveness-confirm';
import { startSimulator, type Simulator } from '../../src/simulator';

jest.setTimeout(30_000);

const TIMEOUT_MS = 1_000;

/** The suspect probe against the simulator: retries only a silent node, within the one liveness deadline. */
describe('probeLivenessConfirmed (suspect probes)', () => {
  let sim: Simulator;
  let agent: Agent;
  let node: NodeConfig;
  let settings: ProbeSettings;

  beforeEach(async () => {
    sim = await startSimulator();
    const c = parseConfig({ nodes: [{ name: 'primary', url: sim.url, model: 'llama3.2' }, { name: 'fallback', url: 'http://127.0.0.1:9' }], probes: { liveness: { timeout: TIMEOUT_MS }, connectTimeout: 500 } }, {});
    node = c.nodes[0] as NodeConfig;
    settings = c.probes;
    agent = createProbeAgent(settings);
  });
  afterEach(async () => {
    await agent.close();
    await sim.close();
  });

  const probe = () => probeLivenessConfirmed(node, settings, { dispatcher: agent }, { attempts: 3, staggerMs: 200 });

  test('a healthy node: one attempt, one request', async () => {
    const r = await probe();
    expect(r).toMatchObject({ ok: true, attempts: 1 });
    expect(sim.requestsTo('/api/version')).toBe(1);
  });

  test('a hung node: three attempts, all silent, failed as timeout within the one deadline', async () => {
    await sim.setFault('hang');
    const t0 = performance.now();
    const r = await probe();
    expect(r).toMatchObject({ ok: false, reason: 'timeout', attempts: 3 });
    expect(r.detail).toMatch(/3 attempts, none answered/);
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS + 700);
    expect(sim.requestsTo('/api/version')).toBe(3);
  });

  test('one lost request (the first attempt unanswered): the retry passes', async () => {
    // Seed 1, rate 0.5: the draws are 0.63, 0.003, 0.53, …: the first attempt's /api/tags goes unanswered,
    // the second attempt (200 ms later, on its own connection) is answered.
    sim.setFlakyLiveness(0.5, 1);
    const r = await probe();
    expect(r).toMatchObject({ ok: true });
    expect(r.attempts).toBeGreaterThan(1);
  });

  test('a node that answers with an error is answering: no retry', async () => {
    await sim.setFault('server_error');
    const r = await probe();
    expect(r).toMatchObject({ ok: false, reason: 'server_error', attempts: 1 });
  });

  test('refused: retried at once, not after the stagger', async () => {
    await sim.setFault('refuse');
    const t0 = performance.now();
    const r = await probe();
    expect(r).toMatchObject({ ok: false, reason: 'refused', attempts: 3 });
    expect(performance.now() - t0).toBeLessThan(400);
  });
});
