import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../../src/version';

/**
 * The package as users get it: `npm pack`, then `npm install -g` of the tarball into a throw-away prefix
 * (dependencies come from the registry and better-sqlite3 is built or downloaded: minutes, not seconds),
 * then the installed `llm-sentinel` binary is run. Needs `npm run build` first (npm test's pretest does it).
 */
const ROOT = packageRoot();
const INSTALL_TIMEOUT_MS = 540_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCommand(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm pack → npm install -g → llm-sentinel', () => {
  let dir: string;
  let bin: string;
  let installedRoot: string;
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  // Quiet, non-interactive npm; the cache stays the default one so repeated runs reuse downloads.
  const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_loglevel: 'warn' };

  // A fresh clone has no dist/ (git ignores it): the package is packed from a copy of the files git knows,
  // without dist/, so the tarball holds a build only if `prepare` makes one. node_modules is linked, not
  // installed again (CI's `npm ci` already ran), and the checkout's own dist/ is never rebuilt under the
  // other Jest worker's feet.
  let clone: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pack-'));
    clone = join(dir, 'clone');
    const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    if (listed.status !== 0) throw new Error(`git ls-files failed in ${ROOT}: ${listed.stderr}`);
    for (const f of listed.stdout.split('\0').filter((p) => p !== '' && existsSync(join(ROOT, p)))) {
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(clone, f));
    }
    expect(existsSync(join(clone, 'dist'))).toBe(false);
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    'the tarball holds what a deployment needs and nothing from src/ or test/, and installs globally',
    async () => {
      // `npm pack` runs `prepare` (npm run build) in the clone first; --json's output is the last JSON array.
      const packed = await runCommand('npm', ['pack', '--json', '--pack-destination', dir], { cwd: clone, env: npmEnv, timeoutMs: 180_000 });
      expect({ code: packed.code, stderr: packed.code === 0 ? '' : packed.stderr }).toEqual({ code: 0, stderr: '' });
      packed.stdout = packed.stdout.slice(packed.stdout.lastIndexOf('\n[') + 1);
      const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      if (!info) throw new Error(`npm pack printed no package: ${packed.stdout}`);
      const files = info.files.map((f) => f.path);
      for (const f of ['dist/cli.js', 'migrations/0001_init.sql', 'systemd/llm-sentinel.service', 'launchd/com.llm-sentinel.plist', 'LICENSE', 'package.json']) {
        expect(files).toContain(f);
      }
      expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);

      const prefix = join(dir, 'prefix');
      mkdirSync(prefix);
      // At the lowest CPU priority (coreutils/BSD `nice`): the install compiles better-sqlite3 on every core,
      // and the other Jest worker runs timing-sensitive daemon tests (two flaked in CI beside it).
      const installed = await runCommand('nice', ['-n', '19', 'npm', 'install', '-g', '--prefix', prefix, join(dir, info.filename)], { cwd: dir, env: npmEnv, timeoutMs: INSTALL_TIMEOUT_MS });
      if (installed.code !== 0) throw new Error(`npm install -g failed (${installed.code}):\n${installed.stderr}`);
      bin = join(prefix, 'bin', 'llm-sentinel');
      installedRoot = join(prefix, 'lib', 'node_modules', 'llm-sentinel');
      // npm marks the bin target executable on install; the shebang makes it runnable without `node`.
      accessSync(bin, constants.X_OK);
      expect(readFileSync(join(installedRoot, 'dist', 'cli.js'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    },
    // The build in `npm pack` (tsc, ~35 s on a loaded machine) plus the install's compile of better-sqlite3.
    600_000,
  );

  test('--version prints the package version; --help lists the commands', async () => {
    if (!bin) throw new Error('the install step failed; see the test above');
    const r = await runCommand(bin, ['--version']);
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: version });
    const h = await runCommand(bin, ['--help']);
    expect(h.code).toBe(0);
    for (const c of ['init', 'install', 'check', 'status', 'run']) expect(h.stdout).toMatch(new RegExp(`\\b${c}\\b`));
  });

  test('validate: exit 0 with the node URLs from the environment, 78 with a bad config file', async () => {
    if (!bin) throw new Error('the install step failed; see the test above');
    const env = { ...process.env, OLLAMA_PRIMARY_URL: 'http://127.0.0.1:11434', OLLAMA_FALLBACK_URL: 'http://127.0.0.1:11435' };
    const ok = await runCommand(bin, ['validate'], { cwd: dir, env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('configuration is valid');

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'nodes: 5\nnot_a_key: true\n');
    const r = await runCommand(bin, ['validate', '--config', bad], { cwd: dir, env });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/not_a_key/);
  });

  test("require('llm-sentinel') and import('llm-sentinel') give the documented API, and it starts a monitor in-process", async () => {
    if (!bin) throw new Error('the install step failed; see the test above');
    // Scripts beside the global node_modules resolve the package by name, exactly as an app's code would.
    const lib = join(installedRoot, '..', '..');
    const work = join(dir, 'api-run');
    mkdirSync(work);
    const cjs = join(lib, 'api-check.cjs');
    writeFileSync(
      cjs,
      `const api = require('llm-sentinel');
const client = require('llm-sentinel/client');
(async () => {
  const config = api.parseConfig({
    nodes: [{ name: 'primary', url: 'http://127.0.0.1:9', model: 'm' }, { name: 'fallback', url: 'http://127.0.0.1:9', model: 'm' }],
    database: ${JSON.stringify(join(work, 'sentinel.db'))},
    stateFile: ${JSON.stringify(join(work, 'state.json'))},
  }, {});
  const monitor = await api.startMonitor({ config });
  const probed = await new Promise((resolve) => monitor.events.once('probe:done', (r) => resolve(r.reason)));
  const state = monitor.state;
  await monitor.stop();
  console.log(JSON.stringify({ keys: ['loadConfig', 'parseConfig', 'startMonitor', 'REASONS'].map((k) => [k, typeof api[k]]), client: typeof client.createSentinelClient, probed, nodes: state.nodes.map((n) => n.name) }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
    );
    const r = await runCommand(process.execPath, [cjs], { cwd: lib });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      keys: [['loadConfig', 'function'], ['parseConfig', 'function'], ['startMonitor', 'function'], ['REASONS', 'object']],
      client: 'function',
      probed: 'refused',
      nodes: ['primary', 'fallback'],
    });

    const esm = join(lib, 'api-check.mjs');
    writeFileSync(esm, `import { loadConfig, parseConfig, startMonitor, REASON_INFO } from 'llm-sentinel';\nimport * as client from 'llm-sentinel/client';\nconsole.log([typeof loadConfig, typeof parseConfig, typeof startMonitor, REASON_INFO.refused.weight, typeof client.createSentinelClient].join(' '));\n`);
    const m = await runCommand(process.execPath, [esm], { cwd: lib });
    expect({ code: m.code, stdout: m.stdout.trim(), stderr: m.stderr }).toEqual({ code: 0, stdout: 'function function function hard function', stderr: '' });
  });

  test('the installed package renders a unit that systemd-analyze accepts, pointing at itself', async () => {
    if (!bin) throw new Error('the install step failed; see the test above');
    const r = await runCommand(bin, ['install', 'systemd', '--print', '--config', join(dir, 'config.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ExecStart=${process.execPath} ${join(installedRoot, 'dist', 'cli.js')} run --config `);
    const unitDir = join(dir, 'units');
    mkdirSync(unitDir);
    writeFileSync(join(unitDir, 'llm-sentinel.service'), r.stdout);
    const verify = spawnSync('systemd-analyze', ['verify', join(unitDir, 'llm-sentinel.service')], { encoding: 'utf8' });
    if (verify.error) throw new Error(`systemd-analyze is needed (apt-get install systemd): ${verify.error.message}`);
    expect({ status: verify.status, stderr: verify.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });
});
