import { gate, sentBy, voicesFor, type GateAlert, type GateContext } from '../../src/core/peer-gate';
import { agreedRank, cannotDeliver, peerOutages, type PeerReport, type PeerView } from '../../src/core/peers';
import { mulberry32 } from '../../src/util/random';

/*
 * The delivery gate of one voice (src/core/peer-gate.ts), data in and data out, on a fake clock. The step
 * tables show each rule; the two-monitor runs prove the rule that makes mutual holds impossible: an alert is
 * dropped only on a peer's report that it was SENT, and every wait is bounded, so each alert goes out at
 * least once whatever the links do; it goes out twice only when neither monitor could see the other.
 */

const T0 = Date.UTC(2026, 11, 7, 1, 0);
const S = 1000;
const DEADLINE = 20 * S;

const report = (instance: string, over: Partial<PeerReport> = {}): PeerReport => ({
  protocol: 1,
  instance,
  version: '0.1.0',
  startedAt: new Date(T0 - 3600 * S).toISOString(),
  at: new Date(T0).toISOString(),
  rank: ['mac', 'oracle'],
  network: { monitorOffline: false, witnesses: 0 },
  nodes: [],
  outages: [],
  sent: [],
  ...over,
});
const sent = (kind: string, outageKey: string | null, status = 'sent', over: Partial<PeerReport['sent'][number]> = {}): PeerReport['sent'][number] => ({
  id: 7,
  node: 'primary',
  kind,
  outageKey,
  status,
  heldBy: null,
  at: new Date(T0).toISOString(),
  ...over,
});

const DOWN: GateAlert = { kind: 'primaryDown', node: 'primary', at: T0, outageKey: 'primary.k1', outageRoot: true };
const RECOVERED: GateAlert = { kind: 'recovered', node: 'primary', at: T0, outageKey: 'primary.k1' };

function ctx(self: string, over: Partial<GateContext> & { peer?: PeerReport | null } = {}): GateContext {
  const peerName = self === 'mac' ? 'oracle' : 'mac';
  const { peer, ...rest } = over;
  return {
    self,
    rank: ['mac', 'oracle'],
    known: true,
    live: new Set([peerName]),
    cannotDeliver: new Set(),
    reports: [{ name: peerName, report: peer === undefined ? report(peerName) : peer }],
    outages: new Map(),
    waitedMs: 0,
    deadline: DEADLINE,
    ...rest,
  };
}

