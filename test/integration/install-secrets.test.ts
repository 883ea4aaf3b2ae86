import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/install';
import type { CliIo } from '../../src/cli/io';
import { lookupAccount, permits, planSecrets, unreadableBy } from '../../src/install/secret-access';
import { secretUses } from '../../src/config/secrets';

/**
 * `install` reads the config's secret sources and refuses what the service manager could not hand the
 * daemon: systemd gives a DynamicUser= process only its LoadCredential= copies; launchd gives its account
 * nothing but the plist's variables, so that account must read the files itself.
 */
function captureIo(): CliIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => ({ write: (c: string | Uint8Array) => (append(typeof c === 'string' ? c : Buffer.from(c).toString('utf8')), true) }) as unknown as NodeJS.WritableStream;
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, out: () => out, err: () => err };
}

let dir: string;
let cli: string;
let config: string;
const NODES = 'nodes:\n  - { name: primary, url: "https://llm.example.com" }\n  - { name: fallback, url: "http://127.0.0.1:11434" }\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'install-secrets-'));
  chmodSync(dir, 0o755);
  cli = join(dir, 'cli.js');
  writeFileSync(cli, '#!/usr/bin/env node\n');
  config = join(dir, 'config.yaml');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function install(...argv: string[]) {
  const io = captureIo();
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

function credential(name: string, value = 'secret-value'): string {
  mkdirSync(join(dir, 'credentials'), { recursive: true, mode: 0o700 });
  const f = join(dir, 'credentials', name);
  writeFileSync(f, `${value}\n`, { mode: 0o600 });
  return f;
}

describe('install systemd and the config\'s secrets', () => {
  test('renders one LoadCredential= per { credential } the config uses, and nothing for the rest', async () => {
    writeFileSync(config, `${NODES}http:\n  listen: 127.0.0.1:9470\n  token: { credential: http-token }\npeers:\n  monitors:\n    - { name: mac-mini, url: "https://sentinel-mac.example.com", token: { credential: peer-token } }\n`);
    credential('http-token');
    credential('peer-token');
    const r = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const creds = r.out.split('\n').filter((l) => /^[A-Za-z]+Credential=|^Environment=.*_FILE=/.test(l));
    expect(creds).toEqual([
      `LoadCredential=http-token:${dir}/credentials/http-token`,
      'SetCredential=http-token:\\n',
      `LoadCredential=peer-token:${dir}/credentials/peer-token`,
      'SetCredential=peer-token:\\n',
    ]);
  });

  test('{ env } the unit does not set, a missing credential file and a root-only { file } are refused, each named with its fix (78)', async () => {
    const rootOnly = join(dir, 'secret.txt');
    writeFileSync(rootOnly, 'x\n', { mode: 0o600 });
    writeFileSync(
      config,
      `${NODES.replace('url: "https://llm.example.com"', 'url: "https://llm.example.com", headers: { CF-Access-Client-Secret: { env: CF_ACCESS_CLIENT_SECRET } }')}` +
        `http:\n  listen: 127.0.0.1:9470\n  token: { credential: http-token }\nalerts:\n  email: { host: smtp.example.com, user: u, password: { file: ${rootOnly} }, from: a@example.com, to: [b@example.com] }\n`,
    );
    const r = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(r.code).toBe(78);
    expect(r.out).toBe('');
    expect(r.err).toContain('the unit could not read 3 secrets of');
    expect(r.err).toContain('nodes[0].headers.CF-Access-Client-Secret: { env: CF_ACCESS_CLIENT_SECRET }: the unit sets neither CF_ACCESS_CLIENT_SECRET nor CF_ACCESS_CLIENT_SECRET_FILE. Write { credential: cf-access-client-secret }');
    expect(r.err).toContain(`http.token: ${dir}/credentials/http-token does not exist (ENOENT). Create it: sudo install -d -m 0700 ${dir}/credentials`);
    expect(r.err).toContain(`alerts.email.password: { file: ${rootOnly} }: the unit's user (DynamicUser=) cannot read ${rootOnly} (mode 0600)`);
    // --force installs anyway, still saying why.
    const forced = await install('systemd', '--print', '--force', '--config', config, '--cli', cli);
    expect(forced.code).toBe(0);
    expect(forced.err).toContain('could not read 3 secrets');
  });

  test('a string secret and a config without secrets need nothing', async () => {
    writeFileSync(config, `${NODES}http:\n  listen: 127.0.0.1:9470\n  token: inline-token-value\n`);
    const r = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(r.code).toBe(0);
    expect(r.out).toContain('# (the config uses no { credential: NAME } secrets: none loaded)');
  });
});

describe('install launchd: the daemon\'s account must read each secret file', () => {
  const nobody = lookupAccount('nobody');
  const withNobody = nobody && process.platform !== 'darwin' ? test : test.skip;

  withNobody('a root-only credential is refused with the chown that fixes it; owned by the account it passes', async () => {
    writeFileSync(config, `${NODES}http:\n  listen: 127.0.0.1:9470\n  token: { credential: http-token }\n`);
    const f = credential('http-token');
    const r = await install('launchd', '--print', '--config', config, '--cli', cli, '--user', 'nobody');
    expect(r.code).toBe(78);
    expect(r.err).toContain(`http.token: the daemon's account nobody cannot read its secret: nobody cannot enter the folder ${dir}/credentials. Fix: sudo chown nobody ${dir}/credentials ${f}`);
    chownSync(join(dir, 'credentials'), nobody!.uid, -1);
    const r2 = await install('launchd', '--print', '--config', config, '--cli', cli, '--user', 'nobody');
    expect(r2.code).toBe(78);
    expect(r2.err).toMatch(/nobody cannot read .*http-token \(owner uid 0, mode 0600\)/);
    chownSync(f, nobody!.uid, -1);
    const ok = await install('launchd', '--print', '--config', config, '--cli', cli, '--user', 'nobody');
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
  });

  test('{ env } is refused: the plist sets no such variable', async () => {
    writeFileSync(config, `${NODES}http:\n  listen: 127.0.0.1:9470\n  token: { env: LLM_SENTINEL_TOKEN }\n`);
    const r = await install('launchd', '--print', '--config', config, '--cli', cli, '--user', '_nosuchuser');
    expect(r.code).toBe(78);
    expect(r.err).toContain("http.token: { env: LLM_SENTINEL_TOKEN }: the LaunchDaemon's plist sets no LLM_SENTINEL_TOKEN. Write { credential: llm-sentinel-token } instead");
  });
});

describe('the pure parts', () => {
  test('permits: owner, group, other bits; root reads anything', () => {
    const who = { name: 'u', uid: 501, gids: [20] };
    expect(permits({ uid: 501, gid: 0, mode: 0o600 }, who, 4)).toBe(true);
    expect(permits({ uid: 0, gid: 20, mode: 0o640 }, who, 4)).toBe(true);
    expect(permits({ uid: 0, gid: 0, mode: 0o600 }, who, 4)).toBe(false);
    expect(permits({ uid: 0, gid: 0, mode: 0o755 }, who, 1)).toBe(true);
    expect(permits({ uid: 0, gid: 0, mode: 0o700 }, { ...who, uid: 0 }, 4)).toBe(true);
  });

  test('unreadableBy names the first folder on the way that cannot be entered', () => {
    const modes: Record<string, { uid: number; gid: number; mode: number }> = {
      '/': { uid: 0, gid: 0, mode: 0o755 },
      '/etc': { uid: 0, gid: 0, mode: 0o755 },
      '/etc/c': { uid: 0, gid: 0, mode: 0o700 },
      '/etc/c/tok': { uid: 501, gid: 0, mode: 0o600 },
    };
    const stat = (p: string) => modes[p] ?? (() => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); })();
    expect(unreadableBy('/etc/c/tok', { name: 'u', uid: 501, gids: [] }, stat)).toBe('u cannot enter the folder /etc/c');
    modes['/etc/c'] = { uid: 501, gid: 0, mode: 0o700 };
    expect(unreadableBy('/etc/c/tok', { name: 'u', uid: 501, gids: [] }, stat)).toBeUndefined();
    expect(unreadableBy('/etc/c/nope', { name: 'u', uid: 501, gids: [] }, stat)).toBe('/etc/c/nope does not exist (ENOENT)');
  });

  test('secretUses finds every { credential }, { file } and { env } by shape, with its field path', () => {
    const uses = secretUses({ nodes: [{ headers: { A: { credential: 'a' }, B: 'inline' } }], alerts: { ntfy: { token: { env: 'T' } } }, http: { token: { file: '/x' } } });
    expect(uses).toEqual([
      { where: 'nodes[0].headers.A', source: { credential: 'a' } },
      { where: 'alerts.ntfy.token', source: { env: 'T' } },
      { where: 'http.token', source: { file: '/x' } },
    ]);
    expect(planSecrets('systemd', '/etc/x/config.yaml', [], undefined, 'llm-sentinel')).toEqual({ credentials: [], problems: [], warnings: [] });
  });
});

describe('the older { file: /run/credentials/llm-sentinel.service/NAME } spelling', () => {
  test('is loaded as credential NAME from credentials/NAME next to the config', async () => {
    writeFileSync(config, `${NODES}http:\n  listen: 127.0.0.1:9470\n  token: { file: /run/credentials/llm-sentinel.service/http-token }\n`);
    const missing = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(missing.code).toBe(78);
    expect(missing.err).toContain(`http.token: ${dir}/credentials/http-token does not exist: the unit loads /run/credentials/llm-sentinel.service/http-token from it`);
    credential('http-token');
    const r = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`\nLoadCredential=http-token:${dir}/credentials/http-token\n`);
  });
});
