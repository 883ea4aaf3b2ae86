import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, parseConfig } from '../../src/config';

const NODES = [
  { name: 'primary', url: 'https://llm.example.com' },
  { name: 'fallback', url: 'http://10.0.0.5:11434' },
];

function problems(alerts: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig({ nodes: NODES, alerts }, env, { baseDir: '/etc/llm-sentinel' });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('config: push channels', () => {
  test('defaults, names, priorities by name, secrets from files and env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-push-cfg-'));
    try {
      writeFileSync(join(dir, 'bot'), '123456:ABC-secret\n', { mode: 0o600 });
      const c = parseConfig(
        {
          nodes: NODES,
          alerts: {
            ntfy: [{ url: 'https://ntfy.sh/', topic: 'llm-alerts' }, { url: 'https://ntfy.example.com', topic: 'ops', token: { env: 'NTFY_TOKEN' }, priority: 'high' }],
            telegram: [{ botToken: { file: 'bot' }, chatId: -100123 }],
            discord: [{ webhookUrl: 'https://discord.com/api/webhooks/1/tok' }],
            slack: [{ name: 'ops-slack', webhookUrl: 'https://hooks.slack.com/services/T/B/x', timeout: '3s' }],
          },
        },
        { NTFY_TOKEN: 'tk_abc' },
        { baseDir: dir },
      );
      const a = c.alerts;
      expect(a.ntfy.map((n) => [n.name, n.url, n.priority, n.token?.reveal()])).toEqual([
        ['ntfy', 'https://ntfy.sh', 5, undefined],
        ['ntfy-2', 'https://ntfy.example.com', 4, 'tk_abc'],
      ]);
      expect(a.telegram[0]).toMatchObject({ name: 'telegram', chatId: '-100123', apiUrl: 'https://api.telegram.org', timeout: 10_000 });
      expect(a.telegram[0]!.botToken.reveal()).toBe('123456:ABC-secret');
      expect(a.discord[0]!.name).toBe('discord');
      expect(a.slack[0]).toMatchObject({ name: 'ops-slack', timeout: 3000 });
      expect(inspect(a)).not.toMatch(/tk_abc|ABC-secret|services\/T\/B\/x|webhooks\/1\/tok/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every problem names its field; a bad webhook URL is not echoed', () => {
    expect(problems({ ntfy: [{ url: 'ntfy.sh', topic: 'a b' }] })).toEqual([expect.stringMatching(/^alerts\.ntfy\[0\]\.url: /), expect.stringMatching(/^alerts\.ntfy\[0\]\.topic: /)]);
    expect(problems({ ntfy: [{ url: 'https://ntfy.sh', topic: 't', priority: 9 }] })[0]).toMatch(/^alerts\.ntfy\[0\]\.priority/);
    expect(problems({ telegram: [{ botToken: 'x:y', chatId: 'someone' }] })).toEqual(['alerts.telegram[0].chatId: a numeric chat id or @channelusername']);
    expect(problems({ telegram: [{ chatId: 1 }] })[0]).toMatch(/^alerts\.telegram\[0\]\.botToken/);
    const bad = problems({ discord: [{ webhookUrl: 'discord.com/api/webhooks/1/SeCrEt' }] });
    expect(bad).toEqual(['alerts.discord[0].webhookUrl: must be an http:// or https:// URL']);
    expect(problems({ slack: [{ webhookUrl: { env: 'SLACK_URL' } }] })).toEqual(['alerts.slack[0].webhookUrl: environment variable SLACK_URL (or SLACK_URL_FILE) is not set']);
    expect(problems({ webhooks: [{ name: 'slack', url: 'https://x.example' }], slack: [{ webhookUrl: 'https://hooks.slack.com/services/a' }] })).toEqual(['alerts.slack[0].name: duplicate channel name "slack"']);
  });
});