describe('gate: one rule per row', () => {
  test.each([
    // what,                                                     self,     alert,      context,                                                                          verdict
    ['peers not known yet: wait (whoever speaks)', 'mac', DOWN, { known: false }, { act: 'wait', forMs: DEADLINE }],
    ['speaker, nothing sent anywhere: send', 'mac', DOWN, {}, { act: 'send' }],
    ['follower within its deadline: wait for the speaker', 'oracle', DOWN, { waitedMs: 5 * S }, { act: 'wait', forMs: 15 * S, speaker: 'mac' }],
    ['follower past its deadline: send (same Message-ID)', 'oracle', DOWN, { waitedMs: DEADLINE }, { act: 'send', takeover: 'mac' }],
    ['follower, speaker silent: send at once', 'oracle', DOWN, { live: new Set<string>() }, { act: 'send' }],
    ['follower, speaker cannot deliver: send at once', 'oracle', DOWN, { cannotDeliver: new Set(['mac']) }, { act: 'send' }],
    ['the peer reports the same start sent: hold', 'oracle', DOWN, { peer: report('mac', { sent: [sent('primaryDown', 'primary.k1', 'sent', { root: true })] }) }, { act: 'hold', by: 'mac' }],
    ['...only pending there: not evidence, wait', 'oracle', DOWN, { peer: report('mac', { sent: [sent('primaryDown', 'primary.k1', 'pending', { root: true })] }) }, { act: 'wait', forMs: DEADLINE, speaker: 'mac' }],
    ['...held there: not evidence, the speaker sends', 'mac', DOWN, { peer: report('oracle', { sent: [sent('primaryDown', 'primary.k1', 'suppressed', { root: true })] }) }, { act: 'send' }],
    ['a recovery the peer sent: hold, even the speaker', 'mac', RECOVERED, { peer: report('oracle', { sent: [sent('recovered', 'primary.k1')] }) }, { act: 'hold', by: 'oracle' }],
    ['a start while the peer has the node\'s outage open and mailed (another key): hold, it is the same outage', 'oracle', { ...DOWN, current: true }, { outages: new Map([['primary', { key: 'primary.k2', mailedBy: 'mac', from: 'mac' }]]) }, { act: 'hold', by: 'mac' }],
    ['...a start still queued for an outage over here (SMTP refused): the peer\'s open one is another outage, not evidence', 'oracle', { ...DOWN, current: false }, { outages: new Map([['primary', { key: 'primary.k2', mailedBy: 'mac', from: 'mac' }]]), waitedMs: DEADLINE }, { act: 'send', takeover: 'mac' }],
    ['a start named by time apart and the peer\'s numbered one: the same thread only by number, so no match', 'oracle', { ...DOWN, outageKey: 'primary.mxd00000' }, { peer: report('mac', { sent: [sent('primaryDown', 'primary.mxcz0000.5.mxd00001', 'sent', { root: true })] }), waitedMs: DEADLINE }, { act: 'send', takeover: 'mac' }],
    ['a start the peer sent under the same thread, named at another time: hold (one outage, two namings)', 'oracle', { ...DOWN, outageKey: 'primary.mxcz0000.5.mxd00009' }, { peer: report('mac', { sent: [sent('primaryDown', 'primary.mxcz0000.5.mxd00001', 'sent', { root: true })] }) }, { act: 'hold', by: 'mac' }],
    ['a recovery of another outage: not this one', 'mac', RECOVERED, { peer: report('oracle', { sent: [sent('recovered', 'primary.k0')] }) }, { act: 'send' }],
    ['a recovery: the owner of its start speaks', 'mac', { ...RECOVERED, owner: 'oracle' }, {}, { act: 'wait', forMs: DEADLINE, speaker: 'oracle' }],
    ['an alert about the speaker: never voiced by it', 'oracle', { kind: 'hostDown', node: 'primary', at: T0, about: 'mac' }, {}, { act: 'send' }],
    ['exposure alert the peer sent a minute ago: hold', 'oracle', { kind: 'exposed', node: 'primary', at: T0 + 60 * S }, { peer: report('mac', { sent: [sent('exposed', null)] }) }, { act: 'hold', by: 'mac' }],
    ['exposure alert the peer sent an hour ago: another one', 'mac', { kind: 'exposed', node: 'primary', at: T0 + 3600 * S }, { peer: report('oracle', { sent: [sent('exposed', null)] }) }, { act: 'send' }],
  ] as const)('%s', (_what, self, alert, over, verdict) => {
    expect(gate(alert, ctx(self, over as Partial<GateContext>))).toEqual(verdict);
  });

  test('the start a peer reports as its mailed outage (another key) is held and adopted', () => {
    const views: PeerView[] = [{ name: 'mac', lastOkAt: 0, watchingSince: 0, lastError: null, report: report('mac', { outages: [{ node: 'primary', key: 'primary.k0', since: new Date(T0).toISOString(), mailedBy: 'mac' }] }) }];
    expect(sentBy(DOWN, { ...ctx('oracle'), outages: peerOutages(views, new Set(['mac'])) })).toBe('mac');
  });

  test('a third monitor takes over after twice the deadline', () => {
    const c = { ...ctx('vps'), rank: ['mac', 'oracle', 'vps'], live: new Set(['mac', 'oracle']) };
    expect(voicesFor(DOWN, c)).toEqual(['mac', 'oracle', 'vps']);
    expect(gate(DOWN, { ...c, waitedMs: DEADLINE + 1 })).toMatchObject({ act: 'wait' });
    expect(gate(DOWN, { ...c, waitedMs: 2 * DEADLINE })).toEqual({ act: 'send', takeover: 'mac' });
  });

  test('ranks that disagree: both sides rank by name (one voice still)', () => {
    const macView: PeerView = { name: 'oracle', lastOkAt: 0, watchingSince: 0, lastError: null, report: report('oracle', { rank: ['oracle', 'mac'] }) };
    const oracleView: PeerView = { name: 'mac', lastOkAt: 0, watchingSince: 0, lastError: null, report: report('mac', { rank: ['mac', 'oracle'] }) };
    // mac ranks itself first, oracle ranks itself first; both agree on the sorted list.
    expect(agreedRank(['mac', 'oracle'], [macView])).toEqual(['mac', 'oracle']);
    expect(agreedRank(['oracle', 'mac'], [oracleView])).toEqual(['mac', 'oracle']);
    expect(agreedRank(['mac', 'oracle'], [{ ...macView, report: report('oracle') }])).toEqual(['mac', 'oracle']);
  });

  test('a peer whose oldest failing alert is older than the deadline cannot deliver', () => {
    const v = (ms: number | null): PeerView => ({ name: 'mac', lastOkAt: 0, watchingSince: 0, lastError: null, report: report('mac', { delivery: { oldestFailingMs: ms, waiting: 0, channels: [] } }) });
    expect(cannotDeliver([v(DEADLINE)], DEADLINE)).toEqual(new Set(['mac']));
    expect(cannotDeliver([v(DEADLINE - 1)], DEADLINE)).toEqual(new Set());
    expect(cannotDeliver([v(null)], DEADLINE)).toEqual(new Set());
  });
});

