import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/alert';
import { startPushReceiver, pushChannelConfig, pushWords, type PushReceiver, type PushService } from '../helpers/push-receiver';
import { waitFor } from '../helpers/wait';
import { LogCapture } from '../helpers/log';
import { Rig, TUNNEL_DOWN } from './alert-harness';

jest.setTimeout(30_000);

/**
 * Each push channel against a loopback receiver that checks the service's documented request shape (see
 * test/helpers/push-receiver.ts for the documents). One outage gives one DOWN and one RECOVERED message.
 */
let receivers: PushReceiver[] = [];
let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  await Promise.all(receivers.map((r) => r.close()));
  rig = undefined;
  receivers = [];
});

async function receiver(service: PushService): Promise<PushReceiver> {
  const r = await startPushReceiver(service);
  receivers.push(r);
  return r;
}

function rigFor(r: PushReceiver, extra: Record<string, unknown> = {}): Rig {
  const x = new Rig({ alerts: { [r.service]: [pushChannelConfig(r, extra)] } });
  x.alerting.start();
  x.up('fallback');
  return x;
}

/** Everything the monitor kept about its deliveries (the database) and said about them (the logs). */
function recorded(x: Rig): string {
  const ob = x.outbox();
  return JSON.stringify(ob.recentAlerts(50).map((a) => ({ a, attempts: ob.attempts(a.id) }))) + x.logs.text;
}

const SERVICES: PushService[] = ['ntfy', 'telegram', 'discord', 'slack'];

describe.each(SERVICES)('%s channel', (service) => {
  test('one outage: one DOWN and one RECOVERED message in the documented shape', async () => {
    const r = await receiver(service);
    rig = rigFor(r);
    rig.down('primary', TUNNEL_DOWN);
    await rig.alerting.flush();
    rig.up('primary');
    await rig.alerting.flush();

    expect(r.hits.map((h) => h.problems)).toEqual([[], []]);
    const [down, up] = r.delivered().map((h) => pushWords(h, service));
    expect(down).toContain('llm-sentinel: primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback');
    expect(up).toContain('primary RECOVERED after');
    expect(rig.outbox().recentAlerts(5).map((a) => [a.kind, a.status, a.deliveries[0]?.channel])).toEqual([
      ['recovered', 'sent', service],
      ['primaryDown', 'sent', service],
    ]);
    if (service === 'ntfy') {
      expect(r.hits[0]!.body).toMatchObject({ topic: 'llm-alerts', priority: 5, tags: ['rotating_light', 'llm-sentinel', 'primary'] });
      expect(r.hits[1]!.body).toMatchObject({ priority: 3, tags: ['white_check_mark', 'llm-sentinel', 'primary'] });
    }
    if (service === 'telegram') expect(r.hits[0]!.body).toMatchObject({ chat_id: '-100123456', disable_notification: false });
    if (service === 'discord') expect(r.hits[0]!.body).toMatchObject({ allowed_mentions: { parse: [] }, embeds: [expect.objectContaining({ color: 0xd83c3e })] });
    expect(recorded(rig)).not.toContain(r.secret);
  });

  test('an outage while the channel is down is delivered later, once, DOWN before RECOVERED', async () => {
    const r = await receiver(service);
    rig = rigFor(r);
    r.answers.push({ status: 503 });
    rig.down('primary');
    await rig.alerting.flush();
    rig.up('primary');
    await rig.alerting.flush();
    expect(r.hits).toHaveLength(1); // the recovery waits behind the outage's message
    const [rec, down] = rig.outbox().recentAlerts(2);
    expect(down!.deliveries[0]).toMatchObject({ status: 'pending', attempts: 1 });
    expect(down!.deliveries[0]!.lastError).toContain('answered 503');

    rig.clock.advance(31_000);
    await rig.alerting.flush();
    rig.clock.advance(120_000);
    await rig.alerting.flush();
    const words = r.delivered().map((h) => pushWords(h, service));
    expect(words).toHaveLength(2);
    expect(words[0]).toContain('primary DOWN');
    expect(words[1]).toContain('primary RECOVERED');
    expect(rig.outbox().getAlert(down!.id)?.status).toBe('sent');
    expect(rig.outbox().getAlert(rec!.id)?.status).toBe('sent');
  });

  test('401 is permanent: logged at error level once, never retried, the secret nowhere', async () => {
    const r = await receiver(service);
    rig = rigFor(r);
    r.answers.push({ status: 401 });
    rig.down('primary');
    await rig.alerting.flush();
    rig.clock.advance(3_600_000);
    await rig.alerting.flush();
    expect(r.hits).toHaveLength(1);
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert).toMatchObject({ status: 'failed' });
    expect(alert!.deliveries[0]).toMatchObject({ status: 'failed', attempts: 1 });
    const errors = rig.logs.entries().filter((e) => e.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.msg)).toMatch(/^ALERT NOT DELIVERED and not retried: .* answered 401: /);
    expect(recorded(rig)).not.toContain(r.secret);
  });

  test('429 waits for Retry-After instead of the backoff', async () => {
    const r = await receiver(service);
    rig = rigFor(r);
    r.answers.push({ status: 429, retryAfter: '120' });
    rig.down('primary');
    await rig.alerting.flush();
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert!.deliveries[0]).toMatchObject({ status: 'pending', nextAttemptAt: rig.clock.now() + 120_000 });
    rig.clock.advance(60_000); // past the 30 s backoff, short of what the server asked
    await rig.alerting.flush();
    expect(r.hits).toHaveLength(1);
    rig.clock.advance(61_000);
    await rig.alerting.flush();
    expect(r.delivered()).toHaveLength(1);
  });
});

