import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../helpers/smtp';
import { emailConfig, Rig, TUNNEL_DOWN } from './alert-harness';

jest.setTimeout(20_000);

interface Hit {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A webhook receiver: answers with the next queued status (200 when none), optionally after a delay. */
async function receiver(): Promise<{ url: string; hits: Hit[]; answers: Array<{ status: number; delayMs?: number; retryAfter?: string }>; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const answers: Array<{ status: number; delayMs?: number; retryAfter?: string }> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      const a = answers.shift() ?? { status: 200 };
      const t = setTimeout(() => res.writeHead(a.status, { 'content-type': 'text/plain', ...(a.retryAfter ? { 'retry-after': a.retryAfter } : {}) }).end(a.status === 200 ? 'ok' : 'nope'), a.delayMs ?? 0);
      res.on('close', () => clearTimeout(t));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook?topic=ops`,
    hits,
    answers,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let hook: Awaited<ReturnType<typeof receiver>> | undefined;
let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  await hook?.close();
  rig = undefined;
  hook = undefined;
});

const TOKEN = 'Bearer wh-secret-token-123';

describe('webhook alerts', () => {
  test('POSTs the JSON alert with its secret headers; 5xx is retried, 4xx is permanent', async () => {
    hook = await receiver();
    rig = new Rig({ alerts: { webhooks: [{ name: 'ntfy', url: hook.url, headers: { Authorization: TOKEN } }] } });
    rig.alerting.start();
    rig.up('fallback');
    hook.answers.push({ status: 503 });
    rig.down('primary', TUNNEL_DOWN);
    await rig.alerting.flush();
    expect(hook.hits).toHaveLength(1);
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert!.deliveries[0]).toMatchObject({ channel: 'ntfy', status: 'pending', attempts: 1, lastError: 'webhook http://127.0.0.1:' + new URL(hook.url).port + '/hook answered 503' });

    rig.clock.advance(31_000);
    await rig.alerting.flush();
    expect(hook.hits).toHaveLength(2);
    const hit = hook.hits[1]!;
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers.authorization).toBe(TOKEN);
    expect(hit.body).toMatchObject({
      source: 'llm-sentinel',
      instance: 'oracle-1',
      kind: 'primaryDown',
      severity: 'critical',
      node: 'primary',
      title: '[llm-sentinel] primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback',
      messageId: expect.stringMatching(/^<outage\.primary\.[0-9a-z]+\.[0-9]+@llm-sentinel>$/),
      facts: expect.objectContaining({ cause: 'cloudflare_tunnel_down', preferred: 'fallback' }),
    });
    expect(rig.outbox().getAlert(alert!.id)?.status).toBe('sent');

    hook.answers.push({ status: 404 });
    rig.up('primary');
    await rig.alerting.flush();
    const [rec] = rig.outbox().recentAlerts(1);
    expect(rec).toMatchObject({ kind: 'recovered', status: 'failed' });
    expect(rec!.deliveries[0]).toMatchObject({ status: 'failed', response: 'HTTP 404 nope' });
    expect(rig.logs.text).not.toContain('wh-secret-token-123');
  });

  test('429 waits for its Retry-After', async () => {
    hook = await receiver();
    rig = new Rig({ alerts: { webhooks: [{ url: hook.url }] } });
    rig.alerting.start();
    rig.up('fallback');
    hook.answers.push({ status: 429, retryAfter: '90' });
    rig.down('primary');
    await rig.alerting.flush();
    expect(rig.outbox().recentAlerts(1)[0]!.deliveries[0]).toMatchObject({ status: 'pending', nextAttemptAt: rig.clock.now() + 90_000 });
  });

  test('each channel is delivered on its own: the webhook goes out while SMTP is down', async () => {
    hook = await receiver();
    rig = new Rig({ alerts: { email: emailConfig(await freePort()), webhooks: [{ url: hook.url }] } });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    await rig.alerting.flush();
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert!.status).toBe('pending');
    expect(Object.fromEntries(alert!.deliveries.map((d) => [d.channel, d.status]))).toEqual({ email: 'pending', webhook: 'sent' });
    expect(hook.hits).toHaveLength(1);
  });

  test('stop() abandons a hung send within its bound; the alert stays queued and goes out after the restart', async () => {
    hook = await receiver();
    rig = new Rig({ alerts: { webhooks: [{ url: hook.url, timeout: '15s' }] } });
    rig.alerting.start();
    rig.up('fallback');
    hook.answers.push({ status: 200, delayMs: 10_000 });
    const sending = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (hook!.hits.length > 0) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    rig.down('primary');
    await sending;
    const t0 = performance.now();
    await rig.alerting.stop();
    expect(performance.now() - t0).toBeLessThan(2500);
    const [alert] = rig.outbox().recentAlerts(1);
    expect(alert).toMatchObject({ status: 'pending' });

    rig.crashAndRestart();
    rig.alerting.start();
    await rig.alerting.flush();
    expect(rig.outbox().getAlert(alert!.id)?.status).toBe('sent');
    expect(hook.hits).toHaveLength(2);
  });
});
