import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config';

const TWO_NODES = [
  { name: 'primary', url: 'https://llm.example.com', model: 'qwen3:4b' },
  { name: 'fallback', url: 'http://10.0.0.5:11434', model: 'qwen3:1.7b' },
];

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, env, { baseDir: '/etc/llm-sentinel' });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseConfig', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('defaults for everything but the node URLs', () => {
    const c = parseConfig({ nodes: TWO_NODES }, {}, { baseDir: dir });
    expect(c.probes.liveness).toEqual({ interval: 10_000, timeout: 3_000 });
    expect(c.probes.canary).toMatchObject({ interval: 60_000, timeout: 75_000, queueAllowance: 45_000, maxTokens: 8, keepAlive: '30m', prompt: 'Reply with the single word PONG.' });
    expect(c.probes.canary.expect.test('Pong.')).toBe(true);
    expect(c.decision).toEqual({ fall: 3, softFall: 4, rise: 2, fastInterval: 2_000, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000 });
    expect(c.nodes.map((n) => [n.name, n.priority, n.api])).toEqual([
      ['primary', 0, 'ollama'],
      ['fallback', 1, 'ollama'],
    ]);
    expect(c.instance.length).toBeGreaterThan(0);
    expect(c.http).toBeUndefined();
  });

  test('http: connection caps and timeouts default to values that hold under a one-address flood', () => {
    const c = parseConfig({ nodes: TWO_NODES, http: { listen: '127.0.0.1:9470' } }, {}, { baseDir: dir });
    expect(c.http).toMatchObject({ maxConnectionsPerAddress: 64, maxConnections: 512, timeouts: { headersMs: 5_000, requestMs: 10_000, keepAliveMs: 5_000 } });
    const tuned = parseConfig({ nodes: TWO_NODES, http: { listen: '127.0.0.1:9470', maxConnectionsPerAddress: 200, maxConnections: 2000, headersTimeout: '2s', requestTimeout: '3s', keepAliveTimeout: '1s' } }, {}, { baseDir: dir });
    expect(tuned.http).toMatchObject({ maxConnectionsPerAddress: 200, maxConnections: 2000, timeouts: { headersMs: 2_000, requestMs: 3_000, keepAliveMs: 1_000 } });
  });

  test('OLLAMA_PRIMARY_URL and OLLAMA_FALLBACK_URL alone make a working config', () => {
    const c = parseConfig(undefined, { OLLAMA_PRIMARY_URL: 'https://a.example.com/', OLLAMA_FALLBACK_URL: 'http://127.0.0.1:11434', STATE_DIRECTORY: '/var/lib/llm-sentinel' });
    expect(c.nodes.map((n) => [n.name, n.url])).toEqual([
      ['primary', 'https://a.example.com'],
      ['fallback', 'http://127.0.0.1:11434'],
    ]);
    expect(c.stateFile).toBe('/var/lib/llm-sentinel/state.json');
    expect(c.database).toBe('/var/lib/llm-sentinel/sentinel.db');
  });

  test('environment URLs override the file', () => {
    const c = parseConfig({ nodes: TWO_NODES }, { OLLAMA_FALLBACK_URL: 'http://other:11434' });
    expect(c.nodes[1]?.url).toBe('http://other:11434');
    expect(c.nodes[0]?.url).toBe('https://llm.example.com');
  });

  test('durations, regex and substring expectations', () => {
    const c = parseConfig({ nodes: TWO_NODES, probes: { liveness: { interval: '1m30s', timeout: 500 }, canary: { expect: 'ok' } }, decision: { failbackHold: '2h' } });
    expect(c.probes.liveness).toEqual({ interval: 90_000, timeout: 500 });
    expect(c.decision.failbackHold).toBe(7_200_000);
    expect(c.probes.canary.expect.test('OK then')).toBe(true);
    expect(c.probes.canary.expect.test('nope')).toBe(false);
  });

  test('secrets from a file, from an env variable and from NAME_FILE; they print as [redacted]', () => {
    const f = join(dir, 'cf-secret');
    writeFileSync(f, 'file-secret-value\n');
    writeFileSync(join(dir, 'token'), 'token-from-file');
    const c = parseConfig(
      { nodes: [{ ...TWO_NODES[0], headers: { 'CF-Access-Client-Secret': { file: f }, 'X-A': { env: 'A' }, 'X-B': { env: 'B' }, 'X-Plain': 'plain' } }, TWO_NODES[1]] },
      { A: 'from-env', B_FILE: join(dir, 'token') },
    );
    const h = c.nodes[0]!.headers;
    expect(h['CF-Access-Client-Secret']?.reveal()).toBe('file-secret-value');
    expect(h['X-A']?.reveal()).toBe('from-env');
    expect(h['X-B']?.reveal()).toBe('token-from-file');
    expect(JSON.stringify(c)).not.toMatch(/file-secret-value|from-env|token-from-file|plain"/);
    expect(String(h['X-A'])).toBe('[redacted]');
  });

  test('relative paths resolve against the config file folder', () => {
    const c = parseConfig({ nodes: TWO_NODES, stateFile: 'state.json', database: '/abs/db.sqlite' }, {}, { baseDir: dir });
    expect(c.stateFile).toBe(resolve(dir, 'state.json'));
    expect(c.database).toBe('/abs/db.sqlite');
  });

  test.each<[string, unknown, NodeJS.ProcessEnv, RegExp]>([
    ['unknown top-level key', { nodes: TWO_NODES, bogus: 1 }, {}, /^bogus: unknown key$/],
    ['unknown nested key', { nodes: TWO_NODES, probes: { liveness: { intervall: '1s' } } }, {}, /^probes\.liveness\.intervall: unknown key$/],
    ['wrong type', { nodes: TWO_NODES, decision: { fall: 'three' } }, {}, /^decision\.fall: /],
    ['fall < 1', { nodes: TWO_NODES, decision: { fall: 0 } }, {}, /^decision\.fall: .*>=1/],
    ['bad duration', { nodes: TWO_NODES, probes: { canary: { timeout: '30 seconds' } } }, {}, /^probes\.canary\.timeout: not a duration/],
    ['bad URL', { nodes: [{ name: 'p', url: 'llm.example.com' }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.url: must be an http/],
    ['ftp URL', { nodes: [{ name: 'p', url: 'ftp://x' }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.url: /],
    ['bad api', { nodes: [{ ...TWO_NODES[0], api: 'anthropic' }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.api: /],
    ['duplicate names', { nodes: [TWO_NODES[0], { ...TWO_NODES[1], name: 'primary' }] }, {}, /^nodes\[1\]\.name: duplicate node name "primary"$/],
    ['one node only', { nodes: [TWO_NODES[0]] }, {}, /^nodes: need at least 2 nodes/],
    ['missing URL', { nodes: [{ name: 'p' }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.url: required/],
    ['unreadable secret file', { nodes: [{ ...TWO_NODES[0], headers: { X: { file: '/nonexistent/secret' } } }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.headers\.X: cannot read secret file \/nonexistent\/secret \(ENOENT\)$/],
    ['unset secret env', { nodes: [{ ...TWO_NODES[0], headers: { X: { env: 'NOPE' } } }, TWO_NODES[1]] }, {}, /^nodes\[0\]\.headers\.X: environment variable NOPE \(or NOPE_FILE\) is not set$/],
    ['bad env URL', {}, { OLLAMA_PRIMARY_URL: 'not a url', OLLAMA_FALLBACK_URL: 'http://x' }, /^OLLAMA_PRIMARY_URL: must be an http/],
    ['bad regex', { nodes: TWO_NODES, probes: { canary: { expect: '/(/' } } }, {}, /^probes\.canary\.expect: invalid regular expression/],
    ['http beyond loopback without a token', { nodes: TWO_NODES, http: { listen: '0.0.0.0:9470' } }, {}, /^http\.token: required when http\.listen is not a loopback address/],
    ['bad http listen', { nodes: TWO_NODES, http: { listen: '9470' } }, {}, /^http\.listen: host:port/],
    ['http per-address cap above the total', { nodes: TWO_NODES, http: { listen: '127.0.0.1:9470', maxConnectionsPerAddress: 600 } }, {}, /^http\.maxConnectionsPerAddress: must not exceed http\.maxConnections/],
    ['http per-address cap of 0', { nodes: TWO_NODES, http: { listen: '127.0.0.1:9470', maxConnectionsPerAddress: 0 } }, {}, /^http\.maxConnectionsPerAddress: /],
    ['http request timeout below the header timeout', { nodes: TWO_NODES, http: { listen: '127.0.0.1:9470', headersTimeout: '8s', requestTimeout: '2s' } }, {}, /^http\.requestTimeout: must be at least http\.headersTimeout/],
    ['http header timeout not a duration', { nodes: TWO_NODES, http: { listen: '127.0.0.1:9470', headersTimeout: 'soon' } }, {}, /^http\.headersTimeout: not a duration/],
    ['staleAfter not above heartbeat', { nodes: TWO_NODES, state: { heartbeat: '10s', staleAfter: '5s' } }, {}, /^state\.staleAfter: must be longer/],
    ['negative maxTokens', { nodes: TWO_NODES, probes: { canary: { maxTokens: -1 } } }, {}, /^probes\.canary\.maxTokens: /],
  ])('rejects %s, naming the field', (_name, raw, env, pattern) => {
    const p = problems(raw, env);
    expect(p.some((line) => pattern.test(line))).toBe(true);
  });

  test('several problems are all listed', () => {
    const p = problems({ nodes: TWO_NODES, decision: { fall: 0, rise: 0 }, probes: { bogus: true } });
    expect(p.length).toBeGreaterThanOrEqual(3);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('YAML syntax errors name the file and line', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'nodes:\n  - name: a\n   url: [oops\n');
    expect(() => loadConfig(f, {})).toThrow(ConfigError);
    try {
      loadConfig(f, {});
    } catch (e) {
      expect((e as ConfigError).problems[0]).toMatch(new RegExp(`^${f}: YAML syntax error at line \\d+`));
    }
  });

  test('a missing file is one clear problem', () => {
    expect(() => loadConfig(join(dir, 'nope.yaml'), {})).toThrow(/cannot read config file \(ENOENT\)/);
  });

  test('config.example.yaml is valid once its secret file exists', () => {
    const secret = join(dir, 'cf');
    writeFileSync(secret, 's3cret');
    const text = readFileSync(resolve(__dirname, '../../config.example.yaml'), 'utf8');
    const f = join(dir, 'config.yaml');
    writeFileSync(f, text.replace('/run/credentials/llm-sentinel.service/cf-access-secret', secret));
    const c = loadConfig(f, {});
    expect(c.instance).toBe('oracle-1');
    expect(c.nodes[0]?.headers['CF-Access-Client-Secret']?.reveal()).toBe('s3cret');
  });
});
