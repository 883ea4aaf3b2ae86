import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as alertCmd } from '../../src/cli/alert';
import { run as maintenanceCmd } from '../../src/cli/maintenance';
import type { CliIo } from '../../src/cli/io';
import { openStorage } from '../../src/storage';
import { LogCapture } from '../helpers/log';
import { startSmtp, type SmtpFixture } from '../helpers/smtp';
import { emailConfig, PASSWORD, Rig } from './alert-harness';

jest.setTimeout(20_000);

let dir: string;
let smtp: SmtpFixture | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sentinel-alert-cli-'));
});
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv = {}) {
  const stdout = new LogCapture();
  const stderr = new LogCapture();
  const value: CliIo = { stdout, stderr, env };
  return { io: value, out: () => stdout.lines.join('\n'), err: () => stderr.lines.join('\n') };
}

function writeConfig(extra: Record<string, unknown>): string {
  const file = join(dir, 'config.yaml');
  const doc = {
    instance: 'oracle-1',
    nodes: [
      { name: 'primary', url: 'http://127.0.0.1:1' },
      { name: 'fallback', url: 'http://127.0.0.1:2' },
    ],
    database: 'sentinel.db',
    stateFile: 'state.json',
    ...extra,
  };
  writeFileSync(file, JSON.stringify(doc, null, 2)); // JSON is YAML
  return file;
}

describe('llm-sentinel alert test', () => {
  test('sends a test mail and prints the SMTP answer', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    const config = writeConfig({ alerts: { email: emailConfig(smtp.port) } });
    const c = io();
    expect(await alertCmd(['test', '--config', config], c.io)).toBe(0);
    expect(c.out()).toMatch(new RegExp(`^email \\(127\\.0\\.0\\.1:${smtp.port} → ops@example\\.test\\): sent — 250 `));
    expect(smtp.mails.map((m) => m.subject)).toEqual(['[llm-sentinel oracle-1] test alert']);
  });

  test('authentication refused: a clear message and exit 1', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: 'another' });
    const config = writeConfig({ alerts: { email: emailConfig(smtp.port) } });
    const c = io();
    expect(await alertCmd(['test', '--config', config], c.io)).toBe(1);
    expect(c.out()).toContain('FAILED (permanent: fix the config) — SMTP authentication rejected (535 Authentication credentials invalid): check alerts.email.user and alerts.email.password');
    expect(c.out()).not.toContain(PASSWORD);
  });

  test('a rejected recipient: named, exit 1', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, rejectRecipients: ['ops@example.test'] });
    const config = writeConfig({ alerts: { email: emailConfig(smtp.port) } });
    const c = io();
    expect(await alertCmd(['test', '--config', config], c.io)).toBe(1);
    expect(c.out()).toMatch(/FAILED \(permanent: fix the config\) — recipient rejected \(ops@example\.test\) \(550 .*\): check alerts\.email\.to/);
  });

  test('no channel configured → exit 1; bad config → 78; bad usage → 64', async () => {
    const none = io();
    expect(await alertCmd(['test', '--config', writeConfig({})], none.io)).toBe(1);
    expect(none.err()).toContain('no alert channel configured');
    const bad = io();
    expect(await alertCmd(['test', '--config', writeConfig({ alerts: { email: { host: 'x' } } })], bad.io)).toBe(78);
    expect(bad.err()).toMatch(/alerts\.email\.from/);
    const usage = io();
    expect(await alertCmd(['send'], usage.io)).toBe(64);
    expect(await alertCmd(['list', '--limit', 'ten'], usage.io)).toBe(64);
  });
});

