import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config';
import { loadStateFilePath } from '../../src/config/state-path';

const nodes = (secret: unknown) => [
  { name: 'primary', url: 'https://llm.example.com', headers: { 'CF-Access-Client-Secret': secret } },
  { name: 'fallback', url: 'http://127.0.0.1:11434' },
];

describe('empty secrets are refused (a missing systemd credential must not silently disable auth)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-secret-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['an empty string', ''],
    ['an empty file', 'FILE'],
  ])('%s', (_name, value) => {
    const f = join(dir, 'empty');
    writeFileSync(f, '\n');
    try {
      parseConfig({ nodes: nodes(value === 'FILE' ? { file: f } : value) }, {});
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.join('\n')).toMatch(/nodes\[0\]\.headers\.CF-Access-Client-Secret: (must not be empty|secret file .* is empty)/);
    }
  });
});

describe('{ credential: NAME }: the service\'s credential under systemd, the file next to the config otherwise', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-cred-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const problemsOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.join('\n');
      throw e;
    }
    throw new Error('accepted');
  };

  test('outside systemd: credentials/NAME next to the config', () => {
    mkdirSync(join(dir, 'credentials'));
    writeFileSync(join(dir, 'credentials', 'cf-access-secret'), 'next-to-config\n');
    const c = parseConfig({ nodes: nodes({ credential: 'cf-access-secret' }) }, {}, { baseDir: dir });
    expect(c.nodes[0]?.headers['CF-Access-Client-Secret']?.reveal()).toBe('next-to-config');
  });

  test('under systemd: $CREDENTIALS_DIRECTORY/NAME, never the original', () => {
    mkdirSync(join(dir, 'credentials'));
    writeFileSync(join(dir, 'credentials', 'cf-access-secret'), 'the-original\n');
    const credDir = join(dir, 'run-credentials');
    mkdirSync(credDir);
    writeFileSync(join(credDir, 'cf-access-secret'), 'the-copy\n');
    const c = parseConfig({ nodes: nodes({ credential: 'cf-access-secret' }) }, { CREDENTIALS_DIRECTORY: credDir }, { baseDir: dir });
    expect(c.nodes[0]?.headers['CF-Access-Client-Secret']?.reveal()).toBe('the-copy');
  });

  test('a credential the service does not have: named, with where it was looked for and the unit line it needs', () => {
    const credDir = join(dir, 'run-credentials');
    mkdirSync(credDir);
    const p = problemsOf(() => parseConfig({ nodes: nodes({ credential: 'cf-access-secret' }) }, { CREDENTIALS_DIRECTORY: credDir }, { baseDir: dir }));
    expect(p).toContain(`nodes[0].headers.CF-Access-Client-Secret: cannot read secret file ${credDir}/cf-access-secret (credential cf-access-secret) (ENOENT): the service was not given credential cf-access-secret; the unit needs LoadCredential=cf-access-secret:${dir}/credentials/cf-access-secret`);
    // systemd's empty SetCredential= default for a missing source file.
    writeFileSync(join(credDir, 'cf-access-secret'), '\n');
    expect(problemsOf(() => parseConfig({ nodes: nodes({ credential: 'cf-access-secret' }) }, { CREDENTIALS_DIRECTORY: credDir }, { baseDir: dir }))).toContain(
      `secret file ${credDir}/cf-access-secret (credential cf-access-secret) is empty: the service was not given credential cf-access-secret`,
    );
    // Outside systemd: the file next to the config, and what to put there.
    expect(problemsOf(() => parseConfig({ nodes: nodes({ credential: 'cf-access-secret' }) }, {}, { baseDir: dir }))).toContain(
      `cannot read secret file ${dir}/credentials/cf-access-secret (credential cf-access-secret) (ENOENT): put the secret there`,
    );
  });

  test('a credential name is a file name, never a path', () => {
    expect(problemsOf(() => parseConfig({ nodes: nodes({ credential: '../etc/shadow' }) }, {}, { baseDir: dir }))).toContain('nodes[0].headers.CF-Access-Client-Secret.credential: a credential name (letters, digits, ".", "_", "-"; no "/")');
  });

  test('a credential the config does not use never stops the start (an empty SMTP_PASSWORD_FILE, no SMTP user)', () => {
    const empty = join(dir, 'smtp-password');
    writeFileSync(empty, '\n');
    const c = parseConfig({ nodes: nodes('inline'), alerts: { email: { host: 'smtp.example.com', from: 'a@example.com', to: ['b@example.com'] } } }, { SMTP_PASSWORD_FILE: empty }, { baseDir: dir });
    expect(c.alerts.email?.password).toBeUndefined();
  });
});

describe('status finds the state file without reading any secret', () => {
  test('a config whose secrets this user cannot have still names its state file', () => {
    const io = { readFile: () => 'nodes: [{ name: a, url: "http://127.0.0.1:1", headers: { X: { credential: nope } } }, { name: b, url: "http://127.0.0.1:2" }]\nhttp: { listen: "0.0.0.0:9470", token: { env: UNSET_TOKEN } }\nstateFile: state/state.json\n', hostname: () => 'h', cwd: () => '/' };
    expect(loadStateFilePath('/etc/llm-sentinel/config.yaml', {}, io)).toBe('/etc/llm-sentinel/state/state.json');
    const noStateFile = { ...io, readFile: () => 'nodes: []\n' };
    expect(loadStateFilePath('/etc/llm-sentinel/config.yaml', { STATE_DIRECTORY: '/var/lib/llm-sentinel' }, noStateFile)).toBe('/var/lib/llm-sentinel/state.json');
  });
});
