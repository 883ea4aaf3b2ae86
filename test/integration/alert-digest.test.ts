import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDigestJob, renderDigest } from '../../src/alerts/digest';
import { parseConfig } from '../../src/config';
import { silentLogger } from '../../src/logging';
import { openStorage, type Storage } from '../../src/storage';
import { FakeClock } from '../../src/util/clock';
import { freePort, startSmtp, type SmtpFixture } from '../helpers/smtp';

const PASSWORD = 'digest-pw';
const T0 = Date.UTC(2026, 10, 23, 9, 0);

describe('weekly digest', () => {
  let dir: string;
  let storage: Storage;
  let smtp: SmtpFixture;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-digest-'));
    storage = openStorage(join(dir, 'sentinel.db'));
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, port: await freePort() });
  });
  afterEach(async () => {
    storage.close();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('renders the last 7 days as a report, HTML-escaped, with the status page link', () => {
    const m = renderDigest('oracle-1', 'NODE  UPTIME  COVERAGE\nprimary <b>  99 %  98 %\n', T0, 'https://status.example.com/');
    expect(m.subject).toMatch(/^\[llm-sentinel oracle-1\] weekly report: /);
    expect(m.html).toContain('primary &lt;b&gt;');
    expect(m.html).toContain('href="https://status.example.com/"');
    expect(m.text).toContain('Status page: https://status.example.com/');
  });

  test('sendNow mails the report for the last 7 days through the configured channel', async () => {
    const run = storage.startRun({ instance: 'oracle-1', pid: 1, version: 't', at: T0 - 6 * 86_400_000 });
    storage.insertTransition({ node: 'primary', from: 'unknown', to: 'up', reason: 'ok', at: T0 - 6 * 86_400_000 + 1000 });
    storage.insertTransition({ node: 'fallback', from: 'unknown', to: 'up', reason: 'ok', at: T0 - 6 * 86_400_000 + 1000 });
    storage.insertTransition({ node: 'primary', from: 'up', to: 'down', reason: 'cloudflare_tunnel_down', at: T0 - 86_400_000 });
    storage.insertTransition({ node: 'primary', from: 'down', to: 'up', reason: 'ok', at: T0 - 86_400_000 + 3_600_000 });
    storage.touchRun(run.runId, T0);
    const config = parseConfig(
      {
        instance: 'oracle-1',
        nodes: [
          { name: 'primary', url: 'http://127.0.0.1:1' },
          { name: 'fallback', url: 'http://127.0.0.1:2' },
        ],
        alerts: { digest: { enabled: true }, email: { host: '127.0.0.1', port: smtp.port, secure: false, user: 'sentinel', password: PASSWORD, from: 's <s@example.com>', to: ['ops@example.com'], timeout: '2s' } },
      },
      {},
    );
    const results = await createDigestJob({ config, storage, logger: silentLogger(), clock: new FakeClock(T0) }).sendNow();
    expect(results).toEqual([expect.objectContaining({ channel: 'email', result: expect.objectContaining({ response: expect.stringMatching(/^250/) }) })]);
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.subject).toMatch(/^\[llm-sentinel oracle-1\] weekly report/);
    expect(mail.text).toMatch(/primary/);
    expect(mail.text).toMatch(/cloudflare_tunnel_down/);
    expect(mail.raw).not.toContain(PASSWORD);
  });

  test('a bad schedule is a config error naming the field', () => {
    expect(() => parseConfig({ nodes: [{ name: 'a', url: 'http://x' }, { name: 'b', url: 'http://y' }], alerts: { digest: { schedule: 'every monday' } } }, {})).toThrow(/alerts\.digest\.schedule: a cron expression/);
  });
});
