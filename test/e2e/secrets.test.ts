import { createServer, type Server } from 'node:http';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { freePort, startSmtp, type SmtpFixture } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(90_000);

const SECRETS = {
  smtp: 'smtpPW-Zq81-distinct',
  cf: 'cfSecret-Vx42-distinct',
  token: 'httpTok-Jw93-distinct',
  ping: 'pingUuid-Kd57-distinct',
};


/** Every place a secret could leak to, after a whole outage and recovery: none of them holds one. */
describe('secrets never leave the config', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let smtp: SmtpFixture;
  let ping: Server;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    nodes = await startTwoNodes('sentinel-secrets-');
    ({ dir, primary, fallback } = nodes);
    const smtpPort = await freePort();
    smtp = await startSmtp({ user: 'sentinel', password: SECRETS.smtp, port: smtpPort });
    ping = createServer((req, res) => {
      req.resume();
      res.end('OK');
    });
    const pingPort = await new Promise<number>((r) => ping.listen(0, '127.0.0.1', () => r((ping.address() as { port: number }).port)));
    writeFileSync(join(dir, 'cf-secret'), `${SECRETS.cf}\n`);
    const config = writeFastConfig(
      dir,
      primary.url,
      fallback.url,
      `http: { listen: "127.0.0.1:0", token: { env: LLM_SENTINEL_TOKEN } }
selfCheck: { pingUrl: { env: PING_URL } }
alerts:
  retry: { initial: 200ms, max: 1s }
  email: { host: 127.0.0.1, port: ${smtpPort}, secure: false, user: sentinel, from: "s <s@example.com>", to: [ops@example.com], timeout: 2s }
`,
      { primary: `headers: { CF-Access-Client-Id: "id.access", CF-Access-Client-Secret: { file: "${join(dir, 'cf-secret')}" } }` },
    );
    daemon = spawnDaemon(['run', '--config', config], {
      SMTP_PASSWORD: SECRETS.smtp,
      LLM_SENTINEL_TOKEN: SECRETS.token,
      PING_URL: `http://127.0.0.1:${pingPort}/${SECRETS.ping}`,
    });
  });

  afterAll(async () => {
    await daemon?.kill9();
    await smtp.close();
    await new Promise<void>((r) => ping.close(() => r()));
    await nodes.close();
  });

  test('a full outage and recovery, then a search of logs, database, state file, mails, pages and /metrics', async () => {
    const stateFile = join(dir, 'state.json');
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 15_000);
    // The secret header was really sent (so a leak would have had something to leak).
    expect(primary.lastRequestHeaders()?.['cf-access-client-secret']).toBe(SECRETS.cf);

    await primary.setFault('cf_tunnel_down');
    await waitFor('the DOWN mail', () => smtp.mails.length >= 1, 15_000);
    await primary.setFault('none');
    await waitFor('the RECOVERED mail', () => smtp.mails.length >= 2, 20_000);
    expect(smtp.logins.some((l) => l.ok)).toBe(true);

    const base = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*HTTP API listening/.exec(daemon?.output() ?? '')?.[1] as string;
    const auth = { authorization: `Bearer ${SECRETS.token}` };
    const pages: string[] = [];
    for (const path of ['/state', '/metrics', '/', '/healthz']) {
      const res = await fetch(`${base}${path}`, { headers: auth });
      expect(res.status).toBe(200);
      pages.push(await res.text());
    }
    const denied = await fetch(`${base}/state`);
    expect(denied.status).toBe(401);
    pages.push(await denied.text());

    await daemon?.stop();
    const files = readdirSync(dir).filter((f) => /^(state\.json|sentinel\.db.*)$/.test(f));
    expect(files).toEqual(expect.arrayContaining(['state.json', 'sentinel.db']));
    const places: Array<[string, string]> = [
      ['daemon output (logs)', daemon?.output() ?? ''],
      ...files.map((f): [string, string] => [f, readFileSync(join(dir, f)).toString('latin1')]),
      ...smtp.mails.map((m, i): [string, string] => [`mail ${i}`, m.raw]),
      ...pages.map((p, i): [string, string] => [`page ${i}`, p]),
    ];
    for (const [where, text] of places) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        const forms = [secret, Buffer.from(secret).toString('base64')];
        for (const f of forms) if (text.includes(f)) throw new Error(`${name} secret found in ${where}`);
      }
    }
    expect(places.length).toBeGreaterThanOrEqual(8);
    // File modes: the database (which holds the alert outbox) is the owner's alone; the state file is readable.
    expect(statSync(join(dir, 'sentinel.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o644);
  });
});
