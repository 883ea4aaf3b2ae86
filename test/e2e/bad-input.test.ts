import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSentinelClient } from '../../src/client';
import { cliPath, spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(120_000);

/** A stack trace in user-facing output is a bug: it means an error escaped its clear message. */
const STACK = /\n\s+at .+:\d+:\d+\)?/;
const GOOD_NODES = 'nodes:\n  - { name: primary, url: "http://127.0.0.1:9" }\n  - { name: fallback, url: "http://127.0.0.1:10" }\n';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [cliPath(), ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('bad input gets a clear message that names the problem, never a stack trace', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-bad-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** [name, config file text, pattern the output must match] — each run with `run`, expecting exit 78 and nothing started. */
  const configs: Array<[string, string, RegExp]> = [
    ['YAML syntax error', 'nodes:\n  - name: a\n   url: [oops\n', /YAML syntax error at line \d+/],
    ['duplicate YAML key', `${GOOD_NODES}instance: a\ninstance: b\n`, /YAML syntax error/],
    ['unknown top-level key', `${GOOD_NODES}bogus: 1\n`, /bogus: unknown key/],
    ['unknown nested key', `${GOOD_NODES}probes: { liveness: { intervall: 5s } }\n`, /probes\.liveness\.intervall: unknown key/],
    ['nodes not a list', 'nodes: primary\n', /nodes: /],
    ['node without url', 'nodes:\n  - { name: primary }\n  - { name: fallback, url: "http://x" }\n', /nodes\[0\]\.url: required/],
    ['url without scheme', 'nodes:\n  - { name: primary, url: "llm.example.com" }\n  - { name: fallback, url: "http://x" }\n', /nodes\[0\]\.url: must be an http/],
    ['ftp url', 'nodes:\n  - { name: primary, url: "ftp://x" }\n  - { name: fallback, url: "http://x" }\n', /nodes\[0\]\.url: must be an http/],
    ['bad directUrl', 'nodes:\n  - { name: primary, url: "http://x", directUrl: "nope" }\n  - { name: fallback, url: "http://y" }\n', /nodes\[0\]\.directUrl: /],
    ['bad node name', 'nodes:\n  - { name: "has space", url: "http://x" }\n  - { name: fallback, url: "http://y" }\n', /nodes\[0\]\.name: /],
    ['duplicate node names', 'nodes:\n  - { name: a, url: "http://x" }\n  - { name: a, url: "http://y" }\n', /nodes\[1\]\.name: duplicate node name "a"/],
    ['peer named like this instance', `${GOOD_NODES}instance: oracle\nhttp: { listen: "127.0.0.1:0", token: t }\npeers: { monitors: [{ name: oracle, url: "http://127.0.0.1:9", token: x }] }\n`, /peers\.monitors\[0\]\.name: "oracle" is this monitor's own instance name/],
    ['duplicate peer names', `${GOOD_NODES}instance: o\nhttp: { listen: "127.0.0.1:0", token: t }\npeers: { monitors: [{ name: m, url: "http://127.0.0.1:9", token: x }, { name: m, url: "http://127.0.0.1:8", token: x }] }\n`, /peers\.monitors\[1\]\.name: duplicate peer name "m"/],
    ['peer without a token', `${GOOD_NODES}instance: o\nhttp: { listen: "127.0.0.1:0", token: t }\npeers: { monitors: [{ name: m, url: "http://127.0.0.1:9" }] }\n`, /peers\.monitors\[0\]\.token: required/],
    ['only one node', 'nodes:\n  - { name: a, url: "http://x" }\n', /nodes: need at least 2 nodes/],
    ['unknown api', 'nodes:\n  - { name: a, url: "http://x", api: grpc }\n  - { name: b, url: "http://y" }\n', /nodes\[0\]\.api: /],
    ['bad header name', 'nodes:\n  - { name: a, url: "http://x", headers: { "Bad Header": v } }\n  - { name: b, url: "http://y" }\n', /nodes\[0\]\.headers\./],
    ['unreadable secret file', 'nodes:\n  - { name: a, url: "http://x", headers: { X-S: { file: /nonexistent/secret } } }\n  - { name: b, url: "http://y" }\n', /nodes\[0\]\.headers\.X-S: cannot read secret file \/nonexistent\/secret \(ENOENT\)/],
    ['secret from an unset env variable', 'nodes:\n  - { name: a, url: "http://x", headers: { X-S: { env: NOT_SET_ANYWHERE } } }\n  - { name: b, url: "http://y" }\n', /NOT_SET_ANYWHERE \(or NOT_SET_ANYWHERE_FILE\) is not set/],
    ['secret object with both keys', 'nodes:\n  - { name: a, url: "http://x", headers: { X-S: { file: /a, env: B } } }\n  - { name: b, url: "http://y" }\n', /nodes\[0\]\.headers\.X-S: /],
    ['bad duration', `${GOOD_NODES}probes: { liveness: { interval: "10 seconds" } }\n`, /probes\.liveness\.interval: not a duration/],
    ['negative duration', `${GOOD_NODES}probes: { canary: { timeout: -5 } }\n`, /probes\.canary\.timeout: must be at least/],
    ['interval too small', `${GOOD_NODES}probes: { liveness: { interval: 1ms } }\n`, /probes\.liveness\.interval: must be at least/],
    ['fall 0', `${GOOD_NODES}decision: { fall: 0 }\n`, /decision\.fall: /],
    ['negative rise', `${GOOD_NODES}decision: { rise: -1 }\n`, /decision\.rise: /],
    ['fractional fall', `${GOOD_NODES}decision: { fall: 2.5 }\n`, /decision\.fall: /],
    ['softFall below fall', `${GOOD_NODES}decision: { fall: 3, softFall: 2 }\n`, /decision\.softFall: must be at least decision\.fall/],
    ['fall as a string', `${GOOD_NODES}decision: { fall: "3" }\n`, /decision\.fall: /],
    ['maxTokens 0', `${GOOD_NODES}probes: { canary: { maxTokens: 0 } }\n`, /probes\.canary\.maxTokens: /],
    ['bad regex', `${GOOD_NODES}probes: { canary: { expect: "/(/" } }\n`, /probes\.canary\.expect: invalid regular expression/],
    ['bad keepAlive', `${GOOD_NODES}probes: { canary: { keepAlive: "-1" } }\n`, /probes\.canary\.keepAlive: /],
    ['jitter too large', `${GOOD_NODES}probes: { jitter: 2 }\n`, /probes\.jitter: /],
    ['staleAfter not above heartbeat', `${GOOD_NODES}state: { heartbeat: 10s, staleAfter: 5s }\n`, /state\.staleAfter: must be longer/],
    ['bad log level', `${GOOD_NODES}log: { level: loud }\n`, /log\.level: /],
    ['http beyond loopback without token', `${GOOD_NODES}http: { listen: "0.0.0.0:9470" }\n`, /http\.token: required when http\.listen is not a loopback/],
    ['http listen without port', `${GOOD_NODES}http: { listen: "127.0.0.1" }\n`, /http\.listen: host:port/],
    ['http port out of range', `${GOOD_NODES}http: { listen: "127.0.0.1:70000" }\n`, /http\.listen: port 70000 is out of range/],
    ['bad witness', `${GOOD_NODES}selfCheck: { witnesses: ["ping 127.0.0.1"] }\n`, /selfCheck\.witnesses\[0\]: /],
    ['exposure check without headers', 'nodes:\n  - { name: a, url: "http://x", exposureCheck: true }\n  - { name: b, url: "http://y" }\n', /nodes\[0\]\.exposureCheck: needs auth headers/],
    ['a list at the top level', '- a\n- b\n', /\(top level\)/],
  ];

  test.each(configs)('config: %s → exit 78, named, nothing started', (name, text, pattern) => {
    const sub = join(dir, name.replace(/\W+/g, '-'));
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'config.yaml');
    writeFileSync(file, `stateFile: state.json\ndatabase: sentinel.db\n${text}`.replace(/^stateFile: state.json\ndatabase: sentinel.db\n(- a)/, '$1'));
    const r = cli(['run', '--config', file]);
    expect(r.out).toMatch(pattern);
    expect(r.out).not.toMatch(STACK);
    expect(r.code).toBe(78);
    expect(existsSync(join(sub, 'state.json'))).toBe(false);
    expect(existsSync(join(sub, 'sentinel.db'))).toBe(false);
  });

  test('config: an unreadable config file', () => {
    const r = cli(['validate', '--config', join(dir, 'missing.yaml')]);
    expect(r).toMatchObject({ code: 78 });
    expect(r.out).toMatch(/missing\.yaml: cannot read config file \(ENOENT\)/);
  });

  test('config: a bad OLLAMA_PRIMARY_URL', () => {
    const r = cli(['validate'], { OLLAMA_PRIMARY_URL: 'not a url', OLLAMA_FALLBACK_URL: 'http://x' });
    expect(r.code).toBe(78);
    expect(r.out).toMatch(/OLLAMA_PRIMARY_URL: must be an http/);
  });

  /** [args, pattern] — CLI flags: exit 64 with the flag named. */
  const flags: Array<[string[], RegExp]> = [
    [['run', '--bogus'], /Unknown option '--bogus'/],
    [['check', '--config'], /--config/],
    [['status', '--state', 'a', '--config', 'b'], /give --config or --state, not both/],
    [['simulate', '--port', 'eighty'], /--port must be a port number 0-65535, got "eighty"/],
    [['simulate', '--fault', 'meteor'], /--fault: unknown fault "meteor"/],
    [['simulate', '--token-delay', 'soon'], /--token-delay must be a duration/],
    [['install', 'windows'], /windows/],
    [['install', 'systemd', '--user', 'bad user;rm'], /--user/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];

  test.each(flags)('flags: llm-sentinel %p → exit 64, named', (args, pattern) => {
    const r = cli(args);
    expect(r.out).toMatch(pattern);
    expect(r.out).not.toMatch(STACK);
    expect(r.code).toBe(64);
  });

  /** Hostile state files given to the client: never a throw, configured order, a reason that says why. */
  const hostile: Array<[string, string, RegExp]> = [
    ['empty file', '', /not JSON|invalid/],
    ['not JSON', '<html>', /not JSON/],
    ['a JSON array', '[]', /invalid state/],
    ['wrong schema version', '{"schemaVersion":99}', /unsupported schemaVersion 99/],
    ['preferred url is javascript:', JSON.stringify({ schemaVersion: 1, updatedAt: new Date().toISOString(), staleAfterMs: 30000, monitor: { instance: 'x', version: '1', pid: 1, startedAt: new Date().toISOString() }, preferred: { name: 'p', url: 'javascript:alert(1)', model: 'm', api: 'ollama' }, allDown: false, nodes: [] }), /invalid state/],
    ['deeply nested', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, /invalid state|not JSON/],
    ['__proto__ pollution', '{"schemaVersion":1,"__proto__":{"polluted":true}}', /invalid state/],
    ['status of the wrong type', '{"schemaVersion":1,"nodes":[{"status":7}]}', /invalid state/],
  ];

  test.each(hostile)('client: hostile state file (%s) → configured order, stale, no throw', async (_name, text, pattern) => {
    const f = join(dir, `hostile-${_name.replace(/\W+/g, '-')}.json`);
    writeFileSync(f, text);
    const client = createSentinelClient({ stateFile: f, nodes: [{ name: 'primary', url: 'http://127.0.0.1:9' }, { name: 'fallback', url: 'http://127.0.0.1:10' }], env: {}, reports: false });
    const ep = await client.getPreferredEndpoint();
    expect(ep).toMatchObject({ name: 'primary', url: 'http://127.0.0.1:9', stale: true, source: 'config' });
    expect(ep.reason).toMatch(pattern);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('client: a state file that cannot be read (a folder) → configured order, no throw', async () => {
    const f = join(dir, 'a-folder.json');
    mkdirSync(f);
    chmodSync(f, 0o755);
    const client = createSentinelClient({ stateFile: f, nodes: [{ name: 'primary', url: 'http://127.0.0.1:9' }], env: {}, reports: false });
    await expect(client.getPreferredEndpoint()).resolves.toMatchObject({ stale: true, source: 'config' });
  });

  describe('HTTP bodies to POST /report (the real daemon)', () => {
    let nodes: TwoNodes;
    let primary: Simulator;
    let fallback: Simulator;
    let daemon: DaemonProcess;
    let base: string;
    beforeAll(async () => {
      nodes = await startTwoNodes('sentinel-bad-http-');
      ({ primary, fallback } = nodes);
      const sub = nodes.dir;
      const config = writeFastConfig(sub, primary.url, fallback.url, 'http: { listen: "127.0.0.1:0" }\n');
      daemon = spawnDaemon(['run', '--config', config]);
      await waitForState(join(sub, 'state.json'), (s) => statusOf(s, 'primary') === 'up', 15_000);
      base = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*HTTP API listening/.exec(daemon.output())?.[1] ?? '';
      expect(base).not.toBe('');
    });
    afterAll(async () => {
      await daemon.stop();
      await nodes.close();
    });

    const bodies: Array<[string, string, string, number, RegExp]> = [
      ['not JSON', 'application/json', '{node: primary', 400, /body is not valid JSON/],
      ['a JSON string', 'application/json', '"primary"', 400, /body must be a JSON object/],
      ['missing node', 'application/json', '{"reason":"timeout"}', 400, /node: required, one of: primary, fallback/],
      ['unknown node', 'application/json', '{"node":"mars","reason":"timeout"}', 400, /node: unknown node "mars"; valid nodes: primary, fallback/],
      ['reason not a string', 'application/json', '{"node":"primary","reason":42}', 400, /reason: expected a short string/],
      ['reason too long', 'application/json', JSON.stringify({ node: 'primary', reason: 'x'.repeat(500) }), 400, /reason: expected a short string/],
      ['detail not a string', 'application/json', '{"node":"primary","reason":"timeout","detail":{}}', 400, /detail: expected a string/],
      ['wrong content type', 'text/plain', '{"node":"primary","reason":"timeout"}', 415, /application\/json/],
      ['too large', 'application/json', JSON.stringify({ node: 'primary', reason: 'timeout', detail: 'x'.repeat(100_000) }), 413, /larger than 4096 bytes/],
    ];

    test.each(bodies)('%s', async (_name, type, body, status, pattern) => {
      const res = await fetch(`${base}/report`, { method: 'POST', headers: { 'content-type': type }, body });
      const text = await res.text();
      expect(res.status).toBe(status);
      const message = (JSON.parse(text) as { error: string }).error;
      expect(message).toMatch(pattern);
      expect(text).not.toMatch(STACK);
    });

    test('the daemon is still healthy after all that', async () => {
      const res = await fetch(`${base}/healthz`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });
  });
});
