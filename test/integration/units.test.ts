import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderLaunchdPlist, renderSystemdUnit, systemdWord, xmlEscape } from '../../src/install/render';
import { TARGET_DEFAULTS, validateInstallValues, type InstallValues } from '../../src/install/values';
import { packageRoot } from '../../src/version';
import { parsePlist, PlistError, type PlistValue } from '../helpers/plist';

/** Goes in the config file; must never reach a rendered unit. */
const SECRET = 'sentinel-secret-7f3c9a1e5b';

const template = (t: 'systemd' | 'launchd') => readFileSync(join(packageRoot(), TARGET_DEFAULTS[t].template), 'utf8');

function analyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0', NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return r;
}

let dir: string;
let values: InstallValues;

beforeAll(() => {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`systemd-analyze is required for these tests and was not found (${probe.error?.message ?? probe.stderr}); on Debian/Ubuntu: apt-get install systemd`);
  }
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'units-'));
  mkdirSync(join(dir, 'lib', 'dist'), { recursive: true });
  const cli = join(dir, 'lib', 'dist', 'cli.js');
  writeFileSync(cli, '#!/usr/bin/env node\n');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `nodes:\n  - name: mac\n    url: https://ollama.example.com\n    headers:\n      CF-Access-Client-Secret: ${SECRET}\n  - name: oracle\n    url: http://10.0.0.2:11434\n`);
  values = { node: process.execPath, cli, config, user: 'llm-sentinel' };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A unit file named like the real one (verify and security want a valid unit name). */
function writeUnit(text: string): string {
  const unitDir = join(dir, 'units');
  mkdirSync(unitDir, { recursive: true });
  const path = join(unitDir, 'llm-sentinel.service');
  writeFileSync(path, text);
  return path;
}

