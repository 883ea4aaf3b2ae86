import { outageThread, parseOutageKey } from '../../src/core/outage-id';
import { readFileSync, existsSync } from 'node:fs';
import { initialState } from '../../src/core/decide';
import { freePort, startSmtp, type SmtpFixture, mailTitle } from '../helpers/smtp';
import { emailConfig, PASSWORD, Rig, TUNNEL_DOWN } from './alert-harness';

jest.setTimeout(20_000);

const HOUR = 3_600_000;
let smtp: SmtpFixture | undefined;
let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  await smtp?.close();
  rig = undefined;
  smtp = undefined;
});

/** What each mail says (its title: the body's first line); outage mails share one Subject per thread. */
function subjects(s: SmtpFixture): string[] {
  return s.mails.map(mailTitle);
}

describe('email alerts through a real SMTP server', () => {
  test('one outage: exactly one DOWN mail and one RECOVERED mail with the duration, threaded', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port) } });
    rig.alerting.start();
    rig.up('primary');
    rig.up('fallback');
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(0);

    rig.probe('primary', TUNNEL_DOWN); // first failure: not confirmed yet
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(0);
    rig.clock.advance(2000);
    rig.down('primary', TUNNEL_DOWN);
    rig.down('primary', TUNNEL_DOWN); // still down: no second mail
    await rig.alerting.flush();
    expect(subjects(smtp)).toEqual(['[llm-sentinel] primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback']);
    const down = smtp.mails[0]!;
    // Outage mails are named by the outage's thread (node, chain, number), the same on every monitor; the full key,
    // with this monitor's confirmed-down time, is in a header for filters (docs/alerts.md).
    expect(down.messageId).toMatch(/^<outage\.primary\.[0-9a-z]+\.1@llm-sentinel>$/);
    const key = down.headers.get('x-llm-sentinel-outage') ?? '';
    expect(`<outage.${outageThread('primary', key)}@llm-sentinel>`).toBe(down.messageId);
    expect(parseOutageKey('primary', key).since).toBeGreaterThan(rig.clock.now() - 60_000);
    expect(down.headers.get('x-llm-sentinel-instance')).toBe('oracle-1');
    expect(down.to).toEqual(['ops@example.test']);
    expect(down.text).toContain('530 from Cloudflare (error 1033: tunnel not connected)');
    expect(down.text).toContain('llm-sentinel instance oracle-1');
    expect(down.text.startsWith('CRITICAL: primary DOWN')).toBe(true);

    rig.clock.advance(47 * 60_000);
    rig.tick();
    rig.up('primary');
    rig.up('primary');
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(2);
    const rec = smtp.mails[1]!;
    expect(mailTitle(rec)).toMatch(/^\[llm-sentinel\] primary RECOVERED after 47m\d\ds \(was: Cloudflare tunnel down \(530\/1033\)\); apps on fallback$/);
    expect(rec.inReplyTo).toBe(down.messageId);
    expect(rec.headers.get('references')).toBe(down.messageId);

    const rows = rig.outbox().recentAlerts(10);
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      ['recovered', 'sent'],
      ['primaryDown', 'sent'],
    ]);
    expect(rig.outbox().attempts(rows[1]!.id)).toEqual([expect.objectContaining({ outcome: 'sent', response: expect.stringMatching(/^250 /) })]);
  });

  test('a reminder after the interval while the node stays down, none before', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port), reminderInterval: '6h' } });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    rig.clock.advance(5 * HOUR);
    rig.tick();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(1);
    rig.clock.advance(HOUR + 1000);
    rig.tick();
    rig.tick();
    await rig.alerting.flush();
    expect(subjects(smtp)[1]).toMatch(/^\[llm-sentinel\] primary still DOWN after 6h00m — connection refused; apps on fallback$/);
    expect(smtp.mails[1]!.inReplyTo).toBe(smtp.mails[0]!.messageId);
    expect(smtp.mails).toHaveLength(2);
  });

  test('flapping yields one flapping mail instead of a storm, then one summary when it settles', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port), flapping: { transitions: 3, window: '30m', settle: '10m' } } });
    rig.alerting.start();
    rig.up('fallback');
    rig.up('primary');
    for (let i = 0; i < 5; i++) {
      rig.down('primary');
      rig.up('primary');
    }
    await rig.alerting.flush();
    const kinds = rig.outbox().recentAlerts(50).reverse().map((a) => `${a.kind}:${a.status}`);
    // down, recovered, down sent; the 4th change starts flapping; the rest are held.
    expect(kinds.slice(0, 4)).toEqual(['primaryDown:sent', 'recovered:sent', 'primaryDown:sent', 'recovered:suppressed']);
    expect(kinds.filter((k) => k.startsWith('flapping:'))).toEqual(['flapping:sent']);
    expect(subjects(smtp).filter((s) => s.includes('FLAPPING'))).toHaveLength(1);
    expect(smtp.mails).toHaveLength(4);

    rig.clock.advance(10 * 60_000);
    rig.tick();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(5);
    expect(mailTitle(smtp.mails[4])).toMatch(/primary stable again, UP \(\d+ changes while flapping\)$/);
  });

  test('a maintenance window holds the down mail and releases exactly one at its end if still down', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port) } });
    rig.alerting.start();
    const store = rig.storage.maintenance;
    store.insertWindow({ node: 'primary', startsAt: rig.clock.now(), endsAt: rig.clock.now() + 45 * 60_000, reason: 'macOS update', createdAt: rig.clock.now() });
    rig.up('fallback');
    rig.tick();
    rig.down('primary');
    rig.clock.advance(20 * 60_000);
    rig.tick();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(0);
    expect(rig.outbox().recentAlerts(5)[0]).toMatchObject({ kind: 'primaryDown', status: 'suppressed', suppressed: 'maintenance' });

    rig.clock.advance(26 * 60_000);
    rig.tick();
    rig.tick();
    await rig.alerting.flush();
    expect(subjects(smtp)).toEqual(['[llm-sentinel] primary still DOWN after maintenance — connection refused; apps on fallback']);
    expect(smtp.mails[0]!.text).toContain('held during maintenance (macOS update)');

    rig.up('primary');
    await rig.alerting.flush();
    expect(mailTitle(smtp.mails[1])).toMatch(/primary RECOVERED/);
    expect(smtp.mails[1]!.inReplyTo).toBe(smtp.mails[0]!.messageId);
  });

  test('SMTP down for the whole outage: both mails arrive once it is back, in order, once each', async () => {
    const port = await freePort();
    rig = new Rig({ alerts: { email: emailConfig(port) } });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary', TUNNEL_DOWN);
    await rig.alerting.flush();
    rig.clock.advance(20 * 60_000);
    rig.up('primary');
    await rig.alerting.flush();
    const pending = rig.outbox().recentAlerts(5);
    expect(pending.map((a) => a.status)).toEqual(['pending', 'pending']);
    expect(pending[1]!.deliveries[0]).toMatchObject({ status: 'pending', attempts: expect.any(Number) });
    expect(pending[1]!.deliveries[0]!.attempts).toBeGreaterThanOrEqual(1);
    expect(pending[1]!.deliveries[0]!.lastError).toMatch(/SMTP 127\.0\.0\.1:\d+: connection failed ECONNREFUSED/);
    // The recovery waits behind the outage mail (same node, same channel): never tried out of order.
    expect(pending[0]!.deliveries[0]!.attempts).toBe(0);

    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, port });
    rig.clock.advance(2 * HOUR);
    await rig.alerting.flush();
    expect(subjects(smtp).map((s) => s.replace(/^\[llm-sentinel\] /, '').split(' — ')[0]!.split(' (')[0])).toEqual(['primary DOWN', 'primary RECOVERED after 20m04s']);
    rig.clock.advance(2 * HOUR);
    rig.tick();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(2);
    const attempts = rig.outbox().attempts(pending[1]!.id);
    expect(attempts.at(-1)).toMatchObject({ outcome: 'sent' });
    expect(attempts.slice(0, -1).every((a) => a.outcome === 'transient')).toBe(true);
  });

  test('a crash after the alert was written and before it was sent: delivered exactly once after the restart', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port) } });
    // Not started: the row is in the outbox, nothing has been sent when the process "dies".
    rig.up('fallback');
    rig.down('primary');
    expect(rig.outbox().recentAlerts(5).map((a) => a.status)).toEqual(['pending']);
    rig.crashAndRestart();
    rig.alerting.start();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(1);

    // Another restart, this time without the state file: the monitor starts from `unknown` and sees the primary
    // go down again. Nothing delivered is sent again, and the open outage is remembered: no second down mail.
    await rig.alerting.stop();
    rig.crashAndRestart();
    rig.state = initialState(rig.config.nodes, rig.instant());
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    expect(rig.events.filter((e) => e.type === 'node:transition' && e.node === 'primary').map((e) => e.type === 'node:transition' && `${e.from}->${e.to}`)).toEqual(['unknown->down', 'unknown->down']);
    rig.tick();
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(1);
    rig.up('primary');
    await rig.alerting.flush();
    expect(subjects(smtp)[1]).toMatch(/primary RECOVERED/);
  });

  test('authentication refused: reported clearly, marked permanent, not retried, nothing crashes', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: 'the-right-one' });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port) } });
    rig.alerting.start();
    const failed = new Promise((resolve) => rig!.alerting.events.once('alert:failed', resolve));
    rig.up('fallback');
    rig.down('primary');
    await rig.alerting.flush();
    await expect(failed).resolves.toMatchObject({ outcome: 'permanent', final: true, error: expect.stringContaining('SMTP authentication rejected') });
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert).toMatchObject({ status: 'failed' });
    expect(alert!.deliveries[0]).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/authentication rejected \(535 Authentication credentials invalid\): check alerts\.email\.user/) });
    const loud = rig.logs.entries().find((e) => e.level === 50 && String(e.msg).startsWith('ALERT NOT DELIVERED'));
    expect(loud).toBeDefined();
    rig.clock.advance(10 * HOUR);
    await rig.alerting.flush();
    expect(rig.outbox().attempts(alert!.id)).toHaveLength(1);
    expect(smtp.mails).toHaveLength(0);
  });

  test('a rejected recipient is permanent and says which address', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, rejectRecipients: ['nobody@example.test'] });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port, { to: ['nobody@example.test'] }) } });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    await rig.alerting.flush();
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert!.deliveries[0]).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/recipient rejected \(nobody@example\.test\) \(550 .*no such user.*\): check alerts\.email\.to/) });
  });

  test('the SMTP password never appears in logs, the database or a mail', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { email: emailConfig(smtp.port, { password: undefined }) } }, { env: { SMTP_PASSWORD: PASSWORD } });
    expect(rig.config.alerts.email?.password?.reveal()).toBe(PASSWORD);
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    rig.up('primary');
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(2);
    expect(smtp.logins.every((l) => l.ok)).toBe(true);
    // And a failing login, whose error text passes through our code into logs and the attempts table.
    const wrong = await startSmtp({ user: 'sentinel', password: 'something-else' });
    try {
      const bad = new Rig({ alerts: { email: emailConfig(wrong.port) } }, { dir: `${rig.dir}/bad` });
      bad.alerting.start();
      bad.up('fallback');
      bad.down('primary');
      await bad.alerting.flush();
      expect(bad.outbox().recentAlerts(1)[0]!.status).toBe('failed');
      const badLogs = bad.logs.text;
      await bad.close();
      expect(badLogs).not.toContain(PASSWORD);
    } finally {
      await wrong.close();
    }
    const b64 = Buffer.from(PASSWORD).toString('base64');
    const plain = Buffer.from(`\u0000sentinel\u0000${PASSWORD}`).toString('base64');
    for (const m of smtp.mails) for (const form of [PASSWORD, b64, plain]) expect(m.raw).not.toContain(form);
    for (const form of [PASSWORD, b64]) expect(rig.logs.text).not.toContain(form);
    rig.storage.db.pragma('wal_checkpoint(TRUNCATE)');
    for (const file of [rig.config.database, `${rig.config.database}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      expect(bytes.includes(Buffer.from(PASSWORD))).toBe(false);
      expect(bytes.includes(Buffer.from(b64))).toBe(false);
    }
  });

  test('alerts.enabled false: alerts are recorded as suppressed and nothing is sent', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    rig = new Rig({ alerts: { enabled: false, email: emailConfig(smtp.port) } });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    rig.up('primary');
    await rig.alerting.flush();
    expect(smtp.mails).toHaveLength(0);
    expect(rig.outbox().recentAlerts(5).map((a) => [a.kind, a.status, a.suppressed])).toEqual([['primaryDown', 'suppressed', 'alerts_disabled']]);
  });
});
