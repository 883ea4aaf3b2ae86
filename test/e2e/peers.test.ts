import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { freePort, startSmtp, type ReceivedMail, type SmtpFixture, emailAlertsYaml, mailTitle } from '../helpers/smtp';
import { alertRows, writeFastConfig } from '../helpers/daemon-config';
import { waitFor } from '../helpers/wait';

const until = (check: () => boolean, timeoutMs: number, what: string) => waitFor(what, check, timeoutMs);

jest.setTimeout(120_000);

/*
 * Two monitors, one voice (docs/alerts.md): two real daemon processes (each its own database, state file and
 * HTTP port, peers pointing at each other), two simulators, one SMTP server. `mac` ranks first and speaks
 * while it lives; `oracle` holds, takes over when mac is silent, and mails what mac never mailed.
 * Peer settings are compressed (poll every 1s, silent after 5s) so this runs in seconds.
 */

const PASSWORD = 'smtp-peers-pass';
const TOKENS = { mac: 'tok-mac-7f3a', oracle: 'tok-oracle-9b1c' } as const;
type Name = keyof typeof TOKENS;

interface Monitor {
  name: Name;
  dir: string;
  config: string;
  stateFile: string;
  db: string;
  port: number;
  proc?: DaemonProcess;
}

function writeConfig(m: Monitor, other: Monitor, primary: string, fallback: string, smtpPort: number, peerExtra = ''): void {
  writeFastConfig(
    m.dir,
    primary,
    fallback,
    `http: { listen: "127.0.0.1:${m.port}", token: "${TOKENS[m.name]}" }
peers:
  interval: 1s
  silentAfter: 5s
  timeout: 1s
  rank: [mac, oracle]
  monitors:
    - { name: ${other.name}, url: "http://127.0.0.1:${other.port}", token: "${TOKENS[other.name]}"${peerExtra} }
${emailAlertsYaml(smtpPort, PASSWORD)}`,
    { instance: m.name },
  );
}

const word = (m: ReceivedMail) => {
  const s = mailTitle(m);
  if (/ RECOVERED /.test(s)) return 'RECOVERED';
  if (/ DOWN /.test(s)) return 'DOWN';
  if (/ is SILENT /.test(s)) return 'SILENT';
  if (/ is back after /.test(s)) return 'BACK';
  if (/ host looks down: /.test(s)) return 'HOST DOWN';
  return s;
};
const count = (mails: ReceivedMail[], w: string) => mails.filter((m) => word(m) === w).length;

