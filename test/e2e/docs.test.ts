import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config';
import { configSchema } from '../../src/config/schema';
import { cliPath } from '../../src/demo/harness';
import { TARGET_DEFAULTS } from '../../src/install/values';
import { startSimulator, type Simulator } from '../../src/simulator';
import { packageRoot } from '../../src/version';
import { parsePlist } from '../helpers/plist';
import { freePort } from '../helpers/smtp';
import { sleep } from '../helpers/wait';

/**
 * The guides tested like code. From README.md and docs/deploy-*.md this test takes
 * - every YAML block. Before a block, `<!-- docs-test: KIND -->` says what it is: `systemd` or `launchd` (a
 *   whole config for that service manager; the default in deploy-linux.md and deploy-macos.md), `fragment`
 *   (part of a config: schema only; the default in the README) or `not-a-config` (cloudflared's file). A
 *   whole config is loaded as printed under the environment its service manager gives the daemon: the
 *   rendered unit's Environment= and its LoadCredential= copies in $CREDENTIALS_DIRECTORY (the originals moved
 *   away), or the rendered plist's EnvironmentVariables with the files next to the config;
 * - every command line of the ```sh blocks that can run in a temp root, in the guide's order: `llm-sentinel`
 *   init / install / validate / check / status / run / --version, `install -d`, `sh -c '…'` (stdin gives the
 *   secret a user would type) and `chown`. `sudo` is dropped; absolute paths move into the temp root; the
 *   public names become two simulators (the witnesses and the other monitor: closed loopback ports), so
 *   nothing leaves 127.0.0.1. `install` gets `--output` inside the root. Where a guide shows a status command,
 *   the daemon is started first from what was installed (the unit's ExecStart with its environment, or the
 *   plist's ProgramArguments) and the command is retried until the first state is written;
 * - every relative link in README.md and docs/*.md, which must resolve to a file.
 * It prints how many blocks and commands it checked, and fails on fewer than the guides hold today.
 */
jest.setTimeout(240_000);

const ROOT = packageRoot();
type Kind = 'systemd' | 'launchd' | 'fragment' | 'not-a-config';
interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
  kind?: Kind;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    let marker: Kind | undefined;
    for (let j = i - 1; j >= 0 && j >= i - 3; j--) {
      const m = /^<!-- docs-test: (systemd|launchd|fragment|not-a-config)\b.*-->$/.exec((lines[j] as string).trim());
      if (m) marker = m[1] as Kind;
      if (m || (lines[j] as string).trim() !== '') break;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    out.push({ file, line: start + 1, lang: open[1] as string, text: `${body.join('\n')}\n`, kind: marker });
  }
  return out;
}

const GUIDES: Array<{ file: string; manager: 'systemd' | 'launchd'; defaultKind: Kind }> = [
  { file: 'README.md', manager: 'systemd', defaultKind: 'fragment' },
  { file: 'docs/deploy-linux.md', manager: 'systemd', defaultKind: 'systemd' },
  { file: 'docs/deploy-macos.md', manager: 'launchd', defaultKind: 'launchd' },
];

/** Shell words of one command (single and double quotes; no expansion needed by the guides' commands). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let cur = '';
  let last = -1;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const piece = m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? (m[3] as string);
    if (last !== -1 && m.index === last) cur += piece;
    else {
      if (last !== -1) out.push(cur);
      cur = piece;
    }
    last = re.lastIndex;
  }
  if (last !== -1) out.push(cur);
  return out;
}

interface World {
  root: string;
  primary: Simulator;
  fallback: Simulator;
  closedPort: number;
  listenPort: number;
  daemonUser?: string;
}

/** The guide's absolute paths, host names and ports, moved into the temp root and onto loopback. */
function relocate(text: string, w: World): string {
  return text
    .replace(/(^|[\s"'=:(,])(\/usr\/local\/etc\/llm-sentinel|\/usr\/local\/var\/(?:lib|log)\/llm-sentinel|\/etc\/llm-sentinel|\/var\/lib\/llm-sentinel|\/run\/llm-sentinel)/g, (_a, pre: string, p: string) => `${pre}${w.root}${p}`)
    .replace(/https:\/\/llm\.example\.com/g, w.primary.url)
    .replace(/https:\/\/fallback\.example\.com/g, w.fallback.url)
    .replace(/https:\/\/sentinel-(mac|oracle)\.example\.com/g, `http://127.0.0.1:${w.closedPort}`)
    .replace(/tcp:\/\/(1\.1\.1\.1|9\.9\.9\.9|8\.8\.8\.8):53/g, `tcp://127.0.0.1:${w.closedPort}`)
    .replace(/smtp\.example\.com(:\d+)?/g, `127.0.0.1:${w.closedPort}`)
    .replace(/127\.0\.0\.1:9470/g, `127.0.0.1:${w.listenPort}`)
    .replace(/\/opt\/homebrew\/(opt\/node@\d+\/)?bin\/node/g, process.execPath)
    .replace(/_llmsentinel/g, w.daemonUser ?? '_llmsentinel');
}

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function runArgv(argv: string[], env: NodeJS.ProcessEnv, cwd: string, input = ''): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out, err }));
    child.stdin.on('error', () => undefined); // a command that never reads its stdin (install -d) closes it: EPIPE
    child.stdin.end(input);
  });
}

