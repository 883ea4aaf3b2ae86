import { outageMessageId, renderAlert } from '../../src/alerts/render';
import { gate } from '../../src/core/peer-gate';
import { alertsForEvents, alertsForTick, withAnnouncement } from '../../src/core/alert-policy';
import type { AlertPolicy, AlertPolicyState, PlannedAlert, PolicyInput, PolicyOutput } from '../../src/core/alert-types';
import { initialState, type CoreEvent, type MonitorState } from '../../src/core/decide';
import { alertsForPeers, type PeerAlertState } from '../../src/core/peer-alerts';
import { compareKeys, nextOutageKey, outageThread, parseOutageKey, sameOutage } from '../../src/core/outage-id';
import { isSilent, peerFacts, peerLastKeys, peerOutages, speaker, threadOwner, voiceOf, type PeerReport, type PeerView, type Voice } from '../../src/core/peers';
import type { NodeStatus } from '../../src/core/status';
import { buildPeerReport } from '../../src/peers/report';
import { parsePeerReport } from '../../src/peers/wire';

const T0 = Date.UTC(2026, 10, 30, 9, 0);
/** The key of a node's first outage, named by a monitor that knows no chain yet (core/outage-id). */
const firstKey = (node: string, since: number) => nextOutageKey(node, since, []);
const S = 1000;
const SILENT_AFTER = 60 * S;
const rule = (severity: 'critical' | 'warning' | 'info') => ({ send: true, severity });
const POLICY: AlertPolicy = {
  reminderInterval: 0,
  flapping: { transitions: 0, window: 60 * S, settle: 60 * S },
  events: {
    primaryDown: rule('critical'),
    primaryDegraded: rule('warning'),
    fallbackDown: rule('warning'),
    fallbackDownPrimaryOut: rule('critical'),
    allDown: rule('critical'),
    recovered: rule('info'),
    reminder: rule('warning'),
    flapping: rule('warning'),
    flappingSettled: rule('info'),
    monitorNetwork: rule('warning'),
    exposed: rule('critical'),
    monitorSilent: rule('warning'),
    monitorBack: rule('info'),
    hostDown: rule('critical'),
    monitorsDisagree: rule('warning'),
    monitorsAgree: rule('info'),
    peerMisconfigured: rule('warning'),
  },
  quiet: null,
};

function monitor(statuses: Record<string, NodeStatus>, at = T0): MonitorState {
  const names = Object.keys(statuses);
  const s = initialState(names.map((name, priority) => ({ name, priority })), { wall: at, mono: 0 });
  return {
    ...s,
    nodes: s.nodes.map((n) => ({ ...n, status: statuses[n.name] as NodeStatus, statusReason: statuses[n.name] === 'down' ? 'refused' : 'ok', since: at })),
    preferred: statuses.primary === 'down' ? 'fallback' : 'primary',
    allDown: false,
  };
}
const tr = (node: string, from: NodeStatus, to: NodeStatus, at: number): CoreEvent => ({ type: 'node:transition', node, from, to, reason: to === 'down' ? 'refused' : 'ok', detail: 'refused', at });

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
const view = (name: string, lastOkAt: number | null, r: PeerReport | null = lastOkAt === null ? null : report(name), watchingSince = T0 - 3600 * S): PeerView => ({ name, lastOkAt, watchingSince, lastError: lastOkAt === null ? 'ECONNREFUSED' : null, report: r });

describe('silence and the speaker (fixed rank, keepalived style)', () => {
  test.each([
    // lastOkAt,           watchingSince,   now,               silent
    [T0 - 59 * S, T0 - 3600 * S, T0, false],
    [T0 - 60 * S, T0 - 3600 * S, T0, true],
    [null, T0 - 30 * S, T0, false], // never answered, but this monitor only started 30 s ago
    [null, T0 - 60 * S, T0, true],
  ] as const)('lastOk %p watching since %p → silent %p', (lastOkAt, watchingSince, now, silent) => {
    expect(isSilent({ lastOkAt, watchingSince }, now, SILENT_AFTER)).toBe(silent);
  });

  const voice = (self: string, live: string[], known = true): Voice => ({ self, rank: ['mac', 'oracle', 'pi'], live: new Set(live), known });
  test.each([
    // self,     live peers,          options,                                     speaker
    ['oracle', ['mac'], {}, 'mac'],
    ['oracle', [], {}, 'oracle'], // mac silent: oracle takes over
    ['pi', ['oracle'], {}, 'oracle'], // three monitors: the first live one by rank
    ['mac', ['oracle'], {}, 'mac'],
    ['mac', ['oracle'], { owner: 'oracle' }, 'oracle'], // the outage's follow-ups stay with whoever mailed its start
    ['oracle', [], { owner: 'mac' }, 'oracle'], // …unless it is silent
    ['oracle', ['mac'], { about: 'mac' }, 'oracle'], // mac never speaks about mac
  ] as const)('%s with live peers %j and %j → %s', (self, live, opts, who) => {
    expect(speaker(voice(self, [...live]), opts)).toBe(who);
  });

  test('nothing is decided before every peer answered once or went silent', () => {
    const starting = T0;
    const v = voiceOf('mac', ['mac', 'oracle'], [view('oracle', null, null, starting)], starting + 1 * S, SILENT_AFTER);
    expect(v.known).toBe(false);
    expect(speaker(v)).toBeUndefined();
    expect(voiceOf('mac', ['mac', 'oracle'], [view('oracle', starting + 1 * S)], starting + 2 * S, SILENT_AFTER).known).toBe(true);
    expect(voiceOf('mac', ['mac', 'oracle'], [view('oracle', null, null, starting)], starting + 60 * S, SILENT_AFTER)).toMatchObject({ known: true, live: new Set() });
  });
});