describe('two monitors, one voice (two real daemons)', () => {
  let root: string;
  let primary: Simulator;
  let fallback: Simulator;
  let smtp: SmtpFixture;
  let mac: Monitor;
  let oracle: Monitor;

  const start = (m: Monitor) => {
    m.proc = spawnDaemon(['run', '--config', m.config]);
  };
  const ready = (m: Monitor) =>
    waitForState(m.stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 20_000);
  /** Both answer each other (GET /peer with the right token). */
  const peered = async () => {
    for (const [m, o] of [[mac, oracle], [oracle, mac]] as const) {
      await until(() => m.proc?.output().includes(`peer ${o.name} answers`) ?? false, 15_000, `${m.name} hearing from ${o.name}`);
    }
  };
  /** Both monitors started, each up and hearing from the other. */
  const startPeered = async () => {
    start(mac);
    start(oracle);
    await Promise.all([ready(mac), ready(oracle)]);
    await peered();
  };

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'sentinel-peers-'));
    primary = await startSimulator();
    fallback = await startSimulator();
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    const mk = async (name: Name): Promise<Monitor> => {
      const dir = join(root, name);
      mkdirSync(dir);
      return { name, dir, config: join(dir, 'config.yaml'), stateFile: join(dir, 'state.json'), db: join(dir, 'sentinel.db'), port: await freePort() };
    };
    mac = await mk('mac');
    oracle = await mk('oracle');
    writeConfig(mac, oracle, primary.url, fallback.url, smtp.port);
    writeConfig(oracle, mac, primary.url, fallback.url, smtp.port);
  });

  afterEach(async () => {
    await Promise.all([mac.proc?.kill9(), oracle.proc?.kill9()]);
    await smtp.close();
    await primary.close();
    await fallback.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a primary outage and its recovery: one DOWN and one RECOVERED mail in total, threaded; the other monitor holds both', async () => {
    await startPeered();
    // Each state file names the other monitor and its verdict per node (docs/state-file.md "peers").
    const withPeer = await waitForState(oracle.stateFile, (s) => s.peers?.[0]?.nodes.filter((n) => n.status === 'up').length === 2, 10_000);
    expect(withPeer.peers?.[0]).toMatchObject({ name: 'mac', silent: false, nodes: [{ name: 'primary', status: 'up' }, { name: 'fallback', status: 'up' }] });

    await primary.setFault('cf_tunnel_down');
    await until(() => count(smtp.mails, 'DOWN') >= 1, 20_000, 'the DOWN mail');
    // oracle saw it too, and holds it (sent by mac).
    await until(() => alertRows(oracle.db).some((a) => a.kind === 'primaryDown' && a.suppressed === 'peer'), 15_000, "oracle's held DOWN");
    await primary.setFault('none');
    await until(() => count(smtp.mails, 'RECOVERED') >= 1, 25_000, 'the RECOVERED mail');
    await until(() => alertRows(oracle.db).some((a) => a.kind === 'recovered'), 15_000, "oracle's recovery row");
    await new Promise((r) => setTimeout(r, 2000));

    expect(smtp.mails.map(word)).toEqual(['DOWN', 'RECOVERED']);
    const [down, recovered] = smtp.mails as [ReceivedMail, ReceivedMail];
    expect(mailTitle(down)).toMatch(/^\[llm-sentinel\] primary DOWN/);
    expect(recovered.inReplyTo).toBe(down.messageId);
    // Identity of the outage, not of a database row: either monitor would derive this Message-ID.
    expect(down.messageId).toMatch(/^<outage\.primary\.[0-9a-z]+\.[0-9]+@llm-sentinel>$/);
    const held = alertRows(oracle.db).filter((a) => a.node === 'primary');
    expect(held.length).toBeGreaterThanOrEqual(1);
    for (const a of held) {
      expect(a.suppressed).toBe('peer');
      expect(JSON.parse(a.facts).heldBy).toBe('mac');
    }
    // Nothing of oracle's reached the SMTP server.
    expect(smtp.mails.every((m) => m.headers.get('x-llm-sentinel-instance') === 'mac')).toBe(true);
    // Peer tokens are secrets: in no log, state file, database or mail.
    await Promise.all([mac.proc?.stop(), oracle.proc?.stop()]);
    for (const m of [mac, oracle]) {
      const files = readdirSync(m.dir).filter((f) => f.startsWith('sentinel.db') || f === 'state.json');
      for (const token of Object.values(TOKENS)) {
        expect(m.proc?.output()).not.toContain(token);
        for (const f of files) expect(readFileSync(join(m.dir, f)).includes(token)).toBe(false);
        expect(smtp.mails.some((x) => x.raw.includes(token))).toBe(false);
      }
    }
  });

  test('the sender SIGKILLed as the outage starts: the survivor mails it once and says mac is silent; mac restarted sends nothing about it; one recovery', async () => {
    await startPeered();

    await mac.proc?.kill9();
    await primary.setFault('refuse');
    await until(() => count(smtp.mails, 'DOWN') >= 1 && count(smtp.mails, 'SILENT') >= 1, 25_000, "oracle's DOWN and SILENT mails");
    const down = smtp.mails.find((m) => word(m) === 'DOWN') as ReceivedMail;
    expect(mailTitle(down)).toMatch(/^\[llm-sentinel\] primary DOWN — connection refused/);
    expect(mailTitle(smtp.mails.find((m) => word(m) === 'SILENT'))).toMatch(/^\[llm-sentinel\] monitor mac is SILENT/);

    // mac comes back while the outage goes on: it learns from oracle that the outage was mailed.
    start(mac);
    await waitForState(mac.stateFile, (s) => statusOf(s, 'primary') === 'down', 20_000);
    await until(() => count(smtp.mails, 'BACK') >= 1, 15_000, "oracle's 'mac is back' mail");
    await until(() => alertRows(mac.db).some((a) => a.node === 'primary' && a.kind === 'primaryDown'), 15_000, "mac's own (held) DOWN row");
    await new Promise((r) => setTimeout(r, 2500));
    expect(count(smtp.mails, 'DOWN')).toBe(1);
    const macDown = alertRows(mac.db).filter((a) => a.kind === 'primaryDown');
    expect(macDown.every((a) => a.suppressed === 'peer' && a.status === 'suppressed')).toBe(true);
    expect(JSON.parse(macDown[0]?.facts ?? '{}').heldBy).toBe('oracle');

    await primary.setFault('none');
    await until(() => count(smtp.mails, 'RECOVERED') >= 1, 25_000, 'the RECOVERED mail');
    await new Promise((r) => setTimeout(r, 2500));
    expect([...smtp.mails.map(word)].sort()).toEqual(['BACK', 'DOWN', 'RECOVERED', 'SILENT']);
    const recovered = smtp.mails.find((m) => word(m) === 'RECOVERED') as ReceivedMail;
    expect(recovered.inReplyTo).toBe(down.messageId);
  });

  test('the sender\'s host goes down (monitor and primary together): ONE "host looks down" mail, then one recovery under it', async () => {
    // oracle knows mac runs next to the primary (loopback URLs name no machine, so it is said in the config).
    writeConfig(oracle, mac, primary.url, fallback.url, smtp.port, ', sharesHostWith: primary');
    await startPeered();

    await mac.proc?.kill9();
    await primary.setFault('refuse');
    await until(() => smtp.mails.length >= 1, 25_000, 'the host-down mail');
    await new Promise((r) => setTimeout(r, 3000));
    expect(smtp.mails.map(word)).toEqual(['HOST DOWN']);
    const host = smtp.mails[0] as ReceivedMail;
    expect(mailTitle(host)).toMatch(/^\[llm-sentinel\] mac host looks down: its monitor is silent and primary connection refused; apps on fallback$/);
    expect(host.messageId).toMatch(/^<outage\.primary\.[0-9a-z]+\.[0-9]+@llm-sentinel>$/);

    await primary.setFault('none');
    await until(() => count(smtp.mails, 'RECOVERED') >= 1, 25_000, 'the RECOVERED mail');
    expect(smtp.mails.map(word)).toEqual(['HOST DOWN', 'RECOVERED']);
    expect(smtp.mails[1]?.inReplyTo).toBe(host.messageId);
  });

  test('a queued DOWN the sender never delivered (its SMTP was down) is mailed by the survivor, and held, not sent, when the sender restarts', async () => {
    // mac's SMTP points at a dead port: its DOWN stays queued in its outbox.
    writeConfig(mac, oracle, primary.url, fallback.url, await freePort());
    await startPeered();

    await primary.setFault('refuse');
    await until(() => alertRows(mac.db).some((a) => a.kind === 'primaryDown' && a.status === 'pending'), 20_000, "mac's queued DOWN");
    await mac.proc?.kill9();
    await until(() => count(smtp.mails, 'DOWN') >= 1 && count(smtp.mails, 'SILENT') >= 1, 25_000, "oracle's takeover mails");

    // mac comes back with a working SMTP server and its old DOWN still queued: oracle says it mailed that outage.
    writeConfig(mac, oracle, primary.url, fallback.url, smtp.port);
    start(mac);
    await until(() => alertRows(mac.db).some((a) => a.kind === 'primaryDown' && a.status === 'suppressed'), 20_000, "mac's DOWN marked held");
    await until(() => count(smtp.mails, 'BACK') >= 1, 15_000, "oracle's 'mac is back' mail");
    await new Promise((r) => setTimeout(r, 2500));
    expect(count(smtp.mails, 'DOWN')).toBe(1);
    expect(mailTitle(smtp.mails.find((m) => word(m) === 'DOWN'))).toMatch(/^\[llm-sentinel\] primary DOWN/);
    expect(JSON.parse(alertRows(mac.db).find((a) => a.kind === 'primaryDown')?.facts ?? '{}').heldBy).toBe('oracle');
    expect(mac.proc?.output()).toContain('alert held, not sent: already sent by peer oracle');

    await primary.setFault('none');
    await until(() => count(smtp.mails, 'RECOVERED') >= 1, 25_000, 'the RECOVERED mail');
    await new Promise((r) => setTimeout(r, 2500));
    expect([...smtp.mails.map(word)].sort()).toEqual(['BACK', 'DOWN', 'RECOVERED', 'SILENT']);
  });
});
