import { ChannelError, redactor, toChannelError } from '../../src/alerts/channel';
import { compileCron } from '../../src/alerts/cron';
import { classifySmtpError } from '../../src/alerts/email';
import { backoff, pickDue, pickStartable } from '../../src/alerts/sender';
import { activeMaintenance, recurringStart } from '../../src/core/maintenance';
import type { PendingDelivery } from '../../src/storage/outbox';

const CFG = { host: 'smtp.example.com', port: 587, from: 'sentinel@example.com', to: ['ops@example.com'] };

describe('SMTP failures: permanent or worth retrying', () => {
  test.each([
    ['535 auth: permanent', { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Authentication credentials invalid', command: 'AUTH PLAIN' }, true, /SMTP authentication rejected \(535 5\.7\.8 .*\): check alerts\.email\.user and alerts\.email\.password/],
    ['454 auth: retried', { code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' }, false, /authentication rejected/],
    ['550 recipient: permanent', { code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 <x@y>: no such user', command: 'RCPT TO', rejected: ['x@y'] }, true, /recipient rejected \(x@y\) \(550 5\.1\.1 .*\): check alerts\.email\.to/],
    ['553 sender: permanent', { code: 'EENVELOPE', responseCode: 553, response: '553 5.7.1 sender not owned', command: 'MAIL FROM' }, true, /sender "sentinel@example.com" rejected .*check alerts\.email\.from/],
    ['450 recipient: retried', { code: 'EENVELOPE', responseCode: 450, response: '450 4.2.1 mailbox busy', command: 'RCPT TO' }, false, /recipient rejected/],
    ['554 message: permanent', { code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 rejected as spam' }, true, /refused the message \(554/],
    ['421 message: retried', { code: 'EMESSAGE', responseCode: 421, response: '421 try again later' }, false, /refused the message/],
    ['connection refused: retried', { code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:587' }, false, /SMTP smtp\.example\.com:587: connection failed ECONNREFUSED/],
    ['timeout: retried', { code: 'ETIMEDOUT', timeoutType: 'SOCKET_TIMEOUT', message: 'Timeout' }, false, /smtp\.example\.com:587: timed out/],
    ['no greeting: retried, hints at secure', { code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT', message: 'Greeting never received' }, false, /greeting \(a TLS port such as 465 needs alerts\.email\.secure: true\)/],
    ['TLS failure: retried', { code: 'ETLS', message: 'wrong version number' }, false, /TLS failed/],
    ['TLS against a plain port: retried, hints at secure', { code: 'ESOCKET', originalCode: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'ssl3_get_record:wrong version number' }, false, /TLS failed ERR_SSL_WRONG_VERSION_NUMBER \(wrong alerts\.email\.secure/],
  ])('%s', (_label, err, permanent, message) => {
    const ce = classifySmtpError(err, CFG);
    expect(ce).toBeInstanceOf(ChannelError);
    expect(ce.permanent).toBe(permanent);
    expect(ce.message).toMatch(message);
  });

  test('secrets are scrubbed from server text, also in the base64 forms AUTH puts on the wire', () => {
    const scrub = redactor(['hunter2-pass'], 'sentinel');
    const plain = Buffer.from('\u0000sentinel\u0000hunter2-pass').toString('base64');
    const ce = classifySmtpError({ code: 'EAUTH', responseCode: 535, response: `535 bad: hunter2-pass ${plain} ${Buffer.from('hunter2-pass').toString('base64')}` }, CFG, scrub);
    expect(ce.message).not.toMatch(/hunter2|aHVudGVy/);
    expect(ce.response).toBe('535 bad: [redacted] [redacted] [redacted]');
  });

  test('anything else thrown by a channel is retried, not dropped', () => {
    expect(toChannelError(new TypeError('boom'))).toMatchObject({ permanent: false, code: 'EUNEXPECTED', message: 'unexpected error: boom' });
  });
});

describe('sender: backoff and order', () => {
  test('backoff doubles from the initial delay up to the cap, with ±20 % jitter', () => {
    const r = { initial: 30_000, max: 3_600_000 };
    expect([1, 2, 3, 4, 8, 20].map((a) => backoff(a, r, () => 0.5))).toEqual([30_000, 60_000, 120_000, 240_000, 3_600_000, 3_600_000]);
    expect(backoff(1, r, () => 0)).toBe(24_000);
    expect(backoff(1, r, () => 1)).toBe(36_000);
  });

  const d = (alertId: number, node: string, channel: string, nextAttemptAt: number): PendingDelivery => ({
    alertId,
    node,
    channel,
    nextAttemptAt,
    status: 'pending',
    attempts: 0,
    deliveredAt: null,
    lastError: null,
    response: null,
    createdAt: 0,
  });

  test('per node and channel, a later alert never overtakes an earlier one that is waiting to retry', () => {
    const pending = [d(1, 'primary', 'email', 500), d(2, 'primary', 'email', 0), d(3, 'fallback', 'email', 0), d(4, 'primary', 'hook', 0)];
    expect(pickDue(pending, 100).due?.alertId).toBe(3);
    expect(pickDue([pending[0]!, pending[1]!], 100)).toEqual({ wakeAt: 500 });
    expect(pickDue([pending[0]!, pending[1]!, pending[3]!], 100).due?.alertId).toBe(4);
    expect(pickDue(pending, 600).due?.alertId).toBe(1);
    expect(pickDue([], 0)).toEqual({ wakeAt: undefined });
  });

  test('a wall clock stepped back does not hold a queued mail until it catches up (issue 20, chaos seed 4242)', () => {
    const T = Date.UTC(2026, 0, 5, 9, 0);
    const STEP = 120_000;
    // Queued at T, never tried; then the clock is stepped back 2 min (or the daemon restarts under a clock
    // 2 min behind): due now, not 2 min from now.
    const fresh = { ...d(1, 'primary', 'email', T), createdAt: T };
    expect(pickDue([fresh], T - STEP).due?.alertId).toBe(1);
    expect(pickStartable([fresh], T - STEP, new Set()).start.map((x) => x.alertId)).toEqual([1]);
    // Tried once under the stepped clock and failed: its backoff holds (no busy loop against a refusing server).
    const retried = { ...fresh, attempts: 1, nextAttemptAt: T - STEP + 2_000 };
    expect(pickDue([retried], T - STEP + 1_000)).toEqual({ wakeAt: T - STEP + 2_000 });
    expect(pickDue([retried], T - STEP + 2_000).due?.alertId).toBe(1);
  });
});

describe('maintenance windows', () => {
  const MIN = 60_000;

  test('a recurring window in a time zone (node-cron): Sundays 03:00 Berlin for 1 h', () => {
    const m = compileCron('0 3 * * 0', 'Europe/Berlin');
    try {
      const w = { node: 'primary', duration: 60 * MIN, reason: 'weekly updates', startsAt: (t: number) => m.matches(t) };
      const start = Date.UTC(2026, 0, 4, 2, 0); // Sunday 2026-01-04 03:00 CET = 02:00 UTC
      expect(recurringStart(w, start - MIN)).toBeUndefined();
      expect(recurringStart(w, start)).toBe(start);
      expect(recurringStart(w, start + 59 * MIN)).toBe(start);
      expect(recurringStart(w, start + 60 * MIN)).toBeUndefined();
      expect(recurringStart(w, start + 7 * 86_400_000 + 30 * MIN)).toBe(start + 7 * 86_400_000);
      // Summer time: 03:00 CEST is 01:00 UTC.
      expect(recurringStart(w, Date.UTC(2026, 6, 5, 1, 30))).toBe(Date.UTC(2026, 6, 5, 1, 0));
      expect(activeMaintenance([], [w], start + 10 * MIN)).toEqual(new Map([['primary', { reason: 'weekly updates', until: start + 60 * MIN }]]));
    } finally {
      m.dispose();
    }
  });

  test('one-off windows cover [start, end); of two, the one ending last is shown', () => {
    const w = [
      { node: 'primary', startsAt: 1000, endsAt: 5000, reason: 'a' },
      { node: 'primary', startsAt: 2000, endsAt: 9000, reason: 'b' },
      { node: 'fallback', startsAt: 6000, endsAt: 7000, reason: 'c' },
    ];
    expect(activeMaintenance(w, [], 999)).toEqual(new Map());
    expect(activeMaintenance(w, [], 1000).get('primary')).toEqual({ reason: 'a', until: 5000 });
    expect(activeMaintenance(w, [], 3000).get('primary')).toEqual({ reason: 'b', until: 9000 });
    expect([...activeMaintenance(w, [], 6500).keys()].sort()).toEqual(['fallback', 'primary']);
    expect(activeMaintenance(w, [], 9000)).toEqual(new Map());
  });
});