/*
 * Two monitors, one alert each (both decided it), on a fake clock in 1 s steps. Each step the links
 * (mac→oracle, oracle→mac: whether a report gets across) and each side's mail server (accepts or refuses)
 * are what the schedule says. A monitor whose gate says send and whose mail server accepts has SENT (its
 * report says so from then on); one that refuses keeps it pending (its report's oldest failing grows).
 */
interface Side {
  name: 'mac' | 'oracle';
  state: 'queued' | 'sent' | 'held';
  waited: number;
  failingSince: number | null;
  known: { report: PeerReport | null; heardAt: number };
}
type Step = { macToOracle: boolean; oracleToMac: boolean; macSmtp: boolean; oracleSmtp: boolean };

function run(steps: Step[], alert: GateAlert = DOWN, silentAfter = 60): { mac: Side['state']; oracle: Side['state']; sends: number; twoWay: boolean; trace: string[] } {
  const sides: Record<'mac' | 'oracle', Side> = {
    mac: { name: 'mac', state: 'queued', waited: 0, failingSince: null, known: { report: null, heardAt: 0 } },
    oracle: { name: 'oracle', state: 'queued', waited: 0, failingSince: null, known: { report: null, heardAt: 0 } },
  };
  const own = (s: Side, t: number): PeerReport =>
    report(s.name, {
      sent: s.state === 'sent' ? [sent(alert.kind, alert.outageKey ?? null, 'sent', { root: alert.outageRoot === true })] : [],
      delivery: { oldestFailingMs: s.failingSince === null ? null : (t - s.failingSince) * S, waiting: 0, channels: [] },
    });
  let sends = 0;
  let twoWay = false;
  const trace: string[] = [];
  steps.forEach((st, t) => {
    if (!st.macToOracle && !st.oracleToMac) twoWay = true;
    // Heard both ways: a report crosses when either side reaches the other (the poll carries it, the answer too).
    const link = st.macToOracle || st.oracleToMac;
    if (link) {
      sides.oracle.known = { report: own(sides.mac, t), heardAt: t };
      sides.mac.known = { report: own(sides.oracle, t), heardAt: t };
    }
    for (const s of [sides.mac, sides.oracle]) {
      if (s.state !== 'queued') continue;
      const peer = s.name === 'mac' ? 'oracle' : 'mac';
      const live = t - s.known.heardAt < silentAfter && s.known.report !== null;
      const views: PeerView[] = [{ name: peer, lastOkAt: s.known.heardAt * S, watchingSince: 0, lastError: null, report: s.known.report }];
      const v = gate(alert, {
        self: s.name,
        rank: ['mac', 'oracle'],
        known: s.known.report !== null || t >= silentAfter,
        live: live ? new Set([peer]) : new Set(),
        cannotDeliver: live ? cannotDeliver(views, DEADLINE) : new Set(),
        reports: [{ name: peer, report: s.known.report }],
        outages: new Map(),
        waitedMs: s.waited * S,
        deadline: DEADLINE,
      });
      if (s.known.report !== null || t >= silentAfter) s.waited++;
      if (v.act === 'hold') s.state = 'held';
      else if (v.act === 'send') {
        if (s.name === 'mac' ? st.macSmtp : st.oracleSmtp) {
          s.state = 'sent';
          sends++;
        } else s.failingSince ??= t;
      }
      trace.push(`t=${t} ${s.name} ${v.act}${s.state === 'sent' ? ' (sent)' : ''}`);
    }
  });
  return { mac: sides.mac.state, oracle: sides.oracle.state, sends, twoWay, trace };
}