/**
 * Two policy drivers, one per monitor, fed like the daemon feeds its alerting; `deliver` runs the delivery gate
 * (core/peer-gate) over the queued alerts the way the outbox sender does, with every send accepted.
 */
type Queued = PlannedAlert & { id: number; status: 'pending' | 'sent' | 'held' | 'suppressed' };
class Monitor {
  state: AlertPolicyState = {};
  peerMemory: PeerAlertState = {};
  out: Queued[] = [];
  readonly heldBy = new Map<number, string>();
  #id = 0;
  constructor(
    readonly name: string,
    readonly sharedHost = new Map<string, string>(),
  ) {}
  /** The policy's input as alerts/alerting.ts peerInput() builds it. */
  input(m: MonitorState, at: number, views: PeerView[]): PolicyInput {
    const voice = voiceOf(this.name, ['mac', 'oracle'], views, at, SILENT_AFTER);
    const unsent = new Set(this.out.filter((a) => a.status === 'pending').map((a) => a.id));
    const outages = peerOutages(views, voice.live);
    // A peer's outage this monitor has seen end is over.
    const ended = new Set(this.out.flatMap((a) => (a.facts.kind === 'recovered' && a.facts.outageKey ? [outageThread(a.facts.node, a.facts.outageKey)] : [])));
    for (const [node, o] of outages) if (ended.has(outageThread(node, o.key))) outages.delete(node);
    const mailedRoots = new Set(Object.values(this.state).flatMap((st) => (st.outage?.announcedBy && this.out.find((a) => a.id === st.outage?.announcedBy)?.status === 'sent' ? [st.outage.announcedBy] : [])));
    return { state: this.state, monitor: m, maintenance: new Map(), policy: POLICY, at, peers: { voice, outages, lastKeys: peerLastKeys(views), heardAll: views.every((v) => v.lastOkAt !== null), mailedRoots, unsent } };
  }
  /** outbox.rekeyOutage: queued alerts, and a start that went out, take the outage's new key. */
  #rekey(node: string, from: string, to: string) {
    for (const a of this.out) if (a.facts.node === node && a.facts.outageKey === from && (a.status === 'pending' || (a.status === 'sent' && a.facts.outageRoot))) a.facts = { ...a.facts, outageKey: to };
  }
  #store(alerts: PlannedAlert[], state: AlertPolicyState, rekeys: NonNullable<PolicyOutput['rekeys']> = []) {
    for (const r of rekeys) this.#rekey(r.node, r.from, r.to);
    const got = alerts.map((a) => {
      const id = ++this.#id;
      if (a.announces) state = withAnnouncement(state, a.facts.node, id);
      return { ...a, id, status: a.suppressed === null ? ('pending' as const) : ('suppressed' as const) };
    });
    this.state = state;
    this.out.push(...got);
    return got;
  }
  events(m: MonitorState, at: number, views: PeerView[], ...e: CoreEvent[]) {
    const r = alertsForEvents(this.input(m, at, views), e);
    return this.#store(r.alerts, r.state, r.rekeys);
  }
  tick(m: MonitorState, at: number, views: PeerView[]) {
    const p = alertsForPeers(this.input(m, at, views), this.peerMemory, peerFacts(views, this.sharedHost, at, SILENT_AFTER));
    this.peerMemory = p.peers;
    const t = alertsForTick({ ...this.input(m, at, views), state: p.state });
    return this.#store([...p.alerts, ...t.alerts], t.state, t.rekeys);
  }
  /** The sender's pass: each pending alert through the gate; returns what it did with each, in order. */
  deliver(at: number, views: PeerView[], waitedMs = 0): string[] {
    const voice = voiceOf(this.name, ['mac', 'oracle'], views, at, SILENT_AFTER);
    const outages = peerOutages(views, voice.live);
    const did: string[] = [];
    for (const a of this.out.filter((x) => x.status === 'pending')) {
      const o = this.state[a.facts.node]?.outage;
      const current = o ? sameOutage(a.facts.node, o.key, a.facts.outageKey) : false;
      const supersededBy = a.facts.outageRoot && o && current && o.announcedBy !== null && o.announcedBy > a.id ? o.announcedBy : undefined;
      const root = this.out.find((x) => x.id === a.threadOf);
      const heldFor = root ? this.heldBy.get(root.id) : undefined;
      const here = root?.status === 'sent' ? [this.name] : root?.status === 'held' && heldFor && heldFor !== this.name ? [heldFor] : [];
      const owner = a.facts.kind === 'recovered' || a.facts.kind === 'reminder' ? threadOwner(voice, views, a.facts.node, a.facts.outageKey, here) : undefined;
      const v = gate(
        { kind: a.facts.kind, node: a.facts.node, at: a.facts.at, outageKey: a.facts.outageKey, outageRoot: a.facts.outageRoot, current: a.facts.outageRoot ? current : undefined, about: a.facts.monitor, owner, supersededBy },
        { self: this.name, rank: voice.rank, known: voice.known, live: voice.live, cannotDeliver: new Set(), reports: views.map((x) => ({ name: x.name, report: x.report })), outages, waitedMs, deadline: 20 * S },
      );
      if (v.act === 'send') a.status = 'sent';
      if (v.act === 'hold') {
        a.status = 'held';
        this.heldBy.set(a.id, v.by);
        // The outage's start went out from a peer: it owns the thread and its key (as alerts/alerting.ts hold()).
        const peerKey = outages.get(a.facts.node)?.key;
        if (a.facts.outageRoot && o && current && v.by !== this.name) {
          if (peerKey && a.facts.outageKey && peerKey !== a.facts.outageKey) this.#rekey(a.facts.node, a.facts.outageKey, peerKey);
          Object.assign(o, { owner: v.by, key: peerKey ?? o.key });
        }
      }
      did.push(`${a.facts.kind}:${v.act}`);
    }
    return did;
  }
  /** What GET /peer would answer. */
  report(m: MonitorState, at: number): PeerReport {
    const status = (id: number) => this.out.find((a) => a.id === id)?.status ?? 'pending';
    const recent = [...this.out].reverse().map((a) => ({ id: a.id, instance: this.name, node: a.facts.node, kind: a.facts.kind, severity: a.facts.severity, createdAt: a.facts.at, subject: '', facts: a.facts, threadOf: a.threadOf, status: a.status, suppressed: a.suppressed, deliveries: [] }) as const);
    return buildPeerReport({ instance: this.name, version: '0.1.0', startedAt: T0, now: at, rank: ['mac', 'oracle'], witnesses: 0, state: m, policy: this.state, recent: recent as never, alertStatus: status });
  }
}
const mails = (ms: Monitor[]) => ms.flatMap((m) => m.out.filter((a) => a.status === 'sent').map((a) => `${m.name}:${a.facts.kind}:${a.facts.node}`));

