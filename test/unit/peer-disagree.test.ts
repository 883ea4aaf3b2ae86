import { renderAlert } from '../../src/alerts/render';
import type { AlertKind, AlertPolicy, EventRule, PlannedAlert, PolicyInput } from '../../src/core/alert-types';
import { ALERT_KINDS } from '../../src/core/alert-types';
import { initialState, type MonitorState } from '../../src/core/decide';
import type { PeerAlertState } from '../../src/core/peer-alerts';
import { alertsForDisagreement, currentVerdicts, verdictsDiffer, type PeerVerdicts } from '../../src/core/peer-disagree';
import type { PeerReport, PeerView, Voice } from '../../src/core/peers';
import type { NodeStatus } from '../../src/core/status';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics } from '../../src/http/metrics';
import { openStorage } from '../../src/storage';

/*
 * Issue 22: a disagreement between two monitors about a node, lasting peers.disagreeAfter, is one alert
 * through the voice, and one when they agree again. A step table per tick: this monitor's verdict, the
 * peer's, whether the peer is current → the alerts planned.
 */
const T0 = Date.UTC(2026, 0, 1);
const S = 1_000;
const AFTER = 120 * S;
const rules = Object.fromEntries(ALERT_KINDS.map((k) => [k, { send: true, severity: 'warning' }])) as Record<AlertKind, EventRule>;
const POLICY: AlertPolicy = { reminderInterval: 0, flapping: { transitions: 0, window: 60 * S, settle: 60 * S }, events: rules, quiet: null };

function monitorState(primary: NodeStatus, reason = primary === 'down' ? 'cloudflare_tunnel_down' : 'ok'): MonitorState {
  const s = initialState(
    [
      { name: 'primary', priority: 0 },
      { name: 'fallback', priority: 1 },
    ],
    { wall: T0, mono: 0 },
  );
  return {
    ...s,
    nodes: s.nodes.map((n) => (n.name === 'primary' ? { ...n, status: primary, statusReason: reason, since: T0 } : { ...n, status: 'up', statusReason: 'ok', since: T0 })),
    preferred: primary === 'down' ? 'fallback' : 'primary',
    allDown: false,
  };
}

const voice = (self: string): Voice => ({ self, rank: ['mac', 'oracle'], live: new Set([self === 'mac' ? 'oracle' : 'mac']), known: true });

interface Tick {
  t: number;
  own: NodeStatus;
  peer: NodeStatus;
  current?: boolean;
  expect: string[];
}

function run(self: string, peer: string, ticks: Tick[]): { got: string[][]; alerts: PlannedAlert[] } {
  let memory: PeerAlertState = { [peer]: { silentSince: null } };
  const all: PlannedAlert[] = [];
  const got = ticks.map((k) => {
    const input: PolicyInput = { state: {}, monitor: monitorState(k.own), maintenance: new Map(), policy: POLICY, at: T0 + k.t, peers: { voice: voice(self), outages: new Map() } };
    const verdicts: PeerVerdicts[] = [{ name: peer, current: k.current ?? true, nodes: [{ name: 'primary', status: k.peer, since: new Date(T0).toISOString(), reason: k.peer === 'down' ? 'cloudflare_tunnel_down' : 'ok', cause: null }] }];
    const out = alertsForDisagreement(input, memory, verdicts, AFTER);
    memory = out.peers;
    all.push(...out.alerts);
    return out.alerts.map((a) => `${a.facts.kind}${a.suppressed ? `(${a.suppressed}${a.facts.heldBy ? ` by ${a.facts.heldBy}` : ''})` : ''}`);
  });
  return { got, alerts: all };
}

