import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { freePort, LOOPBACK_SMTP, mailTitle, parseMail, type ReceivedMail } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(120_000);

const PASSWORD = 'smtp-faults-pw';
type Mode = 'ok' | 'rejectAuth' | 'dropMidData';

/** An SMTP server whose behaviour the test switches: refusing the password, or cutting the line mid-DATA. */
async function faultySmtp(port: number) {
  const mails: ReceivedMail[] = [];
  let mode: Mode = 'ok';
  let drops = 0;
  const server = new SMTPServer({
    ...LOOPBACK_SMTP,
    onAuth(auth, _s, cb) {
      if (mode === 'rejectAuth' || auth.password !== PASSWORD) return cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let cut = false;
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        if (mode === 'dropMidData' && !cut) {
          cut = true;
          drops++;
          // The connection dies halfway through the message: no 250, so the client must try again.
          // smtp-server keeps its connections (with their sockets) in a set; cutting them is the point here.
          (server as unknown as { connections: Set<{ _socket: Socket }> }).connections.forEach((c2) => c2._socket.destroy());
        }
      });
      stream.on('end', () => {
        if (cut) return cb(new Error('connection lost'));
        mails.push(parseMail(Buffer.concat(chunks).toString('utf8'), session.envelope.mailFrom ? session.envelope.mailFrom.address : '', session.envelope.rcptTo.map((r) => r.address)));
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    mails,
    set mode(m: Mode) {
      mode = m;
    },
    get drops() {
      return drops;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Accepts connections and never says hello: the slowest SMTP server there is. */
async function silentServer(port: number): Promise<{ close(): Promise<void>; connections: number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}


/** SMTP misbehaving in every way while a node goes down and comes back: nothing lost, nothing duplicated. */
describe('SMTP faults (real daemon)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let port: number;
  let stateFile: string;
  let config: string;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-smtp-faults-');
    ({ dir, primary, fallback } = nodes);
    port = await freePort();
    stateFile = join(dir, 'state.json');
    config = writeFastConfig(
      dir,
      primary.url,
      fallback.url,
      `alerts:
  retry: { initial: 200ms, max: 1s }
  email: { host: 127.0.0.1, port: ${port}, secure: false, user: sentinel, password: "${PASSWORD}", from: "s <s@example.com>", to: [ops@example.com], timeout: 1s }
`,
    );
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await nodes.close();
  });

  const outage = async () => {
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 15_000);
    await primary.setFault('refuse');
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'down', 15_000);
    await primary.setFault('none');
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up', 15_000);
  };
  // '[llm-sentinel] primary DOWN — …': the title is the body's first line (the Subject names the outage's thread).
  const kinds = (mails: ReceivedMail[]) => mails.map((m) => mailTitle(m).split(' ')[2]);

  test('a server that never greets (slow): both mails arrive once it answers, in order, once each', async () => {
    const slow = await silentServer(port);
    daemon = spawnDaemon(['run', '--config', config]);
    try {
      await outage();
      await waitFor('delivery attempts against the silent server', () => slow.connections >= 2, 10_000);
    } finally {
      await slow.close();
    }
    const smtp = await faultySmtp(port);
    try {
      await waitFor('both mails', () => smtp.mails.length >= 2, 20_000);
      await new Promise((r) => setTimeout(r, 2000));
      expect(kinds(smtp.mails)).toEqual(['DOWN', 'RECOVERED']);
      expect(daemon.output()).toMatch(/greeting|timed out|timeout/i);
    } finally {
      await smtp.close();
    }
  });

  test('the line cut mid-DATA, then fixed: delivered once each, in order', async () => {
    const smtp = await faultySmtp(port);
    try {
      smtp.mode = 'dropMidData';
      daemon = spawnDaemon(['run', '--config', config]);
      await outage();
      await waitFor('deliveries cut mid-DATA', () => smtp.drops >= 2, 15_000);
      expect(smtp.mails).toHaveLength(0);
      smtp.mode = 'ok';
      await waitFor('both mails', () => smtp.mails.length >= 2, 20_000);
      await new Promise((r) => setTimeout(r, 2000));
      expect(kinds(smtp.mails)).toEqual(['DOWN', 'RECOVERED']);
      expect(new Set(smtp.mails.map((m) => m.messageId)).size).toBe(2);
    } finally {
      await smtp.close();
    }
  });

  test('auth rejected: logged loudly as permanent, not retried forever, the daemon keeps monitoring', async () => {
    const smtp = await faultySmtp(port);
    try {
      smtp.mode = 'rejectAuth';
      daemon = spawnDaemon(['run', '--config', config]);
      await outage();
      await waitFor('the 535 in the log', () => /535/.test(daemon?.output() ?? ''), 15_000);
      expect(daemon.output()).toMatch(/"level":50[^\n]*535|535[^\n]*"level":50/);
      expect(smtp.mails).toHaveLength(0);
      expect(daemon.output()).not.toContain(PASSWORD);
      const s = await waitForState(stateFile, () => true, 1000);
      expect(statusOf(s, 'primary')).toBe('up');
    } finally {
      await smtp.close();
    }
  });
});