describe('one voice through the alert policy and the gate (two monitors)', () => {
  const up = monitor({ primary: 'up', fallback: 'up' });
  const down = monitor({ primary: 'down', fallback: 'up' });

  test('both see the outage: both queue it; mac (first by rank) mails it, oracle drops its copy on the report and adopts the identity; one recovery, from mac', () => {
    const mac = new Monitor('mac');
    const oracle = new Monitor('oracle');
    const t1 = T0 + 10 * S;
    mac.events(down, t1, [view('oracle', t1)], tr('primary', 'up', 'down', t1));
    expect(mac.deliver(t1, [view('oracle', t1)])).toEqual(['primaryDown:send']);
    const [queued] = oracle.events(down, t1 + 2 * S, [view('mac', t1)], tr('primary', 'up', 'down', t1 + 2 * S));
    // Kept pending behind the gate, not dropped: if mac never sends it, oracle does after its deadline.
    expect(queued).toMatchObject({ suppressed: null, status: 'pending', facts: { kind: 'primaryDown' } });
    expect(oracle.deliver(t1 + 2 * S, [view('mac', t1)])).toEqual(['primaryDown:wait']);
    expect(oracle.deliver(t1 + 5 * S, [view('mac', t1 + 5 * S, mac.report(down, t1 + 5 * S))])).toEqual(['primaryDown:hold']);
    expect(oracle.state.primary?.outage).toMatchObject({ announced: true, owner: 'mac', key: firstKey('primary', t1) });
    const t2 = t1 + 60 * S;
    mac.events(up, t2, [view('oracle', t2, oracle.report(down, t2))], tr('primary', 'down', 'up', t2));
    oracle.events(up, t2 + S, [view('mac', t2, mac.report(up, t2))], tr('primary', 'down', 'up', t2 + S));
    // Both see the recovery at once: the owner of the start (mac) sends, oracle waits, then drops it.
    expect(oracle.deliver(t2 + S, [view('mac', t2, mac.report(up, t2))])).toEqual(['recovered:wait']);
    expect(mac.deliver(t2 + S, [view('oracle', t2, oracle.report(up, t2))])).toEqual(['recovered:send']);
    expect(oracle.deliver(t2 + 3 * S, [view('mac', t2 + 3 * S, mac.report(up, t2 + 3 * S))])).toEqual(['recovered:hold']);
    expect(mails([mac, oracle])).toEqual(['mac:primaryDown:primary', 'mac:recovered:primary']);
    expect(oracle.out.find((a) => a.facts.kind === 'recovered')?.facts.outageKey).toBe(firstKey('primary', t1));
  });

  test('mac dies before mailing: oracle waits its deadline, then mails the outage; "silent" follows at silentAfter; mac back sends nothing about it', () => {
    const oracle = new Monitor('oracle');
    const macBefore = view('mac', T0); // its last report: no outage
    const t1 = T0 + 5 * S;
    expect(oracle.events(down, t1, [macBefore], tr('primary', 'up', 'down', t1)).map((a) => a.suppressed)).toEqual([null]);
    expect(oracle.deliver(t1, [macBefore], 0)).toEqual(['primaryDown:wait']);
    expect(oracle.deliver(t1 + 20 * S, [macBefore], 20 * S)).toEqual(['primaryDown:send']);
    const takeover = oracle.tick(down, T0 + 60 * S, [{ ...macBefore, lastError: 'ECONNREFUSED' }]);
    expect(takeover.map((a) => a.facts.kind)).toEqual(['monitorSilent']);
    expect(oracle.deliver(T0 + 60 * S, [{ ...macBefore, lastError: 'ECONNREFUSED' }])).toEqual(['monitorSilent:send']);

    // mac restarts (its database knew nothing of the outage) and hears from oracle before judging.
    const mac = new Monitor('mac');
    const tBack = T0 + 120 * S;
    const fromOracle = view('oracle', tBack, oracle.report(down, tBack), tBack);
    const [macDown] = mac.events(down, tBack + 3 * S, [fromOracle], tr('primary', 'unknown', 'down', tBack + 3 * S));
    expect(macDown).toMatchObject({ suppressed: 'peer', facts: { heldBy: 'oracle', outageKey: firstKey('primary', t1) } });
    const back = oracle.tick(down, tBack + S, [view('mac', tBack + S, mac.report(down, tBack + S))]);
    expect(back.map((a) => [a.facts.kind, a.suppressed, a.facts.durationMs])).toEqual([['monitorBack', null, 121 * S]]);
    oracle.deliver(tBack + S, [view('mac', tBack + S, mac.report(down, tBack + S))]);
    // Recovery: oracle mailed the start and lives, so it closes the thread; mac (first by rank) waits, then drops.
    const t2 = T0 + 300 * S;
    mac.events(up, t2, [view('oracle', t2, oracle.report(down, t2))], tr('primary', 'down', 'up', t2));
    oracle.events(up, t2 + S, [view('mac', t2, mac.report(up, t2))], tr('primary', 'down', 'up', t2 + S));
    expect(mac.deliver(t2 + S, [view('oracle', t2, oracle.report(down, t2))])).toEqual(['recovered:wait']);
    oracle.deliver(t2 + S, [view('mac', t2, mac.report(up, t2))]);
    expect(mac.deliver(t2 + 2 * S, [view('oracle', t2 + 2 * S, oracle.report(up, t2 + 2 * S))])).toEqual(['recovered:hold']);
    expect(mails([mac, oracle])).toEqual(['oracle:primaryDown:primary', 'oracle:monitorSilent:mac', 'oracle:monitorBack:mac', 'oracle:recovered:primary']);
  });

  test('a silent peer on the host of a down node: ONE mail naming the root cause, which replaces the start still waiting behind the gate', () => {
    const oracle = new Monitor('oracle', new Map([['mac', 'primary']]));
    const macLast = view('mac', T0);
    oracle.events(down, T0 + 5 * S, [macLast], tr('primary', 'up', 'down', T0 + 5 * S));
    expect(oracle.deliver(T0 + 5 * S, [macLast])).toEqual(['primaryDown:wait']);
    const got = oracle.tick(down, T0 + 61 * S, [macLast]);
    expect(got.map((a) => [a.facts.kind, a.suppressed, a.announces])).toEqual([['hostDown', null, true]]);
    expect(oracle.deliver(T0 + 61 * S, [macLast])).toEqual(['primaryDown:hold', 'hostDown:send']);
    expect(mails([oracle])).toEqual(['oracle:hostDown:primary']);
    // The recovery threads under that mail.
    const [rec] = oracle.events(up, T0 + 200 * S, [macLast], tr('primary', 'down', 'up', T0 + 200 * S));
    const root = renderAlert({ id: got[0]!.id, instance: 'oracle', facts: got[0]!.facts, threadOf: null });
    expect(renderAlert({ id: rec!.id, instance: 'oracle', facts: rec!.facts, threadOf: rec!.threadOf }).inReplyTo).toBe(root.messageId);
    expect(root.messageId).toBe(outageMessageId('primary', firstKey('primary', T0 + 5 * S)));
    expect(got[0]!.facts.outageRoot).toBe(true);
  });

  test('a peer that never answers after this monitor restarts is not "back", and its silence is not mailed twice', () => {
    const oracle = new Monitor('oracle');
    oracle.peerMemory = { mac: { silentSince: T0 - 600 * S } };
    const fresh = view('mac', null, null, T0);
    expect(oracle.tick(up, T0 + S, [fresh])).toEqual([]);
    expect(oracle.tick(up, T0 + 90 * S, [fresh])).toEqual([]);
  });

  test('a live monitor answering a peer\'s URL under another name: the "monitors disagree" mail, not "silent"; silent once that URL stops answering', () => {
    const mac = new Monitor('mac');
    const problem = 'peer oracle answers as instance "oracle-vm": names must match each monitor\'s instance';
    const misnamed: PeerView = { ...view('oracle', null, null, T0), lastError: 'answered as instance "oracle-vm", not "oracle" (wrong URL?)', problem, answersAs: 'oracle-vm' };
    expect(mac.tick(up, T0 + S, [misnamed]).map((a) => [a.facts.kind, a.facts.detail])).toEqual([['peerMisconfigured', problem]]);
    // Long past silentAfter, still answering under the other name: nothing more.
    expect(mac.tick(up, T0 + 120 * S, [misnamed])).toEqual([]);
    // The URL stops answering: now it is silent, mailed once.
    const gone: PeerView = { ...misnamed, lastError: 'ECONNREFUSED', problem: null, answersAs: null };
    expect(mac.tick(up, T0 + 125 * S, [gone]).map((a) => a.facts.kind)).toEqual(['monitorSilent']);
    expect(mac.tick(up, T0 + 130 * S, [gone])).toEqual([]);
  });
});