describe('llm-sentinel alert list', () => {
  test('shows recent alerts with their delivery status (table and JSON)', async () => {
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
    const rig = new Rig({ alerts: { email: emailConfig(smtp.port) } }, { dir });
    rig.alerting.start();
    rig.up('fallback');
    rig.down('primary');
    await rig.alerting.flush();
    rig.up('primary');
    await rig.alerting.stop();
    rig.storage.close();
    const config = writeConfig({ alerts: { email: emailConfig(smtp.port) } });

    const c = io();
    expect(await alertCmd(['list', '--config', config], c.io)).toBe(0);
    const lines = c.out().split('\n');
    expect(lines[0]).toMatch(/^ID\s+WHEN\s+SEVERITY\s+STATUS\s+ALERT\s+DELIVERY$/);
    expect(lines[1]).toMatch(/^2\s+2026-01-05 \d\d:\d\dZ\s+info\s+pending\s+primary RECOVERED after .*email queued$/);
    expect(lines[2]).toMatch(/^1\s+.*critical\s+sent\s+primary DOWN — connection refused; apps on fallback\s+email sent$/);

    const j = io();
    expect(await alertCmd(['list', '--json', '--limit', '1', '--config', config], j.io)).toBe(0);
    const parsed = JSON.parse(j.out()) as Array<Record<string, unknown>>;
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ id: 2, kind: 'recovered', status: 'pending', deliveries: [expect.objectContaining({ channel: 'email', status: 'pending' })], attempts: [] });
  });
});

describe('llm-sentinel maintenance', () => {
  test('start, list, end', async () => {
    const config = writeConfig({ maintenance: { recurring: [{ node: 'fallback', cron: '0 4 * * *', duration: '30m', timezone: 'UTC', reason: 'nightly backup' }] } });
    const s = io();
    expect(await maintenanceCmd(['start', '--node', 'primary', '--for', '45m', '--reason', 'macOS update', '--config', config], s.io)).toBe(0);
    expect(s.out()).toMatch(/^maintenance for primary until \d{4}-\d\d-\d\d \d\d:\d\dZ \(45m00s\): macOS update/);

    const storage = openStorage(join(dir, 'sentinel.db'));
    try {
      const active = storage.maintenance.activeAt(Date.now());
      expect(active.map((w) => [w.node, w.reason, w.endsAt - w.startsAt])).toEqual([['primary', 'macOS update', 45 * 60_000]]);
    } finally {
      storage.close();
    }

    const l = io();
    expect(await maintenanceCmd(['list', '--config', config], l.io)).toBe(0);
    expect(l.out()).toMatch(/^primary\s+ACTIVE\s+.*one-off #1\s+macOS update$/m);
    expect(l.out()).toMatch(/^fallback\s+(recurring|ACTIVE)\s+.*"0 4 \* \* \*" UTC\s+nightly backup$/m);
    const lj = io();
    expect(await maintenanceCmd(['list', '--json', '--config', config], lj.io)).toBe(0);
    const doc = JSON.parse(lj.out()) as { oneOff: Array<{ active: boolean }>; recurring: Array<{ nextStart: string }> };
    expect(doc.oneOff[0]?.active).toBe(true);
    expect(new Date(doc.recurring[0]!.nextStart).getUTCHours()).toBe(4);

    const e = io();
    expect(await maintenanceCmd(['end', '--node', 'primary', '--config', config], e.io)).toBe(0);
    expect(e.out()).toContain('ended 1 maintenance window');
    const again = io();
    expect(await maintenanceCmd(['end', '--config', config], again.io)).toBe(0);
    expect(again.out()).toContain('no active maintenance window');
  });

  test('refuses unknown nodes and bad durations (64)', async () => {
    const config = writeConfig({});
    const c = io();
    expect(await maintenanceCmd(['start', '--node', 'mini', '--for', '1h', '--config', config], c.io)).toBe(64);
    expect(c.err()).toContain("no node named 'mini' (configured: primary, fallback)");
    expect(await maintenanceCmd(['start', '--node', 'primary', '--for', 'soon', '--config', config], c.io)).toBe(64);
    expect(await maintenanceCmd(['start', '--node', 'primary', '--config', config], c.io)).toBe(64);
    expect(await maintenanceCmd([], c.io)).toBe(64);
  });
});
