import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(60_000);

describe('llm-sentinel run (the real CLI against simulated nodes)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let config: string;
  let stateFile: string;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-e2e-');
    ({ dir, primary, fallback } = nodes);
    config = writeFastConfig(dir, primary.url, fallback.url);
    stateFile = join(dir, 'state.json');
  });

  afterEach(async () => {
    if (daemon) await daemon.kill9();
    daemon = undefined;
    await nodes.close();
  });

  const bothUp = (s: Parameters<typeof statusOf>[0]) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up' && s.preferred.name === 'primary';

  test('primary refused → flips to the fallback; recovery fails back only after rise + hold', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    await primary.setFault('refuse');
    const flipped = await waitForState(stateFile, (s) => s.preferred.name === 'fallback', 20_000);
    expect(statusOf(flipped, 'primary')).toBe('down');
    expect(flipped.nodes[0]?.lastError?.reason).toBe('refused');
    expect(flipped.allDown).toBe(false);

    await primary.setFault('none');
    const upAgain = await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up', 20_000);
    // The hold (2s) has not passed yet: traffic stays on the fallback.
    expect(upAgain.preferred.name).toBe('fallback');
    const back = await waitForState(stateFile, (s) => s.preferred.name === 'primary', 20_000);
    expect(Date.parse(back.updatedAt) - Date.parse(upAgain.nodes[0]!.since)).toBeGreaterThanOrEqual(2000);

    expect(await daemon.stop()).toBe(0);
    const db = new Database(join(dir, 'sentinel.db'), { readonly: true });
    try {
      const transitions = db.prepare('SELECT node, from_status, to_status, reason FROM transitions ORDER BY id').all() as Array<Record<string, string>>;
      expect(transitions.filter((t) => t.node === 'primary').map((t) => `${t.from_status}->${t.to_status}`)).toEqual(['unknown->up', 'up->down', 'down->up']);
      const preferred = db.prepare('SELECT to_node FROM preferred_changes ORDER BY id').all() as Array<{ to_node: string }>;
      expect(preferred.map((p) => p.to_node).slice(-2)).toEqual(['fallback', 'primary']);
      // At least `fall` failed probes; a pooled keep-alive socket may fail as `reset` rather than `refused`.
      const probes = db.prepare("SELECT count(*) AS n FROM probes WHERE node = 'primary' AND ok = 0 AND reason IN ('refused', 'reset')").get() as { n: number };
      expect(probes.n).toBeGreaterThanOrEqual(3);
      const run = db.prepare('SELECT clean_exit, end_reason FROM runs ORDER BY id DESC LIMIT 1').get() as { clean_exit: number; end_reason: string };
      expect(run).toEqual({ clean_exit: 1, end_reason: 'SIGTERM' });
    } finally {
      db.close();
    }
  });

  test('primary hangs (accepts, never answers) → flips within its deadlines', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    await primary.setFault('hang');
    const flipped = await waitForState(stateFile, (s) => s.preferred.name === 'fallback', 20_000);
    expect(statusOf(flipped, 'primary')).toBe('down');
    expect(flipped.nodes[0]?.lastError?.reason).toMatch(/timeout/);
  });

  test('kill -9 and restart → resumes with the same view (primary stays down, fallback preferred)', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    await primary.setFault('cf_tunnel_down');
    await waitForState(stateFile, (s) => s.preferred.name === 'fallback', 20_000);
    await daemon.kill9();

    const before = JSON.parse(readFileSync(stateFile, 'utf8')) as { monitor: { pid: number } };
    daemon = spawnDaemon(['run', '--config', config]);
    // The first document the new process writes already has the old view.
    const first = await waitForState(stateFile, (s) => s.monitor.pid !== before.monitor.pid, 10_000, 5);
    expect(first.preferred.name).toBe('fallback');
    expect(statusOf(first, 'primary')).toBe('down');
    expect(first.nodes[0]?.lastError?.reason).toBe('cloudflare_tunnel_down');
    await daemon.stop();
    const db = new Database(join(dir, 'sentinel.db'), { readonly: true });
    try {
      const runs = db.prepare('SELECT clean_exit, end_reason FROM runs ORDER BY id').all();
      expect(runs).toEqual([
        { clean_exit: 0, end_reason: 'unclean' },
        { clean_exit: 1, end_reason: 'SIGTERM' },
      ]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  test('SIGTERM exits 0 promptly, even with probes hanging, and leaves a final state file (0644)', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    await primary.setFault('hang');
    await fallback.setFault('hang');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(statSync(stateFile).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'sentinel.db')).mode & 0o777).toBe(0o600);
  });

  test('SIGHUP with an invalid config keeps the running one; a valid one is applied', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    const good = readFileSync(config, 'utf8');
    writeFileSync(config, `${good}\nbogus: true\n`);
    daemon.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    expect(daemon.output()).toMatch(/new configuration is invalid; keeping the running one/);
    expect(daemon.output()).toMatch(/bogus: unknown key/);
    writeFileSync(config, good.replace('instance: e2e', 'instance: e2e-reloaded'));
    daemon.child.kill('SIGHUP');
    const s = await waitForState(stateFile, (st) => st.monitor.instance === 'e2e-reloaded', 5_000);
    expect(s.preferred.name).toBe('primary');
    expect(statusOf(s, 'primary')).toBe('up');
  });

  test('two SIGHUPs and a SIGTERM in quick succession: one set of loops, a clean exit', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, bothUp, 15_000);
    daemon.child.kill('SIGHUP');
    daemon.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 30));
    const t0 = performance.now();
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    const before = primary.requestCount;
    await new Promise((r) => setTimeout(r, 700));
    // Nothing keeps probing after the exit (a reload finishing after stop would have restarted loops).
    expect(primary.requestCount).toBe(before);
  });

  test('bad config → exit 78, one line per problem, nothing started', async () => {
    writeFileSync(config, 'nodes:\n  - { name: a, url: "nope" }\ndecision: { fall: 0 }\n');
    daemon = spawnDaemon(['run', '--config', config]);
    expect(await daemon.exited).toBe(78);
    expect(daemon.output()).toMatch(/nodes\[0\]\.url: must be an http/);
    expect(daemon.output()).toMatch(/decision\.fall: /);
    expect(daemon.output()).not.toMatch(/at .*\.js:\d+/);
    expect(existsSync(stateFile)).toBe(false);
    expect(existsSync(join(dir, 'sentinel.db'))).toBe(false);
  });
});