/** The environment systemd gives the unit's process: Environment= lines, STATE_DIRECTORY, and credentials copied. */
function unitEnvironment(unit: string, w: World, credsDir: string): { env: NodeJS.ProcessEnv; argv: string[]; cwd: string; loaded: string[] } {
  const env: NodeJS.ProcessEnv = {};
  const loaded: string[] = [];
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  let argv: string[] = [];
  let cwd = w.root;
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'Environment') {
      const eq = value.indexOf('=');
      env[value.slice(0, eq)] = value.slice(eq + 1);
    } else if (key === 'LoadCredential') {
      const [name, source] = [value.slice(0, value.indexOf(':')), value.slice(value.indexOf(':') + 1)];
      copyFileSync(source, join(credsDir, name));
      loaded.push(name);
    } else if (key === 'StateDirectory') {
      env.STATE_DIRECTORY = `${w.root}/var/lib/${value}`;
      mkdirSync(env.STATE_DIRECTORY, { recursive: true });
    } else if (key === 'ExecStart') {
      argv = words(value);
    } else if (key === 'WorkingDirectory') {
      cwd = relocate(value, w);
      mkdirSync(cwd, { recursive: true });
    }
  }
  return { env: { ...env, CREDENTIALS_DIRECTORY: credsDir, PATH: process.env.PATH }, argv, cwd, loaded };
}

function plistEnvironment(plistText: string, w: World): { env: NodeJS.ProcessEnv; argv: string[]; cwd: string } {
  const p = parsePlist(relocate(plistText, w)) as Record<string, unknown>;
  const env = { ...(p.EnvironmentVariables as Record<string, string>) };
  if (env.STATE_DIRECTORY) mkdirSync(env.STATE_DIRECTORY, { recursive: true });
  const cwd = p.WorkingDirectory as string;
  mkdirSync(cwd, { recursive: true });
  return { env, argv: p.ProgramArguments as string[], cwd };
}

/** The credential names a config uses. */
const credentialsOf = (text: string): string[] => [...text.matchAll(/\{ credential: ([A-Za-z0-9_.-]+) \}/g)].map((m) => m[1] as string);

const counts = { yaml: 0, whole: 0, fragments: 0, other: 0, commands: 0, links: 0 };
const ranCommands: string[] = [];

