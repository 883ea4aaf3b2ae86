import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, parseConfig } from '../../src/config';

const NODES = [
  { name: 'primary', url: 'https://llm.example.com' },
  { name: 'fallback', url: 'http://10.0.0.5:11434' },
];
const EMAIL = { host: 'smtp.example.com', user: 'sentinel', password: 's3cret-value', from: 'llm-sentinel <sentinel@example.com>', to: 'ops@example.com' };

function problems(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig({ nodes: NODES, ...raw }, env, { baseDir: '/etc/llm-sentinel' });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('config: alerts and maintenance', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-alert-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('defaults: enabled, no channel, 6 h reminders, flapping 4 in 30 m, backoff 30 s → 1 h', () => {
    const c = parseConfig({ nodes: NODES }, {}, { baseDir: dir });
    expect(c.alerts).toMatchObject({
      enabled: true,
      reminderInterval: 6 * 3_600_000,
      flapping: { transitions: 4, window: 1_800_000, settle: 900_000 },
      retry: { initial: 30_000, max: 3_600_000, giveUpAfter: 3 * 86_400_000 },
      webhooks: [],
    });
    expect(c.alerts.email).toBeUndefined();
    expect(c.alerts.events.primaryDown).toEqual({ send: true, severity: 'critical' });
    expect(c.alerts.events.fallbackDown).toEqual({ send: true, severity: 'warning' });
    expect(c.maintenance.recurring).toEqual([]);
  });

  test('email: port from secure, `to` as one string or a list, the password a Secret that prints redacted', () => {
    const c = parseConfig({ nodes: NODES, alerts: { email: EMAIL, events: { recovered: { severity: 'warning' } } } }, {}, { baseDir: dir });
    expect(c.alerts.email).toMatchObject({ host: 'smtp.example.com', port: 587, secure: false, to: ['ops@example.com'], timeout: 10_000 });
    expect(c.alerts.email?.password?.reveal()).toBe('s3cret-value');
    expect(inspect(c)).not.toContain('s3cret-value');
    expect(JSON.stringify(c)).not.toContain('s3cret-value');
    expect(c.alerts.events.recovered).toEqual({ send: true, severity: 'warning' });
    const tls = parseConfig({ nodes: NODES, alerts: { email: { ...EMAIL, secure: true, to: ['a@x.example', 'b@x.example'] } } }, {}, { baseDir: dir });
    expect(tls.alerts.email).toMatchObject({ port: 465, to: ['a@x.example', 'b@x.example'] });
  });

  test('the SMTP password from SMTP_PASSWORD, SMTP_PASSWORD_FILE, or { file }', () => {
    const file = join(dir, 'smtp-password');
    writeFileSync(file, 'from-a-file\n');
    const noPw = { ...EMAIL, password: undefined };
    expect(parseConfig({ nodes: NODES, alerts: { email: noPw } }, { SMTP_PASSWORD: 'from-env' }, { baseDir: dir }).alerts.email?.password?.reveal()).toBe('from-env');
    expect(parseConfig({ nodes: NODES, alerts: { email: noPw } }, { SMTP_PASSWORD_FILE: file }, { baseDir: dir }).alerts.email?.password?.reveal()).toBe('from-a-file');
    expect(parseConfig({ nodes: NODES, alerts: { email: { ...EMAIL, password: { file } } } }, {}, { baseDir: dir }).alerts.email?.password?.reveal()).toBe('from-a-file');
    // The file wins over nothing, and the config's own value wins over the environment.
    expect(parseConfig({ nodes: NODES, alerts: { email: EMAIL } }, { SMTP_PASSWORD: 'from-env' }, { baseDir: dir }).alerts.email?.password?.reveal()).toBe('s3cret-value');
    // No user: no password needed (an open relay on the LAN).
    expect(parseConfig({ nodes: NODES, alerts: { email: { ...noPw, user: undefined } } }, {}, { baseDir: dir }).alerts.email?.password).toBeUndefined();
  });

  test('every problem is listed with its field path', () => {
    expect(problems({ alerts: { email: { ...EMAIL, password: undefined } } })).toEqual([expect.stringMatching(/^alerts\.email\.password: required with alerts\.email\.user/)]);
    expect(problems({ alerts: { email: { ...EMAIL, to: 'not-an-address' } } })).toEqual([expect.stringMatching(/^alerts\.email\.to: /)]);
    expect(problems({ alerts: { email: { ...EMAIL, to: [] } } })[0]).toMatch(/^alerts\.email\.to/);
    expect(problems({ alerts: { webhooks: [{ url: 'http://a.example/h' }, { name: 'webhook', url: 'http://b.example/h' }] } })).toEqual([
      'alerts.webhooks[1].name: duplicate channel name "webhook"',
    ]);
    expect(problems({ alerts: { webhooks: [{ url: 'ftp://x' }] } })).toEqual(['alerts.webhooks[0].url: must be an http:// or https:// URL']);
    expect(problems({ alerts: { events: { primaryDown: { severity: 'loud' } } } })[0]).toMatch(/^alerts\.events\.primaryDown\.severity: /);
    expect(problems({ alerts: { events: { nodeDown: { send: false } } } })).toEqual(['alerts.events.nodeDown: unknown key']);
    expect(problems({ alerts: { retry: { initial: '2h', max: '1h' } } })).toEqual(['alerts.retry.max: must not be shorter than alerts.retry.initial']);
  });

  test('recurring maintenance: cron at minute resolution, a real time zone, a known node, at most a day', () => {
    const ok = parseConfig(
      { nodes: NODES, maintenance: { recurring: [{ node: 'primary', cron: '0 3 * * 0', duration: '1h', timezone: 'Europe/Berlin' }] } },
      {},
      { baseDir: dir },
    );
    expect(ok.maintenance.recurring).toEqual([{ node: 'primary', cron: '0 3 * * 0', duration: 3_600_000, timezone: 'Europe/Berlin', reason: 'scheduled maintenance' }]);
    const bad = problems({
      maintenance: {
        recurring: [
          { node: 'primary', cron: '61 3 * * *', duration: '1h' },
          { node: 'primary', cron: '*/10 * * * * *', duration: '1h' },
          { node: 'primary', cron: '0 3 * * *', duration: '2d' },
          { node: 'primary', cron: '0 3 * * *', duration: '1h', timezone: 'Mars/Olympus' },
          { node: 'mini', cron: '0 3 * * *', duration: '1h' },
        ],
      },
    });
    expect(bad).toEqual([
      expect.stringMatching(/^maintenance\.recurring\[0\]\.cron: not a cron expression/),
      expect.stringMatching(/^maintenance\.recurring\[1\]\.cron: windows start on a whole minute/),
      expect.stringMatching(/^maintenance\.recurring\[2\]\.duration: at most 24h/),
      expect.stringMatching(/^maintenance\.recurring\[3\]\.timezone: not an IANA time zone/),
    ]);
    expect(problems({ maintenance: { recurring: [{ node: 'mini', cron: '0 3 * * *', duration: '1h' }] } })).toEqual(['maintenance.recurring[0].node: no node named "mini"']);
  });
});
