import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { request } from '../../src/undici';
import { freePort } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

/**
 * The guided setup, end to end, with no hand edit: `init` against two simulators writes the config and its
 * secrets; `install systemd` renders the unit into a temp root; then the daemon runs exactly as systemd would
 * start it: the unit's ExecStart, its Environment=, $STATE_DIRECTORY, and $CREDENTIALS_DIRECTORY holding
 * copies of the LoadCredential= files. It runs as another user (setpriv, uid nobody), for whom the originals
 * (root, 0600 in a 0700 folder) are unreadable, as they are for the unit's DynamicUser=. It starts, serves
 * /state with the token it read, and a credential the service lacks is exit 78 naming it.
 */
jest.setTimeout(120_000);

const canDropPrivileges = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0 && spawnSync('id', ['-u', 'nobody']).status === 0;
const maybe = canDropPrivileges ? describe : describe.skip;
if (!canDropPrivileges) process.stderr.write('guided-setup.test: skipped: needs Linux, root, setpriv and a nobody account to run the daemon as another user\n');

interface Ran {
  code: number | null;
  out: string;
  err: string;
}
function run(argv: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => done({ code, out, err }));
  });
}

/** The unit's directives that make the process's world. */
function parseUnit(unit: string): { env: Record<string, string>; execStart: string[]; credentials: Array<[string, string]>; stateDirectory?: string } {
  const env: Record<string, string> = {};
  const credentials: Array<[string, string]> = [];
  let execStart: string[] = [];
  let stateDirectory: string | undefined;
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'Environment') env[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
    if (key === 'LoadCredential') credentials.push([value.slice(0, value.indexOf(':')), value.slice(value.indexOf(':') + 1)]);
    if (key === 'ExecStart') execStart = value.split(' ');
    if (key === 'StateDirectory') stateDirectory = value;
  }
  return { env, execStart, credentials, stateDirectory };
}

maybe('the guided setup: init → install systemd → the daemon under the unit\'s environment', () => {
  let root: string;
  let primary: Simulator;
  let fallback: Simulator;
  let daemon: ChildProcess | undefined;
  const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'guided-'));
    chmodSync(root, 0o755);
    primary = await startSimulator();
    fallback = await startSimulator({ models: ['qwen3:4b'] });
  });
  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await Promise.all([primary.close(), fallback.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  test('it starts with every secret, read from $CREDENTIALS_DIRECTORY, with no edit; a missing credential is 78 naming it', async () => {
    const etc = join(root, 'etc', 'llm-sentinel');
    mkdirSync(etc, { recursive: true });
    const config = join(etc, 'config.yaml');
    const port = await freePort();
    const base = { PATH: process.env.PATH };
    const init = await run(
      [process.execPath, cliPath(), 'init', '--primary', primary.url, '--fallback', fallback.url, '--witness', `tcp://127.0.0.1:${new URL(primary.url).port}`, '--listen', `127.0.0.1:${port}`,
        '--email-to', 'ops@example.test', '--smtp-host', `127.0.0.1:${await freePort()}`, '--smtp-user', 'alerts', '--out', config],
      { ...base, SMTP_PASSWORD: 'Guided-smtp-pw-31' },
    );
    expect({ code: init.code, err: init.err }).toEqual({ code: 0, err: '' });
    expect(init.out).toContain(`Next: sudo llm-sentinel install systemd --config ${config}\n`);

    // The command init printed, with --output into the temp root.
    const unitFile = join(root, 'llm-sentinel.service');
    const install = await run([process.execPath, cliPath(), 'install', 'systemd', '--config', config, '--output', unitFile], base);
    expect({ code: install.code, err: install.err }).toEqual({ code: 0, err: '' });
    const unit = parseUnit(readFileSync(unitFile, 'utf8'));
    expect(unit.credentials.map(([n]) => n).sort()).toEqual(['http-token', 'smtp-password']);
    expect(Object.keys(unit.env).filter((k) => k.endsWith('_FILE'))).toEqual([]);

    // What systemd does at start: copy each credential for the service user; StateDirectory= owned by it.
    const credsDir = join(root, 'run', 'credentials', 'llm-sentinel.service');
    mkdirSync(credsDir, { recursive: true });
    for (const [name, source] of unit.credentials) {
      copyFileSync(source, join(credsDir, name));
      chownSync(join(credsDir, name), nobody, -1);
      chmodSync(join(credsDir, name), 0o400);
    }
    chownSync(credsDir, nobody, -1);
    chmodSync(credsDir, 0o500);
    const stateDir = join(root, 'var', 'lib', unit.stateDirectory ?? 'llm-sentinel');
    mkdirSync(stateDir, { recursive: true });
    chownSync(stateDir, nobody, -1);
    // The originals stay root's, 0600 in a 0700 folder: out of the service user's reach.
    expect(statSync(join(etc, 'credentials')).mode & 0o777).toBe(0o700);
    const env = { ...unit.env, PATH: process.env.PATH, STATE_DIRECTORY: stateDir, CREDENTIALS_DIRECTORY: credsDir };
    const asService = ['setpriv', '--reuid', String(nobody), '--regid', 'nogroup', '--clear-groups', ...unit.execStart];
    const proof = await run(['setpriv', '--reuid', String(nobody), '--regid', 'nogroup', '--clear-groups', 'cat', join(etc, 'credentials', 'http-token')], base);
    expect(proof.code).not.toBe(0);

    let err = '';
    daemon = spawn(asService[0] as string, asService.slice(1), { env, cwd: stateDir, stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor('the state file', () => existsSync(join(stateDir, 'state.json')) || daemon?.exitCode !== null, 30_000);
    expect({ exit: daemon.exitCode, err: daemon.exitCode === null ? '' : err }).toEqual({ exit: null, err: '' });
    await waitFor(
      'the HTTP listener',
      () =>
        request(`http://127.0.0.1:${port}/healthz`).then(
          async (r) => (await r.body.dump(), true),
          () => false,
        ),
      15_000,
      100,
    );
    // It read the token from its credential: /state answers with it, and only with it.
    const token = readFileSync(join(etc, 'credentials', 'http-token'), 'utf8').trim();
    const withToken = await request(`http://127.0.0.1:${port}/state`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.statusCode).toBe(200);
    await withToken.body.dump();
    const without = await request(`http://127.0.0.1:${port}/state`);
    expect(without.statusCode).toBe(401);
    await without.body.dump();
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon?.once('exit', r));
    expect(err).not.toContain('Guided-smtp-pw-31');

    // A credential the service was not given (systemd's empty SetCredential= default): exit 78 naming it.
    chmodSync(credsDir, 0o700);
    writeFileSync(join(credsDir, 'smtp-password'), '\n');
    const missing = await run([...asService], env);
    expect(missing.code).toBe(78);
    expect(missing.err).toContain(`alerts.email.password: secret file ${credsDir}/smtp-password (credential smtp-password) is empty: the service was not given credential smtp-password; the unit needs LoadCredential=smtp-password:${etc}/credentials/smtp-password`);
  });
});
