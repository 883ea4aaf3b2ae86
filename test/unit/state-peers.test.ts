import { initialState, type MonitorState } from '../../src/core/decide';
import type { PeerView } from '../../src/core/peers';
import { publishedPeers } from '../../src/peers/publish';
import { buildPublishedState } from '../../src/state/build';
import { parseState } from '../../src/state/validate';

const T0 = Date.UTC(2026, 10, 30, 9, 0);
const nodes = [
  { name: 'primary', url: 'https://ollama-mac.example.com', model: 'qwen3:4b', api: 'ollama' as const, priority: 0 },
  { name: 'fallback', url: 'https://oracle-vm.example.com', model: 'qwen3:1.7b', api: 'ollama' as const, priority: 1 },
];
const monitor = { instance: 'oracle', version: '0.1.0', pid: 42, startedAt: T0 - 3_600_000 };

/** oracle's own view: the primary's public URL answers 530 (tunnel down); its direct URL (from the Mac) would explain it. */
function oracleView(): MonitorState {
  const s = initialState(nodes, { wall: T0, mono: 0 });
  return {
    ...s,
    preferred: 'fallback',
    nodes: s.nodes.map((n) =>
      n.name === 'primary'
        ? { ...n, status: 'down', statusReason: 'cloudflare_tunnel_down', since: T0, lastError: { reason: 'cloudflare_tunnel_down', message: '530 from Cloudflare (error 1033)', at: T0, cause: 'tunnel' } }
        : { ...n, status: 'up', statusReason: 'ok', since: T0 },
    ),
  };
}

/** mac, next to the primary, says it is up (it reaches Ollama on localhost). */
const macSays: PeerView = {
  name: 'mac',
  lastOkAt: T0 - 2_000,
  watchingSince: T0 - 3_600_000,
  lastError: null,
  report: {
    protocol: 1,
    instance: 'mac',
    version: '0.1.0',
    startedAt: new Date(T0 - 7_200_000).toISOString(),
    at: new Date(T0 - 2_000).toISOString(),
    rank: ['mac', 'oracle'],
    network: { monitorOffline: false, witnesses: 2 },
    nodes: [
      { name: 'primary', status: 'up', since: new Date(T0 - 7_000_000).toISOString(), reason: 'ok', cause: null },
      { name: 'fallback', status: 'up', since: new Date(T0 - 7_000_000).toISOString(), reason: 'ok', cause: null },
    ],
    outages: [],
    sent: [],
  },
};

describe('state file: peers[] and disagreement', () => {
  test('when views disagree, nodes[] and preferred keep this monitor\'s public-path verdict; the peer\'s view is in peers[] as it said it', () => {
    const doc = buildPublishedState(oracleView(), nodes, monitor, T0, 30_000, publishedPeers([macSays], T0, 60_000));
    const r = parseState(JSON.stringify(doc));
    if (!r.ok) throw new Error(r.error);
    // The public path is the truth for traffic: apps go through it, so the primary is down for them.
    expect(r.state.preferred.name).toBe('fallback');
    expect(r.state.nodes.find((n) => n.name === 'primary')).toMatchObject({ status: 'down', statusReason: 'cloudflare_tunnel_down', lastError: { cause: 'tunnel' } });
    // The peer's local view explains the cause (Ollama itself answers), and is never merged into nodes[].
    expect(r.state.peers).toEqual([
      {
        name: 'mac',
        lastSeen: new Date(T0 - 2_000).toISOString(),
        silent: false,
        nodes: [
          { name: 'primary', status: 'up', since: new Date(T0 - 7_000_000).toISOString(), reason: 'ok', cause: null },
          { name: 'fallback', status: 'up', since: new Date(T0 - 7_000_000).toISOString(), reason: 'ok', cause: null },
        ],
      },
    ]);
  });

  test('a silent peer keeps its last verdict and says silent; one never heard from has lastSeen null and no nodes', () => {
    const peers = publishedPeers([macSays, { name: 'pi', lastOkAt: null, watchingSince: T0 + 30_000, lastError: 'ECONNREFUSED', report: null }], T0 + 60_000, 60_000);
    expect(peers.map((p) => [p.name, p.silent, p.lastSeen, p.nodes.length])).toEqual([
      ['mac', true, new Date(T0 - 2_000).toISOString(), 2],
      ['pi', false, null, 0],
    ]);
  });

  test('documents without peers (older monitors) still parse; a malformed peers section is refused naming the field', () => {
    const doc = buildPublishedState(oracleView(), nodes, monitor, T0, 30_000);
    expect('peers' in doc).toBe(false);
    expect(parseState(JSON.stringify(doc)).ok).toBe(true);
    expect(parseState(JSON.stringify({ ...doc, peers: [{ name: 'mac', lastSeen: null, silent: 'no', nodes: [] }] }))).toEqual({ ok: false, error: 'invalid state: peers[0].silent: expected a boolean, got string' });
    expect(parseState(JSON.stringify({ ...doc, peers: [{ name: 'mac', lastSeen: null, silent: false, nodes: [{ name: 'primary', status: 'sideways', since: 'x', reason: '', cause: null }] }] }))).toMatchObject({ ok: false, error: expect.stringContaining('peers[0].nodes[0].status') });
  });
});