const up: Step = { macToOracle: true, oracleToMac: true, macSmtp: true, oracleSmtp: true };
const steps = (n: number, s: Partial<Step> = {}): Step[] => Array.from({ length: n }, () => ({ ...up, ...s }));

describe('two monitors, one alert: step tables', () => {
  test('all links up: the speaker sends, the follower drops its copy on the report', () => {
    const r = run(steps(5));
    expect(r).toMatchObject({ mac: 'sent', oracle: 'held', sends: 1 });
  });

  test('the tunnel outage (oracle cannot reach mac, mac reaches oracle): one send, by mac', () => {
    const r = run(steps(90, { oracleToMac: false }));
    expect(r).toMatchObject({ mac: 'sent', oracle: 'held', sends: 1 });
  });

  test('the speaker is live but its mail server refuses: the follower sends within the deadline, the speaker then drops its copy', () => {
    const s = [...steps(40, { macSmtp: false }), ...steps(10)];
    const r = run(s);
    expect(r).toMatchObject({ mac: 'held', oracle: 'sent', sends: 1 });
    const at = r.trace.findIndex((l) => l.includes('oracle send (sent)'));
    expect(at).toBeGreaterThan(0);
    expect(Number(/t=(\d+)/.exec(r.trace[at] as string)?.[1])).toBeLessThanOrEqual(DEADLINE / S + 1);
  });

  test('a two-way partition: both send (the documented cost: one extra mail, same Message-ID)', () => {
    // Heard once, then cut both ways: each waits out its deadline (oracle) or speaks (mac).
    const r = run([...steps(1, { macSmtp: false }), ...steps(40, { macToOracle: false, oracleToMac: false })]);
    expect(r).toMatchObject({ mac: 'sent', oracle: 'sent', sends: 2, twoWay: true });
  });

  test('mutual holds are impossible: seeded random links and mail servers, never lost; doubled only across a two-way partition', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rnd = mulberry32(seed);
      const flip = (p: number) => rnd() < p;
      const sched: Step[] = Array.from({ length: 40 }, () => ({ macToOracle: flip(0.6), oracleToMac: flip(0.6), macSmtp: flip(0.7), oracleSmtp: flip(0.7) }));
      // Then everything heals for long enough that each bounded wait ends.
      const r = run([...sched, ...steps(120)], seed % 2 ? DOWN : RECOVERED);
      const why = `seed ${seed}: ${r.trace.slice(-6).join('; ')}`;
      expect([why, r.sends >= 1]).toEqual([why, true]);
      expect([why, r.mac === 'queued' || r.oracle === 'queued']).toEqual([why, false]);
      if (r.sends > 1) expect([why, r.twoWay || sched.some((x) => !x.macSmtp)]).toEqual([why, true]);
    }
  });
});
