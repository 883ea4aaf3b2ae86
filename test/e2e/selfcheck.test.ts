import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { waitFor } from '../helpers/wait';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(60_000);

const listen = (s: Server | TcpServer, port = 0) => new Promise<number>((resolve) => s.listen(port, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
const close = (s: Server | TcpServer) => new Promise<void>((resolve) => s.close(() => resolve()));

/** Kinds of the alerts recorded so far (no channel is configured here: they are recorded, not sent). */
function alertKinds(dir: string): string[] {
  try {
    const db = new Database(join(dir, 'sentinel.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT kind FROM alerts ORDER BY id').all() as Array<{ kind: string }>).map((r) => r.kind);
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}


describe('the monitor checking itself (real daemon)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let stateFile: string;
  const servers: Array<Server | TcpServer> = [];

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-self-');
    ({ dir, primary, fallback } = nodes);
    stateFile = join(dir, 'state.json');
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
    await nodes.close();
  });

  const ready = (s: Parameters<typeof statusOf>[0]) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up';

  test("witnesses down too → monitorOffline, no node marked down; network back → judged again", async () => {
    const witness = createTcpServer((sock) => sock.destroy());
    servers.push(witness);
    const witnessPort = await listen(witness);
    const config = writeFastConfig(dir, primary.url, fallback.url, `selfCheck: { witnesses: ["tcp://127.0.0.1:${witnessPort}"], witnessTimeout: 300ms }\n`);
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, ready, 15_000);

    // The monitor's "network" goes: both nodes and the witness stop answering at once.
    await close(witness);
    await Promise.all([primary.setFault('refuse'), fallback.setFault('refuse')]);
    const offline = await waitForState(stateFile, (s) => s.monitorOffline === true, 10_000);
    expect(offline.nodes.map((n) => n.status)).toEqual(['up', 'up']);
    expect(offline.preferred.name).toBe('primary');
    await new Promise((r) => setTimeout(r, 2000));
    const still = await waitForState(stateFile, () => true, 1000);
    expect(still.nodes.map((n) => n.status)).toEqual(['up', 'up']);
    expect(daemon.output()).toMatch(/monitor's own network is down/);

    // The network returns (the witness answers) but the primary is really still down: now it is judged.
    await listen(witness, witnessPort);
    await fallback.setFault('none');
    const judged = await waitForState(stateFile, (s) => s.monitorOffline === false && statusOf(s, 'primary') === 'down', 15_000);
    expect(judged.preferred.name).toBe('fallback');
    expect(daemon.output()).toMatch(/network is back/);
    // One "monitor lost network" alert, after it came back; none while it was gone.
    await waitFor('the monitorNetwork alert row', () => alertKinds(dir).includes('monitorNetwork'), 5_000);
    expect(alertKinds(dir).filter((k) => k === 'monitorNetwork')).toHaveLength(1);
  });

  test('public path 530 while the direct path answers → cause "tunnel"; both failing → "ollama_or_host"', async () => {
    const direct = await startSimulator();
    try {
      writeFastConfig(dir, primary.url, fallback.url, '', { primary: `directUrl: "${direct.url}"` });
      daemon = spawnDaemon(['run', '--config', join(dir, 'config.yaml')]);
      await waitForState(stateFile, ready, 15_000);
      await primary.setFault('cf_tunnel_down');
      const tunnel = await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'down', 10_000);
      expect(tunnel.nodes[0]?.lastError).toMatchObject({ reason: 'cloudflare_tunnel_down', cause: 'tunnel' });
      expect(tunnel.nodes[0]?.lastError?.message).toMatch(/tunnel .* is at fault, not Ollama/);
      await direct.setFault('refuse');
      const both = await waitForState(stateFile, (s) => s.nodes[0]?.lastError?.cause === 'ollama_or_host', 10_000);
      expect(both.nodes[0]?.lastError?.message).toMatch(/Ollama or its host is down/);
      // A direct path that hangs (its probe takes the whole timeout) must not make the failures look like a
      // sleep: the primary recovers, breaks again, and is judged down again.
      await direct.setFault('hang');
      await primary.setFault('none');
      await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up', 10_000);
      await primary.setFault('cf_tunnel_down');
      const again = await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'down', 15_000);
      expect(again.nodes[0]?.lastError?.cause).toBe('ollama_or_host');
    } finally {
      await direct.close();
    }
  });

  test('exposure check: an anonymous answer is reported as open to the internet', async () => {
    // The primary has Access headers and asks for the exposure check; the simulator answers anyone.
    const config = writeFastConfig(dir, primary.url, fallback.url, '', {
      primary: 'headers: { CF-Access-Client-Secret: "super-secret-value" }, exposureCheck: true',
      probes: 'exposureInterval: 1s',
    });
    daemon = spawnDaemon(['run', '--config', config]);
    await waitFor('the exposure log line', () => /is open to the internet without authentication/.test(daemon?.output() ?? ''), 10_000);
    expect(daemon.output()).not.toContain('super-secret-value');
    await waitFor('the exposure alert row', () => alertKinds(dir).includes('exposed'), 5_000);
    // Checked every second, but alerted once: only when the verdict changes.
    await new Promise((r) => setTimeout(r, 2500));
    expect(alertKinds(dir).filter((k) => k === 'exposed')).toHaveLength(1);
  });

  test("dead-man's switch: pinged after probe cycles; /fail while the state file cannot be written", async () => {
    const hits: string[] = [];
    const hc = createServer((req, res) => {
      hits.push(req.url ?? '');
      req.resume();
      res.end('OK');
    });
    servers.push(hc);
    const port = await listen(hc);
    let config = writeFastConfig(dir, primary.url, fallback.url, `selfCheck: { pingUrl: "http://127.0.0.1:${port}/ping/abc-123" }\n`);
    daemon = spawnDaemon(['run', '--config', config]);
    await waitFor('two healthy pings', () => hits.filter((h) => h === '/ping/abc-123').length >= 2, 10_000);
    expect(hits.every((h) => h === '/ping/abc-123')).toBe(true);
    expect(daemon.output()).not.toContain('abc-123');
    await daemon.stop();

    // A state path under a regular file can never be written (ENOTDIR), even as root.
    writeFileSync(join(dir, 'blocker'), 'x');
    config = writeFastConfig(dir, primary.url, fallback.url, `selfCheck: { pingUrl: "http://127.0.0.1:${port}/ping/abc-123" }\n`, { stateFile: 'blocker/state.json' });
    hits.length = 0;
    daemon = spawnDaemon(['run', '--config', config]);
    await waitFor('a /fail ping', () => hits.includes('/ping/abc-123/fail'), 10_000);
    expect(daemon.output()).toMatch(/could not write the state file/);
  });
});
