import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSdNotify, watchdogInterval } from '../../src/daemon/sdnotify';
import { spawnDaemon } from '../../src/demo/harness';
import { startSimulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { captureLogger as captureLog } from '../helpers/log';
import { waitFor } from '../helpers/wait';

/**
 * Stands in for systemd's notify socket: an AF_UNIX datagram socket (what PID 1 listens on) that prints
 * each datagram as one JSON line. recv() without room for ancillary data makes the kernel close the fd
 * systemd-notify passes with BARRIER=1, which is how PID 1 answers the barrier too.
 */
const NOTIFY_SERVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

interface LogLine {
  level: number;
  msg: string;
  detail?: string;
}

function captureLogger() {
  const cap = captureLog('debug');
  return { logger: cap.logger, lines: cap.capture.parsed as unknown as LogLine[] };
}

/** The python3 notify-socket stand-in, with the datagrams received so far. */
async function startNotifyServer(socketPath: string): Promise<{ child: ChildProcessWithoutNullStreams; datagrams: string[]; waitFor(n: number): Promise<void> }> {
  const child = spawn('python3', ['-u', '-c', NOTIFY_SERVER, socketPath]);
  const datagrams: string[] = [];
  let buffered = '';
  let listening!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    listening = resolve;
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`notify server exited early (${code})`)));
  });
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === 'listening') listening();
      else datagrams.push(JSON.parse(line) as string);
      waiters.splice(0).forEach((w) => w());
    }
  });
  await started;
  const waitFor = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => (datagrams.filter((d) => d !== 'BARRIER=1').length >= n ? resolve() : waiters.push(check));
      check();
    });
  return { child, datagrams, waitFor };
}

function stop(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('sd_notify through systemd-notify', () => {
  let dir: string;
  beforeAll(() => {
    const probe = spawnSync('systemd-notify', ['--help']);
    if (probe.error) throw new Error(`systemd-notify not found (${probe.error.message}): these tests need it; apt-get install systemd`);
    const py = spawnSync('python3', ['--version']);
    if (py.error) throw new Error(`python3 not found (${py.error.message}): these tests use it as the notify socket`);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdn-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('READY=1, WATCHDOG=1, STATUS and STOPPING=1 arrive in order on the notify socket', async () => {
    const socketPath = join(dir, 'notify.sock');
    const server = await startNotifyServer(socketPath);
    try {
      const { logger, lines } = captureLogger();
      const n = createSdNotify({ ...process.env, NOTIFY_SOCKET: socketPath }, { logger });
      expect(n.enabled).toBe(true);
      n.ready('monitoring 2 nodes');
      n.watchdog();
      // A newline in the status must not become a second VAR=value line (a forged READY=1).
      n.status('primary down\nREADY=1');
      n.stopping();
      await n.flush();
      await server.waitFor(4);
      const messages = server.datagrams.filter((d) => d !== 'BARRIER=1');
      expect(messages).toEqual(['READY=1\nSTATUS=monitoring 2 nodes', 'WATCHDOG=1', 'STATUS=primary down READY=1', 'STOPPING=1']);
      // Without --no-block, systemd-notify waits for PID 1 to process each message: one barrier per message.
      expect(server.datagrams.filter((d) => d === 'BARRIER=1')).toHaveLength(4);
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await stop(server.child);
    }
  });

  test('a missing systemd-notify is logged once and nothing throws', async () => {
    const { logger, lines } = captureLogger();
    const n = createSdNotify({ NOTIFY_SOCKET: join(dir, 'notify.sock') }, { logger, command: join(dir, 'no-such-systemd-notify') });
    expect(() => {
      n.ready();
      n.watchdog();
      n.status('still here');
      n.stopping();
    }).not.toThrow();
    await n.flush();
    // One line in all: not a warning per call, and not a second one for the 'close' that follows the spawn 'error'.
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe(40);
    expect(lines[0]?.detail).toMatch(/not found/);
    // Still usable afterwards.
    n.watchdog();
    await n.flush();
    expect(lines.filter((l) => l.level >= 40)).toHaveLength(1);
  });

  test('systemd-notify failing (nobody listening) is logged once, then at debug level', async () => {
    const { logger, lines } = captureLogger();
    const n = createSdNotify({ ...process.env, NOTIFY_SOCKET: join(dir, 'nobody-listens.sock') }, { logger });
    n.ready();
    n.stopping();
    await n.flush();
    const warnings = lines.filter((l) => l.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.detail).toMatch(/exited with \d+/);
    expect(lines.filter((l) => l.level === 20)).toHaveLength(1);
  });

  test('without NOTIFY_SOCKET every call is a no-op that spawns nothing', async () => {
    const spawnImpl = jest.fn(() => {
      throw new Error('must not spawn');
    });
    const n = createSdNotify({ WATCHDOG_USEC: '60000000' }, { spawnImpl });
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeUndefined();
    n.ready('x');
    n.watchdog();
    n.status('y');
    n.stopping();
    await n.flush();
    expect(spawnImpl).not.toHaveBeenCalled();
  });

  test('watchdog pings that pile up while one is waiting are merged', async () => {
    const spawned: string[][] = [];
    // A real short-lived process stands in for systemd-notify, so the queue sees real exit events.
    const n = createSdNotify(
      { NOTIFY_SOCKET: join(dir, 'x.sock') },
      { spawnImpl: (_cmd, args, options) => (spawned.push(args), spawn(process.execPath, ['-e', ''], options)) },
    );
    n.ready();
    n.watchdog();
    n.watchdog();
    n.watchdog();
    await n.flush();
    expect(spawned).toEqual([['--ready'], ['WATCHDOG=1']]);
  });
});

describe('watchdogInterval', () => {
  test('is half of WATCHDOG_USEC, in milliseconds', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '60000000' }, 1234)).toBe(30_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '1234' }, 1234)).toBe(30_000);
  });
  test('is undefined when the watchdog is meant for another process, off, or garbled', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '99' }, 1234)).toBeUndefined();
    expect(watchdogInterval({}, 1234)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '0' }, 1234)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 1234)).toBeUndefined();
  });
});

describe('the real daemon under a stand-in systemd', () => {
  test('READY=1 once started, WATCHDOG=1 while probing is current, STOPPING=1 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-notify-daemon-'));
    const primary = await startSimulator();
    const fallback = await startSimulator();
    const server = await startNotifyServer(join(dir, 'notify.sock'));
    const config = writeFastConfig(dir, primary.url, fallback.url);
    // WATCHDOG_USEC=2 s: the daemon pings every 1 s. No WATCHDOG_PID, so the daemon takes it as its own.
    const daemon = spawnDaemon(['run', '--config', config], { NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '2000000' });
    try {
      const has = (prefix: string) => server.datagrams.some((d) => d.split('\n').some((l) => l.startsWith(prefix)));
      await waitFor('READY=1', () => has('READY=1'), 15_000);
      await waitFor('two WATCHDOG=1 pings', () => server.datagrams.filter((d) => d.includes('WATCHDOG=1')).length >= 2, 10_000);
      expect(await daemon.stop()).toBe(0);
      await waitFor('STOPPING=1', () => has('STOPPING=1'), 5_000);
    } finally {
      await daemon.kill9();
      await stop(server.child);
      await primary.close();
      await fallback.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