describe('alertsForDisagreement', () => {
  test.each([
    ['verdict', 'up', 'down', true],
    ['verdict', 'degraded', 'down', true],
    ['verdict', 'down', 'up', true],
    ['verdict', 'up', 'degraded', false],
    ['verdict', 'down', 'down', false],
    ['verdict', 'unknown', 'down', false],
  ] as const)('%s %s vs %s differ: %p', (_w, a, b, differ) => {
    expect(verdictsDiffer(a, b)).toBe(differ);
  });

  test.each<[string, Tick[]]>([
    [
      'a disagreement that lasts disagreeAfter: one alert, then one recovery when they agree',
      [
        { t: 0, own: 'up', peer: 'down', expect: [] },
        { t: 60 * S, own: 'up', peer: 'down', expect: [] },
        { t: 120 * S, own: 'up', peer: 'down', expect: ['monitorsDisagree'] },
        { t: 130 * S, own: 'up', peer: 'down', expect: [] },
        { t: 600 * S, own: 'up', peer: 'down', expect: [] },
        { t: 610 * S, own: 'up', peer: 'up', expect: ['monitorsAgree'] },
        { t: 620 * S, own: 'up', peer: 'up', expect: [] },
      ],
    ],
    [
      'an outage one monitor saw a few seconds before the other: nothing',
      [
        { t: 0, own: 'up', peer: 'down', expect: [] },
        { t: 20 * S, own: 'down', peer: 'down', expect: [] },
        { t: 200 * S, own: 'down', peer: 'down', expect: [] },
      ],
    ],
    [
      'a silent peer, or an unknown verdict, changes nothing: no recovery, no new start',
      [
        { t: 0, own: 'up', peer: 'down', expect: [] },
        { t: 125 * S, own: 'up', peer: 'down', expect: ['monitorsDisagree'] },
        { t: 130 * S, own: 'up', peer: 'up', current: false, expect: [] },
        { t: 140 * S, own: 'up', peer: 'unknown', expect: [] },
        { t: 150 * S, own: 'up', peer: 'down', expect: [] },
        { t: 160 * S, own: 'down', peer: 'down', expect: ['monitorsAgree'] },
      ],
    ],
  ])('%s', (_what, ticks) => {
    const { got } = run('mac', 'oracle', ticks);
    expect(got).toEqual(ticks.map((k) => k.expect));
  });

  test('both monitors plan it; one voice is the delivery gate\'s (core/peer-gate: matched by kind, node and time)', () => {
    const ticks: Tick[] = [
      { t: 0, own: 'down', peer: 'up', expect: [] },
      { t: 121 * S, own: 'down', peer: 'up', expect: [] },
    ];
    expect(run('mac', 'oracle', ticks.map((k) => ({ ...k, own: k.peer, peer: k.own }))).got).toEqual([[], ['monitorsDisagree']]);
    expect(run('oracle', 'mac', ticks).got).toEqual([[], ['monitorsDisagree']]);
  });

  test('the mail says which monitor sees what, and why', () => {
    const { alerts } = run('mac', 'oracle', [
      { t: 0, own: 'up', peer: 'down', expect: [] },
      { t: 120 * S, own: 'up', peer: 'down', expect: [] },
      { t: 300 * S, own: 'up', peer: 'up', expect: [] },
    ]);
    const [disagree, agree] = alerts.map((a) => renderAlert({ id: 1, instance: 'mac', facts: a.facts, threadOf: null }));
    expect(disagree?.subject).toBe('[llm-sentinel] monitors disagree about primary: mac sees up, oracle sees down (Cloudflare tunnel down)');
    expect(disagree?.text).toMatch(/path problem between oracle and primary/);
    expect(agree?.subject).toBe('[llm-sentinel] monitors agree again about primary after 5m00s: mac sees up, oracle sees up');
  });

  test('current verdicts: a silent peer or one whose own network is down is not current', () => {
    const report = (offline: boolean): PeerReport => ({
      protocol: 1,
      instance: 'oracle',
      version: '0',
      startedAt: new Date(T0).toISOString(),
      at: new Date(T0).toISOString(),
      rank: ['mac', 'oracle'],
      network: { monitorOffline: offline, witnesses: 2 },
      nodes: [],
      outages: [],
      sent: [],
    });
    const v = (lastOkAt: number | null, r: PeerReport | null): PeerView => ({ name: 'oracle', lastOkAt, watchingSince: T0 - 3_600 * S, lastError: null, report: r });
    expect(currentVerdicts([v(T0, report(false))], T0 + S, 60 * S)[0]?.current).toBe(true);
    expect(currentVerdicts([v(T0, report(true))], T0 + S, 60 * S)[0]?.current).toBe(false);
    expect(currentVerdicts([v(T0, report(false))], T0 + 61 * S, 60 * S)[0]?.current).toBe(false);
    expect(currentVerdicts([v(null, null)], T0, 60 * S)[0]?.current).toBe(false);
  });
});

