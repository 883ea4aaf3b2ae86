import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { freePort } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

jest.setTimeout(90_000);

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    // stdin is not a terminal here (a pipe closed at once): init must not ask.
    const child = spawn(process.execPath, [cliPath(), ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The CLI on a pseudo-terminal: util-linux `script` gives the child a pty (node-pty is not available), and
 * what we write to script's stdin is what the user types. Each answer is typed once its question shows.
 */
function cliOnTty(args: string[], answers: Array<[prompt: RegExp, answer: string]>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, cliPath(), ...args].map(shellQuote).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const pending = [...answers];
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const next = pending[0];
      if (next && next[0].test(out)) {
        pending.shift();
        child.stdin.write(`${next[1]}\n`);
      }
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      child.stdin.destroy();
      resolve({ code, out, err });
    });
  });
}

describe('llm-sentinel init (the real CLI against two simulators)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  const extra: Simulator[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-init-'));
    primary = await startSimulator();
    fallback = await startSimulator({ models: ['qwen3:4b', 'llama3.2'], version: '0.32.15' });
  });
  afterEach(async () => {
    await Promise.all([primary.close(), fallback.close(), ...extra.splice(0).map((s) => s.close())]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Loopback witnesses: the written config must reach nothing beyond 127.0.0.1 when checked or run. */
  const witness = () => ['--witness', `tcp://127.0.0.1:${new URL(primary.url).port}`];

  test('without a terminal: probes, writes config and a 0600 token file, checks, names the next command; validate and check pass', async () => {
    const out = join(dir, 'sentinel.yaml');
    const r = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--listen', '0.0.0.0:9470', '--email-to', 'ops@example.test', '--smtp-host', '127.0.0.1:2525', '--smtp-user', 'sentinel', '--out', out], { SMTP_PASSWORD: 'Smtp-pw-5521-unique' });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Ollama 0.12.6; 1 model(s) installed, 0 loaded; model llama3.2:latest (most recently installed)');
    expect(r.out).toContain('Ollama 0.32.15; 2 model(s) installed, 0 loaded; model qwen3:4b (most recently installed)');
    expect(r.out).toMatch(/primary +up +ok/);
    expect(r.out).toMatch(/fallback +up +ok/);
    expect(r.out).toContain(process.platform === 'darwin' ? `Next: sudo llm-sentinel install launchd --config ${out} --node ` : `Next: sudo llm-sentinel install systemd --config ${out}\n`);

    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toContain(`url: "${primary.url}"`);
    expect(yaml).toContain('model: "qwen3:4b"');
    expect(yaml).toContain(`- "tcp://127.0.0.1:${new URL(primary.url).port}"`);
    expect(yaml).not.toMatch(/1\.1\.1\.1|8\.8\.8\.8/);
    expect(yaml).toContain('token: { credential: http-token }');
    expect(yaml).toContain('to: ["ops@example.test"]');
    const tokenFile = join(dir, 'credentials', 'http-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(yaml).not.toContain(token);
    const pwFile = join(dir, 'credentials', 'smtp-password');
    expect(statSync(pwFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(pwFile, 'utf8')).toBe('Smtp-pw-5521-unique\n');
    expect(yaml).toContain('password: { credential: smtp-password }');
    expect(yaml + r.out).not.toContain('Smtp-pw-5521-unique');

    const v = await cli(['validate', '--config', out]);
    expect(v.code).toBe(0);
    const c = await cli(['check', '--config', out]);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/fallback +up +ok/);

    // A second run does not overwrite anything without --yes.
    writeFileSync(out, '# mine\n');
    const again = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--out', out]);
    expect(again.code).toBe(73);
    expect(again.err).toContain(`${out} already exists; not overwritten (pass --yes to overwrite)`);
    expect(readFileSync(out, 'utf8')).toBe('# mine\n');
  });

  test('without a terminal, a missing flag is exit 64 naming it', async () => {
    const r = await cli(['init', '--primary', primary.url, '--out', join(dir, 'x.yaml')]);
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/^llm-sentinel init: --fallback is required \(no terminal to ask/);
    const mail = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, '--email-to', 'ops@example.test', '--out', join(dir, 'x.yaml')]);
    expect(mail.code).toBe(64);
    expect(mail.err).toContain('--smtp-host is required');
    expect(existsSync(join(dir, 'x.yaml'))).toBe(false);
  });

  test('a Cloudflare 530 and a refused URL stop init with the reason; nothing is written', async () => {
    await primary.setFault('cf_tunnel_down');
    const out = join(dir, 'sentinel.yaml');
    const r = await cli(['init', '--primary', primary.url, '--fallback', `http://127.0.0.1:${await freePort()}`, ...witness(), '--out', out]);
    expect(r.code).toBe(69);
    expect(r.out).toContain('NOT WORKING (cloudflare_tunnel_down): 530 from Cloudflare (error 1033: tunnel not connected)');
    expect(r.out).toContain('cloudflared is not running or not connected: restart it'); // its row in core/reasons.ts
    expect(r.out).toContain('NOT WORKING (refused)');
    expect(r.err).toContain('primary does not work (cloudflare_tunnel_down); fallback does not work (refused); nothing written');
    expect(existsSync(out)).toBe(false);
  });

  test('with --yes, an Access login page is written down with the node marked and explained; validate and check pass', async () => {
    await primary.setFault('access_redirect');
    const out = join(dir, 'sentinel.yaml');
    const r = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--out', out, '--yes']);
    expect(r.code).toBe(0);
    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toContain('# primary: could not be used when init ran (auth_required), behind Cloudflare Access.');
    expect(yaml).toMatch(/# !! NOT WORKING when init ran: 302 to Cloudflare Access login/);
    expect(yaml).toContain('# !! Cloudflare Access protects this hostname. Create a service token');
    expect(yaml).toContain('#   CF-Access-Client-Secret: { credential: cf-access-secret }');
    // Without the token flags, init says which to add.
    expect(r.err).toContain('primary is behind Cloudflare Access: add --access-client-id <ID>.access and set CF_ACCESS_CLIENT_SECRET=<secret> in the environment');
    expect((await cli(['validate', '--config', out])).code).toBe(0);
    const c = await cli(['check', '--config', out]);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/primary +down +auth_required/);
  });

  test('--access-client-id with the secret from CF_ACCESS_CLIENT_SECRET: headers written, the secret only in credentials/', async () => {
    await primary.setFault('access_redirect');
    const out = join(dir, 'access.yaml');
    // No secret in the environment: the flag alone is refused, naming the variable (64).
    const bare = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--access-client-id', '0123abcd.access', '--out', out]);
    expect(bare.code).toBe(64);
    expect(bare.err).toContain('--access-client-id needs the service token\'s secret in the CF_ACCESS_CLIENT_SECRET environment variable');
    // The simulator's Access answers every request with its login redirect, token or not: --yes writes it down.
    const r = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--access-client-id', '0123abcd.access', '--out', out, '--yes'], { CF_ACCESS_CLIENT_SECRET: 'Cf-secret-7781-unique' });
    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toContain('      CF-Access-Client-Id: "0123abcd.access"');
    expect(yaml).toContain('      CF-Access-Client-Secret: { credential: cf-access-secret }');
    expect(readFileSync(join(dir, 'credentials', 'cf-access-secret'), 'utf8')).toBe('Cf-secret-7781-unique\n');
    expect(yaml + r.out + r.err).not.toContain('Cf-secret-7781-unique');
    expect((await cli(['validate', '--config', out])).code).toBe(0);
  });

  const asRootOnLinux = process.platform === 'linux' && process.getuid?.() === 0 ? test : test.skip;
  asRootOnLinux('--launchd: the secret files and their folder belong to the daemon\'s account; check --user warns when they do not', async () => {
    const out = join(dir, 'launchd.yaml');
    chmodSync(dir, 0o755); // mkdtemp's 0700 would keep the account out of the config's folder
    const r = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--listen', '127.0.0.1:0', '--launchd', '--user', 'nobody', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    expect(statSync(join(dir, 'credentials')).uid).toBe(nobody);
    expect(statSync(join(dir, 'credentials', 'http-token')).uid).toBe(nobody);
    expect(r.out).toContain(`Next: sudo llm-sentinel install launchd --config ${out} --node ${process.execPath} --user nobody`);
    chownSync(join(dir, 'credentials', 'http-token'), 0, 0);
    const c = await cli(['check', '--config', out, '--user', 'nobody']);
    expect(c.err).toMatch(/warning: http\.token: the daemon's account nobody cannot read its secret: nobody cannot read .*http-token \(owner uid 0, mode 0600\)/);
    // No such account: init refuses before writing anything.
    const none = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, ...witness(), '--launchd', '--user', '_nosuchuser', '--out', join(dir, 'x.yaml')]);
    expect(none.code).toBe(64);
    expect(none.err).toContain('--launchd: no account _nosuchuser to own the secret files; create it first');
    expect(existsSync(join(dir, 'x.yaml'))).toBe(false);
  });

  const onLinux = process.platform === 'linux' ? test : test.skip;
  onLinux('on a terminal, a missing flag is asked for, one short question each', async () => {
    const out = join(dir, 'tty.yaml');
    const r = await cliOnTty(['init', ...witness(), '--out', out], [
      [/Primary node URL \(e\.g\. https:\/\/llm\.example\.com\)\? $/, primary.url],
      [/Fallback node URL \(e\.g\. http:\/\/10\.0\.0\.5:11434\)\? $/, fallback.url],
    ]);
    expect(r.code).toBe(0);
    await waitFor('the config file', () => existsSync(out), 5000);
    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toContain(`url: "${primary.url}"`);
    expect(yaml).toContain(`url: "${fallback.url}"`);
    expect((await cli(['validate', '--config', out])).code).toBe(0);
  });
});