describe('a two-way partition: two monitors that name one outage on their own give it one thread', () => {
  const up = monitor({ primary: 'up', fallback: 'up' });
  const down = monitor({ primary: 'down', fallback: 'up' });
  const rendered = (m: Monitor, kind: string) => m.out.filter((a) => a.facts.kind === kind).map((a) => renderAlert({ id: a.id, instance: m.name, facts: a.facts, threadOf: a.threadOf }));

  /** Two monitors that heard each other once (their chains settle on the older root), then lose every link. */
  function pair(): { mac: Monitor; oracle: Monitor; stale: { mac: PeerView; oracle: PeerView } } {
    const mac = new Monitor('mac');
    const oracle = new Monitor('oracle');
    oracle.tick(up, T0 - 100 * S, [view('mac', null, null, T0 - 100 * S)]);
    mac.tick(up, T0, [view('oracle', T0, oracle.report(up, T0))]);
    oracle.tick(up, T0 + S, [view('mac', T0 + S, mac.report(up, T0 + S))]);
    expect(mac.state.primary?.lastKey).toBe(oracle.state.primary?.lastKey);
    // The partition: each keeps the other's last report, which goes stale.
    return { mac, oracle, stale: { mac: view('mac', T0 + S, mac.report(up, T0 + S)), oracle: view('oracle', T0 + S, oracle.report(up, T0 + S)) } };
  }

  test('both confirm it 39 s apart, hearing nothing: one Message-ID for both DOWNs and both RECOVEREDs', () => {
    const { mac, oracle, stale } = pair();
    const [macDown] = mac.events(down, T0 + 10 * S, [stale.oracle], tr('primary', 'up', 'down', T0 + 10 * S));
    const [oracleDown] = oracle.events(down, T0 + 49 * S, [stale.mac], tr('primary', 'up', 'down', T0 + 49 * S));
    expect(macDown?.facts.outageKey).not.toBe(oracleDown?.facts.outageKey);
    expect(mac.deliver(T0 + 10 * S, [stale.oracle])).toEqual(['primaryDown:send']);
    // oracle's deadline passes with no report from mac: it sends its copy (the partition's one extra mail).
    expect(oracle.deliver(T0 + 70 * S, [stale.mac], 21 * S)).toEqual(['primaryDown:send']);
    mac.events(up, T0 + 80 * S, [stale.oracle], tr('primary', 'down', 'up', T0 + 80 * S));
    oracle.events(up, T0 + 81 * S, [stale.mac], tr('primary', 'down', 'up', T0 + 81 * S));
    mac.deliver(T0 + 81 * S, [stale.oracle], 60 * S);
    oracle.deliver(T0 + 82 * S, [stale.mac], 60 * S);
    expect(mails([mac, oracle])).toEqual(['mac:primaryDown:primary', 'mac:recovered:primary', 'oracle:primaryDown:primary', 'oracle:recovered:primary']);
    for (const kind of ['primaryDown', 'recovered']) {
      const ids = [...rendered(mac, kind), ...rendered(oracle, kind)].map((r) => r.messageId);
      expect(new Set(ids).size).toBe(1);
    }
    expect(rendered(oracle, 'recovered')[0]?.references).toEqual([rendered(mac, 'primaryDown')[0]?.messageId]);
  });

  test('links back before the recovery: oracle takes the earlier-named key (one Subject), and the recovery goes out once, from mac (first by rank of those that mailed the start)', () => {
    const { mac, oracle, stale } = pair();
    mac.events(down, T0 + 10 * S, [stale.oracle], tr('primary', 'up', 'down', T0 + 10 * S));
    oracle.events(down, T0 + 49 * S, [stale.mac], tr('primary', 'up', 'down', T0 + 49 * S));
    mac.deliver(T0 + 10 * S, [stale.oracle]);
    oracle.deliver(T0 + 70 * S, [stale.mac], 21 * S);
    const macKey = mac.state.primary?.outage?.key;
    // Healed: each hears the other. oracle settles on mac's key; mac keeps its own.
    const tH = T0 + 100 * S;
    const got = alertsForTick({ ...oracle.input(down, tH, [view('mac', tH, mac.report(down, tH))]) });
    expect(got.rekeys).toEqual([{ node: 'primary', from: oracle.state.primary?.outage?.key, to: macKey }]);
    oracle.tick(down, tH, [view('mac', tH, mac.report(down, tH))]);
    mac.tick(down, tH, [view('oracle', tH, oracle.report(down, tH))]);
    expect([mac.state.primary?.outage?.key, oracle.state.primary?.outage?.key]).toEqual([macKey, macKey]);
    const t2 = T0 + 200 * S;
    mac.events(up, t2, [view('oracle', t2, oracle.report(down, t2))], tr('primary', 'down', 'up', t2));
    oracle.events(up, t2, [view('mac', t2, mac.report(down, t2))], tr('primary', 'down', 'up', t2));
    // Both mailed the start, so both own it by their own outbox; the rank settles who closes it.
    expect(oracle.deliver(t2 + S, [view('mac', t2, mac.report(up, t2))])).toEqual(['recovered:wait']);
    expect(mac.deliver(t2 + S, [view('oracle', t2, oracle.report(up, t2))])).toEqual(['recovered:send']);
    expect(oracle.deliver(t2 + 2 * S, [view('mac', t2 + 2 * S, mac.report(up, t2 + 2 * S))])).toEqual(['recovered:hold']);
    expect(mails([mac, oracle]).filter((m) => m.includes('recovered'))).toEqual(['mac:recovered:primary']);
    expect(new Set([...rendered(mac, 'recovered'), ...rendered(oracle, 'recovered')].map((r) => r.mailSubject)).size).toBe(1);
  });

  test('apart, every outage both see is numbered alike; a restarted monitor names by time until it hears its peer, so a stale count never takes the Message-ID of an outage its peer mailed', () => {
    const { mac, oracle, stale } = pair();
    const keysOf = (ms: Array<[Monitor, number]>, t: number) => ms.map(([m, dt]) => m.events(down, t + dt, [m === mac ? stale.oracle : stale.mac], tr('primary', 'up', 'down', t + dt))[0]!.facts.outageKey!);
    const ends = (t: number, ...ms: Monitor[]) => ms.forEach((m) => m.events(up, t, [m === mac ? stale.oracle : stale.mac], tr('primary', 'down', 'up', t)));
    // Two outages apart, both seen by both: each numbered alike (one Message-ID per outage), whenever each confirms.
    const x = keysOf([[mac, 0], [oracle, 2 * S]], T0 + 40 * S);
    ends(T0 + 50 * S, mac, oracle);
    const y = keysOf([[mac, 3 * S], [oracle, 0]], T0 + 80 * S);
    ends(T0 + 90 * S, mac, oracle);
    expect([x, y].map((k) => new Set(k.map((key) => outageThread('primary', key))).size)).toEqual([1, 1]);
    expect(y.map((k) => parseOutageKey('primary', k).n)).toEqual([2, 2]);
    // oracle dies; mac sees outage z alone (.3). oracle restarts, still apart, and the next outage comes.
    const [z] = mac.events(down, T0 + 120 * S, [stale.oracle], tr('primary', 'up', 'down', T0 + 120 * S));
    ends(T0 + 130 * S, mac);
    const restarted = new Monitor('oracle');
    restarted.state = oracle.state;
    const notHeard = view('mac', null, null, T0 + 150 * S);
    const [wOracle] = restarted.events(down, T0 + 161 * S, [notHeard], tr('primary', 'unknown', 'down', T0 + 161 * S));
    const [wMac] = mac.events(down, T0 + 160 * S, [stale.oracle], tr('primary', 'up', 'down', T0 + 160 * S));
    // Counting from its database, oracle would have named w .3: the Message-ID of z, which mac mailed.
    expect(outageThread('primary', wOracle!.facts.outageKey!)).toBe(`primary.${(T0 + 161 * S).toString(36)}`);
    expect(outageThread('primary', wOracle!.facts.outageKey!)).not.toBe(outageThread('primary', z!.facts.outageKey!));
    expect(parseOutageKey('primary', wMac!.facts.outageKey!).n).toBe(4);
    // Heard again: one key for the open outage (the numbered one), and one chain: the next outage is .5 on both.
    const tH = T0 + 180 * S;
    restarted.tick(down, tH, [view('mac', tH, mac.report(down, tH))]);
    mac.tick(down, tH, [view('oracle', tH, restarted.report(down, tH))]);
    expect(restarted.state.primary?.outage?.key).toBe(wMac!.facts.outageKey);
    for (const m of [mac, restarted]) expect(parseOutageKey('primary', nextOutageKey('primary', tH, [m.state.primary?.lastKey])).n).toBe(5);
  });

  test('a new pair naming its first outage before their chains met: the thread already mailed wins over the better-numbered one, so the recovery threads under the mail people have', () => {
    const mac = new Monitor('mac');
    const oracle = new Monitor('oracle');
    oracle.tick(up, T0 - 5 * S, [view('mac', null, null, T0 - 5 * S)]);
    mac.tick(up, T0, [view('oracle', null, null, T0)]);
    // Each names it in its own chain (oracle's is older, so better by number), mac mails it at once.
    mac.events(down, T0 + 2 * S, [view('oracle', T0 + S)], tr('primary', 'up', 'down', T0 + 2 * S));
    oracle.events(down, T0 + 2 * S, [view('mac', T0 + S)], tr('primary', 'up', 'down', T0 + 2 * S));
    expect(mac.deliver(T0 + 2 * S, [view('oracle', T0 + S)])).toEqual(['primaryDown:send']);
    const macKey = mac.state.primary?.outage?.key as string;
    expect(compareKeys('primary', oracle.state.primary?.outage?.key as string, macKey)).toBeLessThan(0);
    // They hear each other: mac keeps its mailed key, oracle takes it (its own start was never mailed).
    const t = T0 + 3 * S;
    mac.tick(down, t, [view('oracle', t, oracle.report(down, t))]);
    const got = alertsForTick(oracle.input(down, t, [view('mac', t, mac.report(down, t))]));
    expect(got.rekeys?.map((r) => r.to)).toEqual([macKey]);
    oracle.tick(down, t, [view('mac', t, mac.report(down, t))]);
    expect([mac.state.primary?.outage?.key, oracle.state.primary?.outage?.key]).toEqual([macKey, macKey]);
  });

  test('a recreated database joins its peer\'s chain on the first report it hears, so the next outage is numbered alike', () => {
    const { mac, stale } = pair();
    mac.events(down, T0 + 10 * S, [stale.oracle], tr('primary', 'up', 'down', T0 + 10 * S));
    mac.events(up, T0 + 20 * S, [stale.oracle], tr('primary', 'down', 'up', T0 + 20 * S));
    const fresh = new Monitor('oracle');
    fresh.tick(up, T0 + 30 * S, [view('mac', T0 + 30 * S, mac.report(up, T0 + 30 * S))]);
    expect(fresh.state.primary?.lastKey).toBe(mac.state.primary?.lastKey);
    expect(nextOutageKey('primary', T0, [fresh.state.primary?.lastKey])).toBe(nextOutageKey('primary', T0, [mac.state.primary?.lastKey]));
  });
});