describe('/metrics: a peer’s differing verdict per node', () => {
  test('peer status and disagreement series, read at scrape time', async () => {
    const m = createMetrics([{ name: 'primary', priority: 0 }], 'mac', '0.0.0');
    let peerSays: NodeStatus = 'down';
    let silent = false;
    m.watchPeerVerdicts(() => ({ nodes: [{ name: 'primary', status: 'up' }], peers: [{ name: 'oracle', silent, nodes: [{ name: 'primary', status: peerSays }] }] }));
    let text = await m.render();
    expect(text).toContain('llm_sentinel_peer_node_status{peer="oracle",node="primary",status="down"} 1');
    expect(text).toContain('llm_sentinel_peer_node_disagree{peer="oracle",node="primary",own="up",theirs="down"} 1');
    silent = true;
    text = await m.render();
    expect(text).toContain('llm_sentinel_peer_node_disagree{peer="oracle",node="primary",own="up",theirs="down"} 0');
    silent = false;
    peerSays = 'up';
    text = await m.render();
    expect(text).toContain('llm_sentinel_peer_node_disagree{peer="oracle",node="primary",own="up",theirs="up"} 0');
    expect(text).not.toContain('theirs="down"');
  });
});

describe('the disagreement memory survives a restart', () => {
  test('saved with the peer alerts in SQLite and read back; malformed entries are dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-disagree-'));
    try {
      const file = join(dir, 'sentinel.db');
      let st = openStorage(file);
      st.peers.save({ oracle: { silentSince: null, disagree: { primary: { since: T0, announced: true } } } }, T0);
      st.close();
      st = openStorage(file);
      expect(st.peers.load()).toEqual({ oracle: { silentSince: null, disagree: { primary: { since: T0, announced: true } } } });
      st.peers.save({ oracle: { silentSince: 5, disagree: { primary: { since: 'x', announced: 1 } as unknown as { since: number; announced: boolean } } } }, T0);
      expect(st.peers.load()).toEqual({ oracle: { silentSince: 5 } });
      st.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alertsForDisagreement under a seeded random schedule', () => {
  let planned = 0;
  test.each(Array.from({ length: 20 }, (_, i) => 1_000 + i))('seed %i: alerts alternate, each disagreement alert after disagreeAfter of it, none held at planning', (seed) => {
    let x = seed;
    const rnd = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const statuses: NodeStatus[] = ['up', 'degraded', 'down', 'unknown'];
    let mac: NodeStatus = 'up';
    let oracle: NodeStatus = 'up';
    let current = true;
    const ticks: Array<{ t: number; mac: NodeStatus; oracle: NodeStatus; current: boolean }> = [];
    for (let t = 0; t < 3_600 * S; t += 10 * S) {
      if (rnd() < 0.05) mac = statuses[Math.floor(rnd() * 4)] as NodeStatus;
      if (rnd() < 0.05) oracle = statuses[Math.floor(rnd() * 4)] as NodeStatus;
      if (rnd() < 0.02) current = !current;
      ticks.push({ t, mac, oracle, current });
    }
    const fromMac = run('mac', 'oracle', ticks.map((k) => ({ t: k.t, own: k.mac, peer: k.oracle, current: k.current, expect: [] })));
    const fromOracle = run('oracle', 'mac', ticks.map((k) => ({ t: k.t, own: k.oracle, peer: k.mac, current: k.current, expect: [] })));
    const where = `seed ${seed}`;
    planned += fromMac.alerts.length;
    // Alternation: disagree, agree, disagree, … on each monitor.
    for (const out of [fromMac, fromOracle]) {
      const kinds = out.alerts.map((a) => a.facts.kind);
      kinds.forEach((k, i) => expect({ where, i, k }).toEqual({ where, i, k: i % 2 === 0 ? 'monitorsDisagree' : 'monitorsAgree' }));
      // Each disagreement alert comes after at least disagreeAfter of it, and at a tick where they differ.
      for (const a of out.alerts.filter((z) => z.facts.kind === 'monitorsDisagree')) {
        expect({ where, long: (a.facts.durationMs ?? 0) >= AFTER }).toEqual({ where, long: true });
        const v = a.facts.views ?? [];
        expect({ where, differ: verdictsDiffer(v[0]?.status ?? 'unknown', v[1]?.status ?? 'unknown') }).toEqual({ where, differ: true });
      }
    }
    // Nothing is held at planning: every monitor queues every alert, and the delivery gate (core/peer-gate) sends
    // one copy, matching the two monitors' copies by kind, node and decision time.
    expect({ where, macHeld: fromMac.alerts.filter((a) => a.suppressed !== null).length }).toEqual({ where, macHeld: 0 });
    expect({ where, oracleHeld: fromOracle.alerts.filter((a) => a.suppressed !== null).length }).toEqual({ where, oracleHeld: 0 });
  });

  test('the schedules did produce disagreements and agreements (the invariants were exercised)', () => {
    expect(planned).toBeGreaterThan(20);
  });
});