describe('the guides, followed to the letter in a temp root', () => {
  const daemons: ChildProcess[] = [];
  const sims: Simulator[] = [];
  const roots: string[] = [];
  afterAll(async () => {
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
    await Promise.all(sims.map((s) => s.close()));
    for (const r of roots) rmSync(r, { recursive: true, force: true });
    process.stdout.write(
      `docs test: ${counts.yaml} YAML blocks (${counts.whole} whole configs under their service manager, ${counts.fragments} fragments, ${counts.other} not configs), ` +
        `${counts.commands} commands run, ${counts.links} relative links resolved\n${ranCommands.map((c) => `  ran ${c}`).join('\n')}\n`,
    );
  });

  const nobody = spawnSync('id', ['-u', 'nobody']).status === 0 && process.getuid?.() === 0 ? 'nobody' : undefined;

  test.each(GUIDES)('$file', async ({ file, manager, defaultKind }) => {
    if (manager === 'launchd' && !nobody) {
      // init --launchd gives the secret files to the daemon's account: the test plays it with root and nobody.
      process.stderr.write(`docs test: ${file} skipped: needs root and a nobody account to play the launchd account\n`);
      return;
    }
    const root = mkdtempSync(join(tmpdir(), 'docs-'));
    roots.push(root);
    chmodSync(root, 0o755); // the launchd account must get through it, as through /usr/local
    const primary = await startSimulator();
    const fallback = await startSimulator({ models: ['qwen3:4b'] });
    sims.push(primary, fallback);
    const w: World = { root, primary, fallback, closedPort: await freePort(), listenPort: await freePort(), daemonUser: manager === 'launchd' ? nobody : undefined };
    const configPath = `${root}${TARGET_DEFAULTS[manager].config}`;
    const env: NodeJS.ProcessEnv = { PATH: `${dirname(cliPath())}/../node_modules/.bin:${process.env.PATH ?? ''}`, HOME: root };
    let lastInstalled: string | undefined;
    let daemon: ChildProcess | undefined;
    let ranHere = 0;
    const cli = (args: string[], input = '', user?: string) => runArgv([...(user ? ['setpriv', '--reuid', user, '--regid', 'nogroup', '--clear-groups'] : []), process.execPath, cliPath(), ...args], env, root, input);

    const startDaemon = async (): Promise<void> => {
      if (daemon) return;
      let start: { env: NodeJS.ProcessEnv; argv: string[]; cwd: string };
      if (manager === 'systemd' && lastInstalled) {
        const s = unitEnvironment(readFileSync(lastInstalled, 'utf8'), w, join(root, 'run', 'credentials'));
        // What the unit's user could never read: the originals are moved away while it runs.
        const originals = join(dirname(configPath), 'credentials');
        if (existsSync(originals)) renameSync(originals, `${originals}.away`);
        start = s;
      } else if (manager === 'launchd' && lastInstalled) {
        start = plistEnvironment(readFileSync(lastInstalled, 'utf8'), w);
      } else {
        throw new Error(`${file}: a status command before anything was installed or run`);
      }
      const argv = w.daemonUser ? ['setpriv', '--reuid', w.daemonUser, '--regid', 'nogroup', '--clear-groups', ...start.argv] : start.argv;
      daemon = spawn(argv[0] as string, argv.slice(1), { env: start.env, cwd: start.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
      daemons.push(daemon);
    };

    for (const block of blocksOf(file)) {
      if (block.lang === 'yaml') {
        counts.yaml++;
        const kind = block.kind ?? defaultKind;
        const where = `${file}:${block.line}`;
        if (kind === 'not-a-config') {
          counts.other++;
          continue;
        }
        const raw = YAML.parse(block.text) as unknown;
        const schema = configSchema.safeParse(raw ?? {});
        if (!schema.success) throw new Error(`${where}: not a valid config: ${schema.error.message}`);
        if (kind === 'fragment') {
          counts.fragments++;
          continue;
        }
        counts.whole++;
        // The guide says: this is the whole config file. Its credentials exist (the guide's steps make them).
        mkdirSync(join(dirname(configPath), 'credentials'), { recursive: true, mode: 0o700 });
        for (const name of credentialsOf(block.text)) {
          const f = join(dirname(configPath), 'credentials', name);
          if (!existsSync(f)) writeFileSync(f, `docs-test-${name}\n`, { mode: 0o600 });
          if (w.daemonUser) spawnSync('chown', [w.daemonUser, f, dirname(f)]);
        }
        writeFileSync(configPath, relocate(block.text, w));
        // As printed, under the service manager's environment (install renders it from the same config).
        const asPrinted = join(dirname(configPath), 'as-printed.yaml');
        writeFileSync(asPrinted, block.text);
        const rendered = await cli(['install', kind, '--print', '--config', asPrinted, '--node', process.execPath]);
        expect({ where, code: rendered.code, err: rendered.code === 0 ? '' : rendered.err }).toEqual({ where, code: 0, err: '' });
        let serviceEnv: NodeJS.ProcessEnv;
        if (kind === 'systemd') {
          const u = unitEnvironment(rendered.out, w, join(root, `creds-${block.line}`));
          expect(u.loaded.sort()).toEqual([...new Set(credentialsOf(block.text))].sort());
          serviceEnv = u.env;
        } else {
          serviceEnv = { ...(parsePlist(rendered.out) as { EnvironmentVariables: Record<string, string> }).EnvironmentVariables };
        }
        // Under systemd the originals are out of reach: read them and the test fails.
        const originals = join(dirname(configPath), 'credentials');
        if (kind === 'systemd') renameSync(originals, `${originals}.away`);
        try {
          const c = loadConfig(asPrinted, serviceEnv);
          expect(c.nodes.length).toBeGreaterThanOrEqual(2);
        } catch (e) {
          throw new Error(`${where}: the config as printed does not load under ${kind}'s environment: ${(e as Error).message}`);
        } finally {
          if (kind === 'systemd') renameSync(`${originals}.away`, originals);
        }
        rmSync(asPrinted);
        continue;
      }
      if (block.lang !== 'sh') continue;
      for (const rawLine of block.text.split('\n')) {
        for (const segment of rawLine.replace(/\s+#\s.*$/, '').split(/\s*&&\s*/)) {
          let line = segment.trim();
          const exported = /^(?:read -rs (\w+)|export (.*))$/.exec(line);
          if (exported) {
            if (exported[1]) env[exported[1]] = `docs-test-${exported[1].toLowerCase()}`;
            else for (const [k, v] of (exported[2] as string).split(/\s+/).map((a) => a.split('='))) if (k && v !== undefined) env[k] = relocate(v, w);
            continue;
          }
          // `sudo -u ACCOUNT` runs as that account (setpriv), where the test can be it; plain sudo: as root.
          const asUser = /^sudo\s+-u\s+(\S+)/.exec(line)?.[1];
          line = line.replace(/^sudo\s+((--preserve-env=\S+|-u\s+\S+|-E)\s+)*/, '');
          const argv = words(relocate(line, w));
          const own = argv[0] === 'llm-sentinel' && /^(init|install|validate|check|status|run|--version|--help)$/.test(argv[1] ?? '');
          // Shell steps only where they touch nothing but the temp root (not /Library, not launchctl's plists).
          const local = ((argv[0] === 'install' && argv[1] === '-d') || (argv[0] === 'sh' && argv[1] === '-c') || argv[0] === 'chown') && argv.join(' ').includes(root) && argv.filter((a) => a.startsWith('/')).every((a) => a.startsWith(root));
          if (!own && !local) continue;
          counts.commands++;
          ranHere++;
          const what = `${file}: ${segment.trim()}`;
          ranCommands.push(what);
          if (argv[0] !== 'llm-sentinel') {
            const r = await runArgv(argv, env, root, 'docs-test-typed-secret\n');
            expect({ what, code: r.code, err: r.err }).toEqual({ what, code: 0, err: '' });
            continue;
          }
          const args = argv.slice(1);
          if (args[0] === 'init') args.push('--witness', `tcp://127.0.0.1:${primary.url.split(':').pop()}`, ...(w.daemonUser && args.includes('--launchd') ? ['--user', w.daemonUser] : []));
          if (args[0] === 'install') {
            lastInstalled = join(root, `installed-${ranHere}`);
            args.push('--output', lastInstalled);
          }
          if (args[0] === 'run') {
            const child = spawn(process.execPath, [cliPath(), ...args], { env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
            daemons.push(child);
            daemon = child;
            continue;
          }
          if (args[0] === 'status') {
            await startDaemon();
            let r: Ran = { code: null, out: '', err: '' };
            for (let t = 0; t < 150; t++) {
              r = await cli(args);
              if (r.code === 0 || daemon?.exitCode !== null) break;
              await sleep(200);
            }
            expect({ what, code: r.code, err: r.err }).toEqual({ what, code: 0, err: '' });
            expect(r.out).toMatch(/Preferred: (primary|fallback)/);
            continue;
          }
          const r = await cli(args, '', asUser !== undefined ? relocate(asUser, w) : undefined);
          expect({ what, code: r.code, err: r.code === 0 ? '' : r.err }).toEqual({ what, code: 0, err: '' });
        }
      }
    }
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon?.once('exit', r));
    }
    expect(ranHere).toBeGreaterThan(0);
  });

  test('every relative link in README.md and docs/ resolves to a file', () => {
    const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const dead: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)|href="([^"]+)"/g)) {
        const target = (m[1] ?? m[2]) as string;
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        counts.links++;
        if (!existsSync(resolve(ROOT, dirname(f), target.split('#')[0] as string))) dead.push(`${f}: ${target}`);
      }
    }
    expect(dead).toEqual([]);
  });

  test('the counts: every guide block and command was seen', () => {
    // Run after the guides (Jest runs a file's tests in order): fewer than today means the extraction broke.
    expect(counts.whole).toBeGreaterThanOrEqual(nobody ? 2 : 1);
    expect(counts.fragments).toBeGreaterThanOrEqual(2);
    expect(counts.commands).toBeGreaterThanOrEqual(nobody ? 25 : 15);
  });
});