describe('systemd unit', () => {
  test('the template has every placeholder and the rendered unit has none left', () => {
    const t = template('systemd');
    for (const p of ['@NODE@', '@CLI@', '@CONFIG@', '@USER@', '@CREDENTIALS@']) expect(t).toContain(p);
    expect(renderSystemdUnit(t, values)).not.toMatch(/@[A-Z][A-Z_]*@/);
  });

  test('rendered with real paths, it passes systemd-analyze verify without a single complaint', () => {
    const unit = renderSystemdUnit(template('systemd'), values);
    expect(unit).toContain(`\nExecStart=${process.execPath} ${values.cli} run --config ${values.config}\n`);
    const r = analyze(['verify', writeUnit(unit)]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    // With the LoadCredential=/SetCredential= pairs install adds for the config's credentials.
    const withCreds = analyze(['verify', writeUnit(renderSystemdUnit(template('systemd'), { ...values, credentials: ['http-token', 'peer-token'] }))]);
    expect({ status: withCreds.status, stderr: withCreds.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });

  test('verify catches a broken unit, so the check above means something', () => {
    const unit = renderSystemdUnit(template('systemd'), { ...values, node: join(dir, 'no-such-node') });
    const r = analyze(['verify', writeUnit(unit)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not executable|No such file/);
  });

  test('its security exposure is at most 2.0 (systemd-analyze security --offline)', () => {
    const r = analyze(['security', '--offline=true', '--no-pager', writeUnit(renderSystemdUnit(template('systemd'), values))]);
    const m = /Overall exposure level for llm-sentinel\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    if (!m) throw new Error(`no "Overall exposure level" line in:\n${r.stdout}\n${r.stderr}`);
    expect(Number(m[1])).toBeLessThanOrEqual(2.0);
  });

  test('keeps what the daemon and the lead asked for', () => {
    const unit = renderSystemdUnit(template('systemd'), values);
    const lines = unit.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    for (const l of [
      'Type=notify',
      'NotifyAccess=all',
      'WatchdogSec=60',
      'Restart=on-failure',
      'RestartPreventExitStatus=78',
      'TimeoutStopSec=10',
      'DynamicUser=yes',
      'User=llm-sentinel',
      'StateDirectory=llm-sentinel',
      'StateDirectoryMode=0700',
      'ConfigurationDirectory=llm-sentinel',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'UMask=0077',
    ]) {
      expect(lines).toContain(l);
    }
    // Nothing is loaded or set for secrets the config does not use (an always-set SMTP_PASSWORD_FILE once
    // turned a missing credential into an empty password that stopped the start).
    expect(lines.filter((l) => /Credential=|_FILE=/.test(l))).toEqual([]);
    // One LoadCredential= (with its empty default) for each credential the config uses, from next to the config.
    const withCreds = renderSystemdUnit(template('systemd'), { ...values, credentials: ['http-token', 'cf-access-secret'] }).split('\n');
    const dirOf = values.config.replace(/\/[^/]+$/, '');
    expect(withCreds.filter((l) => /^(Load|Set)Credential=/.test(l))).toEqual([
      `LoadCredential=cf-access-secret:${dirOf}/credentials/cf-access-secret`,
      'SetCredential=cf-access-secret:\\n',
      `LoadCredential=http-token:${dirOf}/credentials/http-token`,
      'SetCredential=http-token:\\n',
    ]);
    // V8's JIT needs writable-then-executable memory.
    expect(lines.some((l) => l.startsWith('MemoryDenyWriteExecute='))).toBe(false);
    // The nodes and the SMTP server can be anywhere.
    expect(lines.some((l) => l.startsWith('IPAddressDeny='))).toBe(false);
  });

  test('contains no secret from the config', () => {
    const unit = renderSystemdUnit(template('systemd'), values);
    expect(readFileSync(values.config, 'utf8')).toContain(SECRET);
    expect(unit).not.toContain(SECRET);
  });

  test('paths with spaces, %, $, quotes, backslashes and ; reach the process intact', () => {
    // verify checks that the executable exists after unquoting and specifier expansion, so a path that only
    // exists under its exact name proves the escaping round-trips.
    const odd = join(dir, 'odd dir %h $HOME ;x');
    mkdirSync(odd);
    symlinkSync(process.execPath, join(odd, 'node'));
    const oddConfig = join(dir, `cfg 100% "q" 'x' \\b $HOME.yaml`);
    const v = { ...values, node: join(odd, 'node'), config: oddConfig };
    expect(validateInstallValues('systemd', v)).toEqual([]);
    const unit = renderSystemdUnit(template('systemd'), v);
    expect(unit).toContain(`ExecStart=${systemdWord(v.node, true)} ${systemdWord(v.cli)} run --config ${systemdWord(oddConfig)}\n`);
    const r = analyze(['verify', writeUnit(unit)]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });

  test('systemdWord escapes specifiers, variables (not in the executable) and quotes when needed', () => {
    expect(systemdWord('/usr/bin/node', true)).toBe('/usr/bin/node');
    expect(systemdWord('/a/100%/b')).toBe('/a/100%%/b');
    expect(systemdWord('/a/$HOME/b')).toBe('/a/$$HOME/b');
    expect(systemdWord('/a/$HOME/b', true)).toBe('/a/$HOME/b');
    expect(systemdWord('/a b/c')).toBe('"/a b/c"');
    expect(systemdWord(`/a"b\\c`)).toBe(`"/a\\"b\\\\c"`);
  });

  test('refuses what cannot be written safely', () => {
    const problems = (v: Partial<InstallValues>) => validateInstallValues('systemd', { ...values, ...v });
    expect(problems({ config: '/etc/llm-sentinel/x\nExecStartPre=/bin/sh' })[0]).toMatch(/control character/);
    expect(problems({ config: 'relative/config.yaml' })[0]).toMatch(/absolute/);
    expect(problems({ node: '/opt/no"de' })[0]).toMatch(/quotes or backslashes/);
    expect(problems({ user: 'bad user' })[0]).toMatch(/not a valid account name/);
  });
});

describe('launchd plist', () => {
  const asDict = (v: PlistValue) => v as Record<string, PlistValue>;

  test('renders to a well-formed plist with the keys launchd needs, values intact', () => {
    const odd = { ...values, config: join(dir, `a&b <c> "d" 'e' -- f.yaml`), user: '_llmsentinel' };
    expect(validateInstallValues('launchd', odd)).toEqual([]);
    const text = renderLaunchdPlist(template('launchd'), odd);
    expect(text).not.toMatch(/@[A-Z][A-Z_]*@/);
    expect(text).not.toContain(SECRET);
    const plist = asDict(parsePlist(text));
    expect(plist.Label).toBe('com.llm-sentinel');
    expect(plist.ProgramArguments).toEqual([process.execPath, values.cli, 'run', '--config', odd.config]);
    expect(plist.UserName).toBe('_llmsentinel');
    expect(plist.RunAtLoad).toBe(true);
    expect(plist.KeepAlive).toEqual({ SuccessfulExit: false });
    expect(plist.ThrottleInterval).toBe(30);
    expect(plist.ExitTimeOut).toBe(10);
    expect(plist.ProcessType).toBe('Standard');
    expect(plist.WorkingDirectory).toBe('/usr/local/var/lib/llm-sentinel');
    expect(plist.StandardOutPath).toMatch(/^\/usr\/local\/var\/log\/llm-sentinel\/.+\.log$/);
    expect(plist.StandardErrorPath).toMatch(/^\/usr\/local\/var\/log\/llm-sentinel\/.+\.log$/);
    const env = asDict(plist.EnvironmentVariables as PlistValue);
    expect(env.NODE_ENV).toBe('production');
    expect(env.LLM_SENTINEL_CONFIG).toBe(odd.config);
    expect(typeof env.PATH).toBe('string');
  });

  test("python's plistlib (expat) reads it the same way", () => {
    const odd = { ...values, config: join(dir, `x&y<z>.yaml`) };
    const text = renderLaunchdPlist(template('launchd'), odd);
    const r = spawnSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: text, encoding: 'utf8' });
    if (r.error) throw new Error(`python3 is needed for this cross-check: ${r.error.message}`);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(parsePlist(text));
  });

  test('xmlEscape covers the five predefined entities', () => {
    expect(xmlEscape(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&apos;');
  });
});

describe('the plist test helper is strict', () => {
  const head = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';
  const wrap = (body: string) => `${head}<plist version="1.0">${body}</plist>\n`;

  test('parses every value type', () => {
    expect(
      parsePlist(wrap('<dict><key>s</key><string>a &amp; b&#33;</string><key>i</key><integer>-3</integer><key>r</key><real>1.5</real><key>t</key><true/><key>a</key><array><false/><date>2026-01-02T03:04:05Z</date><data>aGk=</data></array></dict>')),
    ).toEqual({ s: 'a & b!', i: -3, r: 1.5, t: true, a: [false, new Date('2026-01-02T03:04:05Z'), Buffer.from('hi')] });
  });

  test.each([
    ['a key without a value', '<dict><key>a</key></dict>'],
    ['two keys in a row', '<dict><key>a</key><key>b</key><string/></dict>'],
    ['a duplicate key', '<dict><key>a</key><true/><key>a</key><false/></dict>'],
    ['a raw ampersand', '<string>a & b</string>'],
    ['mismatched tags', '<string>a</strin>'],
    ['an unknown element', '<dict><key>a</key><bool>yes</bool></dict>'],
    ['a non-integer', '<integer>3.5</integer>'],
    ['two root values', '<true/><false/>'],
    ['text beside dict entries', '<dict>junk<key>a</key><true/></dict>'],
  ])('rejects %s', (_what, body) => {
    expect(() => parsePlist(wrap(body))).toThrow(PlistError);
  });

  test('rejects a missing DOCTYPE and "--" inside a comment', () => {
    expect(() => parsePlist('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><true/></plist>')).toThrow(/DOCTYPE/);
    expect(() => parsePlist(`${head}<!-- run --config x --><plist version="1.0"><true/></plist>`)).toThrow(/comment/);
  });
});
