import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { freePort, startSmtp, type SmtpFixture, emailAlertsYaml, mailTitle } from '../helpers/smtp';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(90_000);

const PASSWORD = 'smtp-Pa55-z9q!distinctive';


/** Email alerts through the real daemon, a real SMTP server with AUTH, and SIGKILL at the worst moment. */
describe('email alerts (real daemon, real SMTP)', () => {
  let nodes: TwoNodes;
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let daemon: DaemonProcess | undefined;
  let smtp: SmtpFixture | undefined;
  let smtpPort: number;
  let config: string;
  let stateFile: string;

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-alerts-');
    ({ dir, primary, fallback } = nodes);
    smtpPort = await freePort();
    stateFile = join(dir, 'state.json');
    config = writeFastConfig(
      dir,
      primary.url,
      fallback.url,
      emailAlertsYaml(smtpPort, PASSWORD),
    );
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await smtp?.close();
    smtp = undefined;
    await nodes.close();
  });

  const ready = (s: Parameters<typeof statusOf>[0]) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up';

  test('one outage → exactly one DOWN mail and, on recovery, one RECOVERED mail threaded under it', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, port: smtpPort });
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, ready, 15_000);
    await primary.setFault('cf_tunnel_down');
    await waitFor('the DOWN mail', () => (smtp?.mails.length ?? 0) >= 1, 15_000);
    const down = smtp.mails[0];
    expect(mailTitle(down)).toMatch(/^\[llm-sentinel\] primary DOWN — Cloudflare tunnel down \(530\/1033\); apps on fallback$/);
    await primary.setFault('none');
    await waitFor('the RECOVERED mail', () => (smtp?.mails.length ?? 0) >= 2, 20_000);
    const recovered = smtp.mails[1];
    expect(mailTitle(recovered)).toMatch(/primary RECOVERED after \S+ \(was: Cloudflare tunnel down/);
    expect(recovered?.inReplyTo).toBe(down?.messageId);
    // Nothing more: no duplicate of either.
    await new Promise((r) => setTimeout(r, 1500));
    expect(smtp.mails.map((m) => mailTitle(m).split(' ')[2])).toEqual(['DOWN', 'RECOVERED']);
    // The password is in no mail, no log line, and not in the database.
    await daemon.stop();
    expect(smtp.mails.some((m) => m.raw.includes(PASSWORD))).toBe(false);
    expect(daemon.output()).not.toContain(PASSWORD);
    for (const f of readdirSync(dir).filter((n) => n.startsWith('sentinel.db'))) expect(readFileSync(join(dir, f)).includes(PASSWORD)).toBe(false);
  });

  test('SMTP down for the whole outage and SIGKILL after the alert was queued → delivered once after restart, in order', async () => {
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, ready, 15_000);
    await primary.setFault('refuse');
    const dbFile = join(dir, 'sentinel.db');
    await waitFor('the DOWN alert row', () => {
      try {
        const db = new Database(dbFile, { readonly: true, fileMustExist: true });
        try {
          return (db.prepare("SELECT count(*) AS n FROM alerts WHERE kind = 'primaryDown'").get() as { n: number }).n === 1;
        } finally {
          db.close();
        }
      } catch {
        return false;
      }
    }, 15_000);
    // Written to the outbox, never sent (SMTP is down): the worst moment to die.
    await daemon.kill9();
    await primary.setFault('none');
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, port: smtpPort });
    daemon = spawnDaemon(['run', '--config', config]);
    await waitFor('both mails after the restart', () => (smtp?.mails.length ?? 0) >= 2, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(smtp.mails.map((m) => mailTitle(m).split(' ')[2])).toEqual(['DOWN', 'RECOVERED']);
  });
});
