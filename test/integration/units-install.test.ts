import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/install';
import type { CliIo } from '../../src/cli/io';
import { fragilePaths, unreachablePaths } from '../../src/install/values';
import { parsePlist } from '../helpers/plist';

/** A CliIo whose output is kept in strings. */
function captureIo(): CliIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    ({
      write(chunk: string | Uint8Array): boolean {
        append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, out: () => out, err: () => err };
}

let dir: string;
let cli: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'install-'));
  cli = join(dir, 'cli.js');
  writeFileSync(cli, '#!/usr/bin/env node\n');
  config = join(dir, 'config.yaml');
  writeFileSync(config, 'nodes: []\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function install(...argv: string[]) {
  const io = captureIo();
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('llm-sentinel install --print', () => {
  test('systemd: prints only the unit, with this node, the cli and the absolute config path', async () => {
    const r = await install('systemd', '--print', '--config', config, '--cli', cli);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# llm-sentinel/);
    expect(r.out).toContain(`\nExecStart=${process.execPath} ${cli} run --config ${config}\n`);
    expect(r.out).toContain('\nUser=llm-sentinel\n');
    expect(r.out).not.toContain('Next:');
    expect(r.err).toBe('');
  });

  test('launchd: prints a plist for the given user', async () => {
    const r = await install('launchd', '--print', '--config', config, '--cli', cli, '--user', '_sentinel');
    expect(r.code).toBe(0);
    const plist = parsePlist(r.out) as Record<string, unknown>;
    expect(plist.ProgramArguments).toEqual([process.execPath, cli, 'run', '--config', config]);
    expect(plist.UserName).toBe('_sentinel');
  });

  test('notes a config that does not exist yet, on stderr', async () => {
    const missing = join(dir, 'later.yaml');
    const r = await install('systemd', '--print', '--config', missing, '--cli', cli);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`--config ${missing}\n`);
    expect(r.err).toContain(`${missing} does not exist yet`);
  });
});

describe('llm-sentinel install refuses bad input with exit 64', () => {
  test.each([
    ['a user name with a space', ['systemd', '--user', 'bad user'], /not a valid account name/],
    ['a user name that is a command', ['systemd', '--user', '$(reboot)'], /not a valid account name/],
    ['a user name starting with a dash', ['launchd', '--user', '-x'], /not a valid account name|argument missing|ambiguous/],
    ['root', ['systemd', '--user', 'root'], /needs no privileges/],
    ['an unknown target', ['upstart'], /unknown target 'upstart'/],
    ['no target', [], /systemd or .*launchd/],
    ['an unknown flag', ['systemd', '--frobnicate'], /frobnicate/],
    ['--print with --output', ['systemd', '--print', '--output', '/tmp/x.service'], /exclude each other/],
    ['a config path with a newline', ['systemd', '--config', '/etc/a\nExecStartPre=/bin/sh', '--print'], /control character/],
    ['a node that does not exist', ['systemd', '--print', '--node', '/nonexistent/node'], /does not exist/],
  ])('%s', async (_what, argv, message) => {
    const r = await install(...argv, '--cli', cli);
    expect(r.code).toBe(64);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});

describe('llm-sentinel install --output', () => {
  test('writes a 0644 file, prints the next commands, and is idempotent', async () => {
    const dest = join(dir, 'llm-sentinel.service');
    const first = await install('systemd', '--config', config, '--cli', cli, '--output', dest);
    expect(first.code).toBe(0);
    expect(statSync(dest).mode & 0o777).toBe(0o644);
    expect(readFileSync(dest, 'utf8')).toContain(`ExecStart=${process.execPath} ${cli} run --config ${config}`);
    expect(first.out).toContain(`wrote ${dest}`);
    expect(first.out).toContain('sudo systemctl daemon-reload');
    expect(first.out).toContain('sudo systemctl enable --now llm-sentinel');
    expect(first.out).toContain('journalctl -u llm-sentinel -f');
    // Not in /etc/systemd/system: systemd has to be told where it is.
    expect(first.out).toContain(`sudo systemctl link ${dest}`);

    const again = await install('systemd', '--config', config, '--cli', cli, '--output', dest);
    expect(again.code).toBe(0);
    expect(again.out).toContain('already up to date');
  });

  test('refuses to replace a different file without --force (exit 73), replaces it with --force', async () => {
    const dest = join(dir, 'com.llm-sentinel.plist');
    writeFileSync(dest, 'hand-edited\n');
    const refused = await install('launchd', '--config', config, '--cli', cli, '--output', dest);
    expect(refused.code).toBe(73);
    expect(refused.err).toMatch(/exists and differs.*--force/);
    expect(readFileSync(dest, 'utf8')).toBe('hand-edited\n');

    const forced = await install('launchd', '--config', config, '--cli', cli, '--output', dest, '--force');
    expect(forced.code).toBe(0);
    expect((parsePlist(readFileSync(dest, 'utf8')) as Record<string, unknown>).Label).toBe('com.llm-sentinel');
    expect(forced.out).toContain(`sudo launchctl bootstrap system ${dest}`);
    expect(forced.out).toContain('sudo launchctl kickstart -k system/com.llm-sentinel');
    expect(forced.out).toContain('sudo tail -f /usr/local/var/log/llm-sentinel/*.log');
    expect(forced.out).toContain('launchctl print system/com.llm-sentinel');
  });

  test('a destination folder that does not exist is an error, not a crash', async () => {
    const r = await install('systemd', '--config', config, '--cli', cli, '--output', join(dir, 'missing', 'x.service'));
    expect(r.code).toBe(73);
    expect(r.err).toMatch(/cannot write .*ENOENT/);
  });
});

describe('paths the unit could not reach', () => {
  test('home folders are flagged for systemd (ProtectHome=yes), /Users for launchd', () => {
    const v = { node: '/root/.nvm/versions/node/v20/bin/node', cli: '/usr/lib/node_modules/llm-sentinel/dist/cli.js', config: '/home/me/config.yaml', user: 'x' };
    const systemd = unreachablePaths('systemd', v);
    expect(systemd).toHaveLength(2);
    expect(systemd[0]).toMatch(/ProtectHome/);
    expect(unreachablePaths('launchd', { ...v, node: '/opt/homebrew/bin/node', config: '/Users/me/config.yaml' })).toHaveLength(1);
    expect(unreachablePaths('systemd', { ...v, node: '/usr/bin/node', config: '/etc/llm-sentinel/config.yaml' })).toEqual([]);
  });

  test("a node inside Homebrew's Cellar is flagged: brew upgrade deletes it", () => {
    const v = { node: '/opt/homebrew/Cellar/node/22.11.0/bin/node', cli: '/opt/homebrew/lib/node_modules/llm-sentinel/dist/cli.js', config: '/usr/local/etc/llm-sentinel/config.yaml', user: '_llmsentinel' };
    expect(fragilePaths(v)[0]).toMatch(/--node \/opt\/homebrew\/opt\/node\/bin\/node,/);
    // A pinned major: its own opt link, not the unpinned formula's.
    expect(fragilePaths({ ...v, node: '/opt/homebrew/Cellar/node@22/22.11.0/bin/node' })[0]).toMatch(/--node \/opt\/homebrew\/opt\/node@22\/bin\/node,/);
    expect(fragilePaths({ ...v, node: '/opt/homebrew/bin/node' })).toEqual([]);
  });
});