describe('push channels side by side', () => {
  test('a hanging channel delays neither the other channels nor the monitor', async () => {
    const stuck = await receiver('discord');
    const ntfy = await receiver('ntfy');
    rig = new Rig({ alerts: { discord: [pushChannelConfig(stuck, { timeout: '20s' })], ntfy: [pushChannelConfig(ntfy)] } });
    rig.alerting.start();
    rig.up('fallback');
    stuck.answers.push({ status: 204, delayMs: 15_000 });
    rig.down('primary');
    await waitFor('ntfy to get the DOWN message', () => ntfy.delivered().length === 1, 10_000);
    expect(stuck.holding()).toBe(1);
    // The monitor goes on deciding and recording while discord hangs.
    rig.up('primary');
    await waitFor('ntfy to get the RECOVERED message', () => ntfy.delivered().length === 2, 10_000);
    expect(stuck.holding()).toBe(1);
    expect(pushWords(ntfy.delivered()[1]!, 'ntfy')).toContain('primary RECOVERED');
    expect(rig.outbox().recentAlerts(2).map((a) => a.deliveries.find((d) => d.channel === 'discord')?.status)).toEqual(['pending', 'pending']);
  });

  test('Telegram names its own wait in the body when the header is missing; a chat that is not found is permanent', async () => {
    const r = await receiver('telegram');
    rig = rigFor(r);
    r.answers.push({ status: 429, retryAfter: '45', waitInBodyOnly: true });
    rig.down('primary');
    await rig.alerting.flush();
    expect(rig.outbox().recentAlerts(1)[0]!.deliveries[0]).toMatchObject({ status: 'pending', nextAttemptAt: rig.clock.now() + 45_000 });
    r.answers.push({ status: 400 });
    rig.clock.advance(45_000);
    await rig.alerting.flush();
    expect(rig.outbox().recentAlerts(1)[0]!.deliveries[0]).toMatchObject({ status: 'failed', response: 'HTTP 400 {"ok":false,"error_code":400,"description":"Bad Request: chat not found"}' });
  });
});

describe('llm-sentinel alert test --channel', () => {
  test('each push channel sends the test message in its own shape; a refused one says why without its secret', async () => {
    const rs = await Promise.all(SERVICES.map((s) => receiver(s)));
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-push-cli-'));
    try {
      const file = join(dir, 'config.yaml');
      const alerts = Object.fromEntries(rs.map((r) => [r.service, [pushChannelConfig(r)]]));
      const nodes = [
        { name: 'primary', url: 'http://127.0.0.1:1' },
        { name: 'fallback', url: 'http://127.0.0.1:2' },
      ];
      writeFileSync(file, JSON.stringify({ instance: 'oracle-1', nodes, database: 'sentinel.db', stateFile: 'state.json', alerts }));
      for (const r of rs) {
        const stdout = new LogCapture();
        expect(await run(['test', '--config', file, '--channel', r.service], { stdout, stderr: new LogCapture(), env: {} })).toBe(0);
        expect(stdout.text).toMatch(new RegExp(`^${r.service}: sent — HTTP 20[04]`));
        expect(r.delivered()).toHaveLength(1);
        expect(pushWords(r.delivered()[0]!, r.service)).toContain('test alert');
      }
      const tg = rs[1]!;
      tg.answers.push({ status: 401 });
      const stdout = new LogCapture();
      expect(await run(['test', '--config', file, '--channel', 'telegram'], { stdout, stderr: new LogCapture(), env: {} })).toBe(1);
      expect(stdout.text).toMatch(/^telegram: FAILED \(permanent: fix the config\) — telegram http:\/\/127\.0\.0\.1:\d+ answered 401: check botToken/);
      expect(stdout.text).not.toContain(tg.secret);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
