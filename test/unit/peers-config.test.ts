import { ConfigError, parseConfig } from '../../src/config';

const NODES = [
  { name: 'primary', url: 'https://ollama-mac.example.com', directUrl: 'http://mac-mini.lan:11434', model: 'qwen3:4b' },
  { name: 'fallback', url: 'https://oracle-vm.example.com:11434', model: 'qwen3:1.7b' },
];
const HTTP = { listen: '0.0.0.0:9470', token: 'own-token' };
const base = (peers: unknown, extra: Record<string, unknown> = {}) => ({ instance: 'oracle', nodes: NODES, http: HTTP, peers, ...extra });

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, {}, { baseDir: '/etc/llm-sentinel' });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('peers config', () => {
  test('peer security: peers.token (a secret) serves every peer without its own token; per-peer headers are secrets; insecure allows plain http', () => {
    const c = parseConfig(
      base({
        token: 'shared-peer-tok',
        monitors: [{ name: 'mac-mini', url: 'http://10.0.0.5:9470', insecure: true, headers: { 'CF-Access-Client-Id': 'id.access', 'CF-Access-Client-Secret': 'cf-secret-9' } }],
      }),
    );
    expect(c.peers?.token?.reveal()).toBe('shared-peer-tok');
    expect(c.peers?.monitors[0]?.token.reveal()).toBe('shared-peer-tok');
    expect(c.peers?.monitors[0]?.headers?.['cf-access-client-secret']?.reveal()).toBe('cf-secret-9');
    expect(JSON.stringify(c.peers)).not.toMatch(/shared-peer-tok|cf-secret-9/);
  });

  test('defaults: interval 10s, silentAfter 60s, timeout 15s (independent of interval), takeoverAfter 20s, rank sorted by name; a token is a secret', () => {
    const c = parseConfig(base({ monitors: [{ name: 'mac-mini', url: 'https://sentinel-mac.example.com/', token: 'peer-tok' }] }));
    expect(c.peers).toMatchObject({ interval: 10_000, silentAfter: 60_000, timeout: 15_000, takeoverAfter: 20_000, rank: ['mac-mini', 'oracle'] });
    expect(c.peers?.token).toBeUndefined();
    expect(c.peers?.monitors[0]).toMatchObject({ name: 'mac-mini', url: 'https://sentinel-mac.example.com' });
    expect(JSON.stringify(c.peers)).not.toContain('peer-tok');
    expect(c.peers?.monitors[0]?.token.reveal()).toBe('peer-tok');
  });

  test('shared host: from sharesHostWith, else inferred from a node URL with the same host name, never from loopback', () => {
    const c = parseConfig(
      base({
        monitors: [
          { name: 'mac-mini', url: 'http://mac-mini.lan:9470', token: 't1', insecure: true },
          { name: 'other', url: 'http://127.0.0.1:9471', token: 't2' },
          { name: 'third', url: 'https://x.example.net', token: 't3', sharesHostWith: 'fallback' },
        ],
        rank: ['mac-mini', 'oracle', 'other', 'third'],
      }),
    );
    expect(c.peers?.monitors.map((m) => [m.name, m.sharesHostWith, m.sharedHostFrom])).toEqual([
      ['mac-mini', 'primary', 'url'],
      ['other', undefined, undefined],
      ['third', 'fallback', 'config'],
    ]);
    expect(c.peers?.rank).toEqual(['mac-mini', 'oracle', 'other', 'third']);
  });

  test.each([
    ['a peer named like this instance', base({ monitors: [{ name: 'oracle', url: 'https://a.example.com', token: 't' }] }), "peers.monitors[0].name: \"oracle\" is this monitor's own instance name; a monitor cannot be its own peer"],
    [
      'duplicate peer names',
      base({ monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }, { name: 'mac', url: 'https://b.example.com', token: 't' }] }),
      'peers.monitors[1].name: duplicate peer name "mac"',
    ],
    ['a peer without a token', base({ monitors: [{ name: 'mac', url: 'https://a.example.com' }] }), "peers.monitors[0].token: required (the peer's peers.token or http.token; its /peer never answers without one), or set peers.token shared by all"],
    ['a plain-http peer on another host', base({ monitors: [{ name: 'mac', url: 'http://mac.example.com:9470', token: 't' }] }), 'peers.monitors[0].url: https:// required for a peer on another host (its token would cross the network in clear); write insecure: true to allow http://mac.example.com:9470'],
    ['a poll deadline not shorter than silentAfter', base({ timeout: '60s', monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }] }), 'peers.timeout: must be shorter than peers.silentAfter'],
    ['a token from an unset variable', base({ monitors: [{ name: 'mac', url: 'https://a.example.com', token: { env: 'PEER_TOKEN' } }] }), 'peers.monitors[0].token: environment variable PEER_TOKEN (or PEER_TOKEN_FILE) is not set'],
    ['peers without http', { instance: 'oracle', nodes: NODES, peers: { monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }] } }, 'http: required with peers (peers poll each other at GET /peer on the HTTP API)'],
    [
      'peers on a loopback API without its own token',
      { instance: 'oracle', nodes: NODES, http: { listen: '127.0.0.1:9470' }, peers: { monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }] } },
      'http.token or peers.token: required with peers (/peer needs a token, even from loopback)',
    ],
    ['silentAfter not longer than interval', base({ interval: '10s', silentAfter: '10s', monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }] }), 'peers.silentAfter: must be longer than peers.interval'],
    ['a rank missing this instance', base({ rank: ['mac'], monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't' }] }), 'peers.rank: must list "oracle" (this instance and every peer, best first)'],
    ['sharesHostWith naming no node', base({ monitors: [{ name: 'mac', url: 'https://a.example.com', token: 't', sharesHostWith: 'gpu' }] }), 'peers.monitors[0].sharesHostWith: no node named "gpu"'],
    ['no monitors', base({ monitors: [] }), 'peers.monitors: list at least one peer monitor (or leave peers out)'],
  ])('%s is refused, naming the field', (_what, raw, problem) => {
    expect(problems(raw)).toContain(problem);
  });
});