describe('the peer wire', () => {
  test('a built report parses back; HTML, garbage and foreign JSON are refused with a reason', () => {
    const r = report('mac', { outages: [{ node: 'primary', key: 'primary.x', since: new Date(T0).toISOString(), mailedBy: null }] });
    expect(parsePeerReport(JSON.stringify(r))).toEqual({ ok: true, report: r });
    expect(parsePeerReport('<!doctype html><title>Sign in</title>')).toEqual({ ok: false, error: 'not JSON' });
    expect(parsePeerReport('{"schemaVersion":1}')).toMatchObject({ ok: false, error: expect.stringMatching(/^not a peer report \(protocol: /) });
  });

  test('bad input from a peer (absurd times, huge arrays, bad delivery figures) is refused with a reason; unknown fields and alert ids are ignored', () => {
    const r = report('mac');
    expect(parsePeerReport(JSON.stringify({ ...r, at: 'yesterday-ish' }))).toMatchObject({ ok: false, error: expect.stringMatching(/^not a peer report \(at: /) });
    const sent = Array.from({ length: 1001 }, (_, i) => ({ id: i, node: 'primary', kind: 'recovered', outageKey: 'primary.x', status: 'sent', heldBy: null, at: new Date(T0).toISOString() }));
    expect(parsePeerReport(JSON.stringify({ ...r, sent }))).toMatchObject({ ok: false, error: expect.stringMatching(/^not a peer report \(sent: /) });
    expect(parsePeerReport(JSON.stringify({ ...r, delivery: { oldestFailingMs: -5, waiting: 0, channels: [] } }))).toMatchObject({ ok: false, error: expect.stringMatching(/delivery\.oldestFailingMs/) });
    // A newer peer's extra fields, and alert ids we never saw, are no harm: dropped / not matched.
    const extra = parsePeerReport(JSON.stringify({ ...r, verdicts: [{ node: 'primary' }], sent: [{ id: 987654, node: 'primary', kind: 'exposed', outageKey: null, status: 'sent', heldBy: null, at: new Date(T0).toISOString(), root: false, about: null }] }));
    expect(extra.ok).toBe(true);
    expect(extra.ok && 'verdicts' in extra.report).toBe(false);
    // Outage keys: a huge list is refused; keys that are garbage or of another node never join a chain.
    const lastKeys = Array.from({ length: 257 }, (_, i) => ({ node: `n${i}`, key: `n${i}.a.1.a` }));
    expect(parsePeerReport(JSON.stringify({ ...r, lastKeys }))).toMatchObject({ ok: false, error: expect.stringMatching(/^not a peer report \(lastKeys: /) });
    // A key must be one a monitor writes for its node, every time part a real time: an absurd one would be taken
    // (the best number wins) and then fail to render in every mail of the node.
    for (const key of ['<script>', `fallback.${T0.toString(36)}.9.${T0.toString(36)}`, 'primary.1.999999999.zzzzzzzzzzz', 'primary.zzzzzzzzzzz']) {
      expect(parsePeerReport(JSON.stringify({ ...r, lastKeys: [{ node: 'primary', key }] }))).toMatchObject({ ok: false, error: expect.stringMatching(/^not a peer report \(lastKeys\.0: an outage key of its node/) });
    }
    expect(parsePeerReport(JSON.stringify({ ...r, outages: [{ node: 'primary', key: 'primary.1.2.zzzzzzzzzzz', since: new Date(T0).toISOString(), mailedBy: null }] }))).toMatchObject({ ok: false });
    expect(parsePeerReport(JSON.stringify({ ...r, lastKeys: [{ node: 'primary', key: `primary.${T0.toString(36)}.9.${T0.toString(36)}` }, { node: 'primary', key: `primary.${T0.toString(36)}` }] })).ok).toBe(true);
  });
});
