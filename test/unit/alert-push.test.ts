import type { AlertMessage } from '../../src/alerts/channel';
import { discordPayload } from '../../src/alerts/discord';
import { cap, capBytes, judgeHttpStatus, retryAfterMs } from '../../src/alerts/http-post';
import { ntfyPayload } from '../../src/alerts/ntfy';
import { pickStartable } from '../../src/alerts/sender';
import { slackEscape, slackPayload } from '../../src/alerts/slack';
import { telegramPayload } from '../../src/alerts/telegram';
import type { PendingDelivery } from '../../src/storage/outbox';

const msg = (over: Partial<AlertMessage> = {}): AlertMessage => ({
  id: 7,
  instance: 'oracle-1',
  kind: 'primaryDown',
  severity: 'critical',
  node: 'primary',
  at: Date.UTC(2026, 0, 5, 9),
  subject: '[llm-sentinel oracle-1] primary DOWN — connection refused; apps on fallback',
  text: 'CRITICAL: primary DOWN — connection refused; apps on fallback\n\nprimary, the primary node, was confirmed down.\n',
  html: '',
  messageId: '<alert-7.oracle-1@llm-sentinel>',
  ...over,
});

describe('HTTP answers of push services', () => {
  test.each([
    [200, 'ok'],
    [204, 'ok'],
    [301, 'permanent'],
    [400, 'permanent'],
    [401, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [408, 'transient'],
    [410, 'permanent'],
    [429, 'transient'],
    [500, 'transient'],
    [503, 'transient'],
  ])('%i is %s', (status, verdict) => expect(judgeHttpStatus(status)).toBe(verdict));

  test('Retry-After: seconds, an HTTP date, or the JSON body (Discord, Telegram)', () => {
    const now = Date.UTC(2026, 0, 5, 9);
    expect(retryAfterMs('120', '', now)).toBe(120_000);
    expect(retryAfterMs('1.5', '', now)).toBe(1500);
    expect(retryAfterMs(new Date(now + 30_000).toUTCString(), '', now)).toBe(30_000);
    expect(retryAfterMs(undefined, '{"message":"You are being rate limited.","retry_after":0.25,"global":false}', now)).toBe(250);
    expect(retryAfterMs(undefined, '{"ok":false,"error_code":429,"parameters":{"retry_after":9}}', now)).toBe(9000);
    expect(retryAfterMs(undefined, 'rate_limited', now)).toBeUndefined();
    expect(retryAfterMs('99999999', '', now)).toBe(86_400_000);
  });

  test('cap never splits a character and marks the cut', () => {
    expect(cap('abc', 3)).toBe('abc');
    expect(cap('🚨🚨🚨🚨', 3)).toBe('🚨🚨…');
    expect(capBytes('abc', 3)).toBe('abc');
    expect(capBytes('🚨🚨🚨', 10)).toBe('🚨…'); // 4-byte emoji: two would need 8 + 3 for the mark
  });
});

describe('payloads', () => {
  test('ntfy: priority steps down from the configured one by severity; long text capped under 4096 bytes', () => {
    expect(ntfyPayload(msg(), { topic: 't', priority: 4 })).toMatchObject({ topic: 't', title: 'llm-sentinel oracle-1: primary DOWN — connection refused; apps on fallback', priority: 4, tags: ['rotating_light', 'llm-sentinel', 'primary'] });
    expect(ntfyPayload(msg({ severity: 'warning', kind: 'reminder' }), { topic: 't', priority: 4 })).toMatchObject({ priority: 3, tags: ['warning', 'llm-sentinel', 'primary'] });
    expect(ntfyPayload(msg({ severity: 'info', kind: 'recovered' }), { topic: 't', priority: 2 })).toMatchObject({ priority: 1, tags: ['white_check_mark', 'llm-sentinel', 'primary'] });
    const long = ntfyPayload(msg({ text: `CRITICAL: x\n${'é'.repeat(10_000)}` }), { topic: 't', priority: 5 });
    expect(Buffer.byteLength(long.message as string)).toBeLessThanOrEqual(4000);
    expect(Buffer.byteLength(long.message as string)).toBeGreaterThan(3990);
    expect(long.message).toMatch(/é…$/);
    expect(long.message).not.toContain('CRITICAL:');
  });

  test('telegram: plain text within 4096 characters, info arrives silently', () => {
    const p = telegramPayload(msg({ text: 'x'.repeat(9000) }), '42');
    expect(p).toMatchObject({ chat_id: '42', disable_notification: false });
    expect(p.parse_mode).toBeUndefined();
    expect([...(p.text as string)].length).toBe(4096);
    expect(telegramPayload(msg({ severity: 'info', kind: 'recovered' }), '42').disable_notification).toBe(true);
  });

  test('discord: one embed within its limits, mentions disabled, fences in the text neutralised', () => {
    const p = discordPayload(msg({ subject: `[llm-sentinel i] ${'t'.repeat(400)}`, text: 'CRITICAL: x\n```@everyone```' + 'y'.repeat(5000) }));
    const e = (p.embeds as Array<Record<string, string>>)[0]!;
    expect([...e.title!].length).toBe(256);
    expect(e.description!.length).toBeLessThanOrEqual(4096);
    expect(e.description!.match(/```/g)).toHaveLength(2);
    expect(p.allowed_mentions).toEqual({ parse: [] });
  });

  test('slack: & < > escaped as mrkdwn requires', () => {
    expect(slackEscape('a <b> & c')).toBe('a &lt;b&gt; &amp; c');
    expect(slackPayload(msg({ subject: '[llm-sentinel i] <primary> DOWN' })).text).toMatch(/^:rotating_light: \*llm-sentinel i: &lt;primary&gt; DOWN\*\n```/);
  });
});

describe('sender: channels side by side', () => {
  const d = (alertId: number, node: string, channel: string, nextAttemptAt: number): PendingDelivery => ({ alertId, node, channel, nextAttemptAt, status: 'pending', attempts: 0, deliveredAt: null, lastError: null, response: null, createdAt: 0 });
  test('one start per free channel, queue heads only, busy channels skipped', () => {
    const pending = [d(1, 'primary', 'email', 0), d(2, 'primary', 'email', 0), d(1, 'primary', 'ntfy', 500), d(2, 'primary', 'ntfy', 0), d(3, 'fallback', 'ntfy', 0), d(3, 'fallback', 'slack', 0)];
    expect(pickStartable(pending, 100, new Set()).start.map((x) => `${x.alertId}:${x.channel}`)).toEqual(['1:email', '3:ntfy', '3:slack']);
    expect(pickStartable(pending, 100, new Set(['email', 'slack']))).toEqual({ start: [pending[4]], wakeAt: 500 });
    expect(pickStartable(pending, 100, new Set(['email', 'ntfy', 'slack']))).toEqual({ start: [], wakeAt: undefined });
  });
});
