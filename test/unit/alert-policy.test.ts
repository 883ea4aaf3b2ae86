import { renderAlert } from '../../src/alerts/render';
import { outageThread } from '../../src/core/outage-id';
import { alertsForEvents, alertsForMonitorEvent, alertsForTick, withAnnouncement } from '../../src/core/alert-policy';
import { type AlertKind, type AlertPolicy, type AlertPolicyState, type EventRule, type MaintenanceView, type PlannedAlert } from '../../src/core/alert-types';
import { subjectFor } from '../../src/alerts/render';
import { initialState, type CoreEvent, type MonitorState } from '../../src/core/decide';
import type { NodeStatus } from '../../src/core/status';

const T0 = Date.UTC(2026, 0, 5, 9, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

const rules = (over: Partial<Record<AlertKind, Partial<EventRule>>> = {}): Record<AlertKind, EventRule> => {
  const base: Record<AlertKind, EventRule> = {
    primaryDown: { send: true, severity: 'critical' },
    primaryDegraded: { send: true, severity: 'warning' },
    fallbackDown: { send: true, severity: 'warning' },
    fallbackDownPrimaryOut: { send: true, severity: 'critical' },
    allDown: { send: true, severity: 'critical' },
    recovered: { send: true, severity: 'info' },
    reminder: { send: true, severity: 'warning' },
    flapping: { send: true, severity: 'warning' },
    flappingSettled: { send: true, severity: 'info' },
    monitorNetwork: { send: true, severity: 'warning' },
    exposed: { send: true, severity: 'critical' },
    monitorSilent: { send: true, severity: 'warning' },
    monitorBack: { send: true, severity: 'info' },
    hostDown: { send: true, severity: 'critical' },
    monitorsDisagree: { send: true, severity: 'warning' },
    monitorsAgree: { send: true, severity: 'info' },
    peerMisconfigured: { send: true, severity: 'warning' },
  };
  for (const [k, v] of Object.entries(over)) base[k as AlertKind] = { ...base[k as AlertKind], ...v };
  return base;
};

const POLICY: AlertPolicy = { reminderInterval: 6 * HOUR, flapping: { transitions: 4, window: 30 * MIN, settle: 15 * MIN }, events: rules(), quiet: null };

function monitor(statuses: Record<string, NodeStatus>, preferred: string, at = T0): MonitorState {
  const names = Object.keys(statuses);
  const s = initialState(names.map((name, priority) => ({ name, priority })), { wall: at, mono: 0 });
  return {
    ...s,
    nodes: s.nodes.map((n) => ({ ...n, status: statuses[n.name] as NodeStatus, statusReason: statuses[n.name] === 'down' ? 'refused' : 'ok', since: at })),
    preferred,
    allDown: Object.values(statuses).every((x) => x === 'down'),
  };
}

const tr = (node: string, from: NodeStatus, to: NodeStatus, at: number, reason = to === 'down' ? 'refused' : 'ok'): CoreEvent => ({ type: 'node:transition', node, from, to, reason, detail: `detail of ${reason}`, at });
const allDownEvt = (at: number): CoreEvent => ({ type: 'preferred:changed', from: 'fallback', to: 'fallback', reason: 'all nodes down', allDown: true, at });

/** Feeds events like the daemon does, assigning ids to alerts as the outbox would. */
class Driver {
  state: AlertPolicyState = {};
  sent: Array<PlannedAlert & { id: number }> = [];
  #id = 0;
  constructor(
    public policy: AlertPolicy = POLICY,
    public maintenance: MaintenanceView = new Map(),
  ) {}
  #store(out: { state: AlertPolicyState; alerts: PlannedAlert[] }): Array<PlannedAlert & { id: number }> {
    let state = out.state;
    const got = out.alerts.map((a) => {
      const id = ++this.#id;
      if (a.announces) state = withAnnouncement(state, a.facts.node, id);
      return { ...a, id };
    });
    this.state = state;
    this.sent.push(...got);
    return got;
  }
  events(m: MonitorState, at: number, ...evts: CoreEvent[]) {
    return this.#store(alertsForEvents({ state: this.state, monitor: m, maintenance: this.maintenance, policy: this.policy, at }, evts));
  }
  tick(m: MonitorState, at: number) {
    return this.#store(alertsForTick({ state: this.state, monitor: m, maintenance: this.maintenance, policy: this.policy, at }));
  }
}

const kinds = (as: PlannedAlert[]) => as.map((a) => `${a.facts.kind}${a.suppressed ? `(${a.suppressed})` : ''}`);

describe('alert policy: outages', () => {
  test('primary confirmed down → one critical alert; the same outage seen again (restart, repeat) → none', () => {
    const d = new Driver();
    const m = monitor({ primary: 'down', fallback: 'up' }, 'fallback');
    const got = d.events(m, T0, tr('primary', 'up', 'down', T0));
    expect(kinds(got)).toEqual(['primaryDown']);
    expect(got[0]!.facts).toMatchObject({ severity: 'critical', node: 'primary', cause: 'refused', since: T0, preferred: 'fallback', allDown: false });
    expect(got[0]!.announces).toBe(true);
    expect(d.state.primary?.outage).toMatchObject({ announced: true, announcedBy: got[0]!.id });
    expect(d.events(m, T0 + 1000, tr('primary', 'unknown', 'down', T0 + 1000))).toEqual([]);
    expect(d.tick(m, T0 + 2000)).toEqual([]);
  });

  test('recovery: one alert with the duration and cause, answering the outage alert', () => {
    const d = new Driver();
    d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0, tr('primary', 'up', 'down', T0));
    const downId = d.sent[0]!.id;
    const got = d.events(monitor({ primary: 'up', fallback: 'up' }, 'fallback'), T0 + 47 * MIN, tr('primary', 'down', 'up', T0 + 47 * MIN));
    expect(kinds(got)).toEqual(['recovered']);
    expect(got[0]!.facts).toMatchObject({ durationMs: 47 * MIN, cause: 'refused', since: T0, severity: 'info' });
    expect(got[0]!.threadOf).toBe(downId);
    expect(d.state.primary?.outage).toBeNull();
    // degraded also counts as out of down; a second "recovery" says nothing.
    expect(d.events(monitor({ primary: 'degraded', fallback: 'up' }, 'primary'), T0 + 50 * MIN, tr('primary', 'up', 'degraded', T0 + 50 * MIN))).toEqual([]);
  });

  test('fallback down: warning while the primary serves, critical while it is down or in maintenance', () => {
    const fine = new Driver();
    const w = fine.events(monitor({ primary: 'up', fallback: 'down' }, 'primary'), T0, tr('fallback', 'up', 'down', T0));
    expect(w.map((a) => [a.facts.kind, a.facts.severity])).toEqual([['fallbackDown', 'warning']]);

    const three = { primary: 'down', fb1: 'down', fb2: 'up' } as const;
    const out = new Driver();
    const c = out.events(monitor(three, 'fb2'), T0, tr('fb1', 'up', 'down', T0));
    expect(c.map((a) => [a.facts.kind, a.facts.severity])).toEqual([['fallbackDownPrimaryOut', 'critical']]);

    const maint = new Driver(POLICY, new Map([['primary', { reason: 'macOS update', until: T0 + HOUR }]]));
    const mm = maint.events(monitor({ primary: 'up', fallback: 'down' }, 'primary'), T0, tr('fallback', 'up', 'down', T0));
    expect(mm[0]!.facts).toMatchObject({ kind: 'fallbackDownPrimaryOut', primaryMaintenance: 'macOS update' });
    expect(mm[0]!.suppressed).toBeNull();
  });

  test('the last node going down: one ALL NODES DOWN alert, not a fallback alert as well', () => {
    const d = new Driver();
    d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0, tr('primary', 'up', 'down', T0));
    const m = monitor({ primary: 'down', fallback: 'down' }, 'fallback', T0 + MIN);
    const got = d.events(m, T0 + MIN, tr('fallback', 'up', 'down', T0 + MIN), allDownEvt(T0 + MIN));
    expect(kinds(got)).toEqual(['allDown']);
    expect(got[0]!.facts).toMatchObject({ node: 'fallback', allDown: true, severity: 'critical' });
    // It announced the fallback's outage: the fallback's recovery answers it.
    const rec = d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0 + 5 * MIN, tr('fallback', 'down', 'up', T0 + 5 * MIN));
    expect(rec[0]!.threadOf).toBe(got[0]!.id);
  });

  test('an event switched off is recorded as suppressed, and its outage gets no reminder or recovery mail', () => {
    const d = new Driver({ ...POLICY, events: rules({ fallbackDown: { send: false } }) });
    const got = d.events(monitor({ primary: 'up', fallback: 'down' }, 'primary'), T0, tr('fallback', 'up', 'down', T0));
    expect(kinds(got)).toEqual(['fallbackDown(event_off)']);
    expect(d.tick(monitor({ primary: 'up', fallback: 'down' }, 'primary'), T0 + 7 * HOUR)).toEqual([]);
    expect(d.events(monitor({ primary: 'up', fallback: 'up' }, 'primary'), T0 + 8 * HOUR, tr('fallback', 'down', 'up', T0 + 8 * HOUR))).toEqual([]);
  });

  test('quiet (alerts disabled): everything is recorded as suppressed', () => {
    const d = new Driver({ ...POLICY, quiet: 'alerts_disabled' });
    const got = d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0, tr('primary', 'up', 'down', T0));
    expect(kinds(got)).toEqual(['primaryDown(alerts_disabled)']);
    expect(got[0]!.announces).toBe(false);
  });

  test('the caller’s state object is never mutated', () => {
    const before: AlertPolicyState = { primary: { outage: null, flips: [T0 - MIN], flapping: null, maintenance: null } };
    const copy = JSON.parse(JSON.stringify(before)) as AlertPolicyState;
    alertsForEvents({ state: before, monitor: monitor({ primary: 'down', fallback: 'up' }, 'fallback'), maintenance: new Map(), policy: POLICY, at: T0 }, [tr('primary', 'up', 'down', T0)]);
    expect(before).toEqual(copy);
  });
});

describe('alert policy: reminders', () => {
  const down = monitor({ primary: 'down', fallback: 'up' }, 'fallback');

  test('one reminder per interval while the node stays down, answering the outage alert', () => {
    const d = new Driver();
    d.events(down, T0, tr('primary', 'up', 'down', T0));
    expect(d.tick(down, T0 + 6 * HOUR - 1)).toEqual([]);
    const r = d.tick(down, T0 + 6 * HOUR);
    expect(kinds(r)).toEqual(['reminder']);
    expect(r[0]!.facts.durationMs).toBe(6 * HOUR);
    expect(r[0]!.threadOf).toBe(d.sent[0]!.id);
    expect(d.tick(down, T0 + 6 * HOUR + MIN)).toEqual([]);
    const second = d.tick(down, T0 + 12 * HOUR);
    expect(kinds(second)).toEqual(['reminder']);
    // Numbered in the outage, so two monitors' copies of the n-th reminder share a Message-ID.
    expect([r[0]!.facts.reminder, second[0]!.facts.reminder]).toEqual([1, 2]);
    expect(renderAlert({ id: 9, instance: 'mac', facts: second[0]!.facts, threadOf: second[0]!.threadOf }).messageId).toBe(`<reminder-2.${outageThread('primary', second[0]!.facts.outageKey!)}@llm-sentinel>`);
  });

  test('a monitor that took the outage over late numbers its reminder by the intervals elapsed, not from 1 (the owner already mailed reminders 1 and 2)', () => {
    const d = new Driver();
    d.events(down, T0, tr('primary', 'up', 'down', T0));
    // Adopted at 12 h (its owner died): no reminder of its own yet.
    const o = d.state.primary!.outage!;
    d.state = { ...d.state, primary: { ...d.state.primary!, outage: { ...o, lastReminderAt: T0 + 12 * HOUR, reminders: undefined } } };
    const [r] = d.tick(down, T0 + 18 * HOUR);
    expect(r?.facts.reminder).toBe(3);
  });

  test('a long sleep sends one reminder, not one per missed interval; a clock stepped back sends none', () => {
    const d = new Driver();
    d.events(down, T0, tr('primary', 'up', 'down', T0));
    expect(kinds(d.tick(down, T0 + 30 * HOUR))).toEqual(['reminder']);
    expect(d.tick(down, T0 + 30 * HOUR + 1000)).toEqual([]);
    expect(d.tick(down, T0 + 2 * HOUR)).toEqual([]); // clock went back
    expect(d.tick(down, T0 + 30 * HOUR + 5 * HOUR)).toEqual([]);
  });

  test("while the monitor's own network is down nothing is reminded; once back, one reminder", () => {
    const d = new Driver();
    d.events(down, T0, tr('primary', 'up', 'down', T0));
    expect(d.tick({ ...down, monitorOffline: true }, T0 + 7 * HOUR)).toEqual([]);
    expect(kinds(d.tick(down, T0 + 8 * HOUR))).toEqual(['reminder']);
  });

  test('reminderInterval 0 = off', () => {
    const d = new Driver({ ...POLICY, reminderInterval: 0 });
    d.events(down, T0, tr('primary', 'up', 'down', T0));
    expect(d.tick(down, T0 + 100 * HOUR)).toEqual([]);
  });
});

describe('alert policy: flapping', () => {
  const upM = monitor({ primary: 'up', fallback: 'up' }, 'primary');
  const downM = monitor({ primary: 'down', fallback: 'up' }, 'fallback');

  function flap(d: Driver, n: number, start = T0): number {
    let at = start;
    for (let i = 0; i < n; i++) {
      const toDown = i % 2 === 0;
      d.events(toDown ? downM : upM, at, tr('primary', toDown ? 'up' : 'down', toDown ? 'down' : 'up', at));
      at += MIN;
    }
    return at;
  }

  test('more than N changes in the window → one flapping alert, the rest held; a summary when it settles', () => {
    const d = new Driver();
    const end = flap(d, 9);
    expect(kinds(d.sent)).toEqual([
      'primaryDown',
      'recovered',
      'primaryDown',
      'recovered',
      'primaryDown(flapping)',
      'flapping',
      'recovered(flapping)',
      'primaryDown(flapping)',
      'recovered(flapping)',
      'primaryDown(flapping)',
    ]);
    expect(d.sent.find((a) => a.facts.kind === 'flapping')!.facts.flaps).toEqual({ count: 5, since: T0, windowMs: 30 * MIN });
    // Still down at the end: no reminders while flapping; settling announces the outage.
    expect(d.tick(downM, end + 13 * MIN)).toEqual([]);
    const settled = d.tick(downM, end + 14 * MIN); // 15 min after the last change
    expect(kinds(settled)).toEqual(['flappingSettled']);
    expect(settled[0]!.facts.flaps?.count).toBe(9);
    expect(settled[0]!.announces).toBe(true);
    const rec = d.events(upM, end + 20 * MIN, tr('primary', 'down', 'up', end + 20 * MIN));
    expect(kinds(rec)).toEqual(['recovered']);
    expect(rec[0]!.threadOf).toBe(settled[0]!.id);
  });

  test('changes spread wider than the window are not flapping; transitions 0 turns it off', () => {
    const d = new Driver();
    let at = T0;
    for (let i = 0; i < 8; i++) {
      const toDown = i % 2 === 0;
      d.events(toDown ? downM : upM, at, tr('primary', toDown ? 'up' : 'down', toDown ? 'down' : 'up', at));
      at += 10 * MIN;
    }
    expect(kinds(d.sent).filter((k) => k.startsWith('flapping'))).toEqual([]);
    const d2 = new Driver({ ...POLICY, flapping: { ...POLICY.flapping, transitions: 0 } });
    flap(d2, 12);
    expect(kinds(d2.sent).filter((k) => k.includes('flapping'))).toEqual([]);
  });
});

describe('alert policy: maintenance', () => {
  const downM = monitor({ primary: 'down', fallback: 'up' }, 'fallback');
  const window = new Map([['primary', { reason: 'macOS update', until: T0 + 45 * MIN }]]);

  test('held during the window; at its end, still down → exactly one alert', () => {
    const d = new Driver(POLICY, window);
    d.tick(monitor({ primary: 'up', fallback: 'up' }, 'primary'), T0);
    const held = d.events(downM, T0 + MIN, tr('primary', 'up', 'down', T0 + MIN));
    expect(kinds(held)).toEqual(['primaryDown(maintenance)']);
    expect(d.tick(downM, T0 + 20 * MIN)).toEqual([]);
    expect(d.tick(downM, T0 + 7 * HOUR)).toEqual([]); // no reminders inside a window either
    d.maintenance = new Map();
    const released = d.tick(downM, T0 + 8 * HOUR);
    expect(kinds(released)).toEqual(['primaryDown']);
    expect(released[0]!.facts.afterMaintenance).toBe('macOS update');
    expect(d.tick(downM, T0 + 8 * HOUR + MIN)).toEqual([]);
  });

  test('recovered during the window → nothing goes out at its end', () => {
    const d = new Driver(POLICY, window);
    d.events(downM, T0, tr('primary', 'up', 'down', T0));
    const rec = d.events(monitor({ primary: 'up', fallback: 'up' }, 'primary'), T0 + 10 * MIN, tr('primary', 'down', 'up', T0 + 10 * MIN));
    expect(kinds(rec)).toEqual(['recovered(maintenance)']);
    d.maintenance = new Map();
    expect(d.tick(monitor({ primary: 'up', fallback: 'up' }, 'primary'), T0 + HOUR)).toEqual([]);
  });

  test('an outage announced before the window still gets its recovery mail', () => {
    const d = new Driver();
    d.events(downM, T0, tr('primary', 'up', 'down', T0));
    d.maintenance = window;
    const rec = d.events(monitor({ primary: 'up', fallback: 'up' }, 'primary'), T0 + 10 * MIN, tr('primary', 'down', 'up', T0 + 10 * MIN));
    expect(kinds(rec)).toEqual(['recovered']);
  });
});

describe('alert policy: tick repairs', () => {
  test('a node found down with no outage on record is announced once; a removed node is forgotten', () => {
    const d = new Driver();
    const m = monitor({ primary: 'down', fallback: 'up' }, 'fallback');
    expect(kinds(d.tick(m, T0))).toEqual(['primaryDown']);
    expect(d.tick(m, T0 + MIN)).toEqual([]);
    d.state = { ...d.state, gone: { outage: null, flips: [], flapping: null, maintenance: null } };
    d.tick(m, T0 + 2 * MIN);
    expect(Object.keys(d.state).sort()).toEqual(['fallback', 'primary']);
  });

  test('an open outage whose node is healthy again (no transition seen) is closed with a recovery', () => {
    const d = new Driver();
    d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0, tr('primary', 'up', 'down', T0));
    expect(kinds(d.tick(monitor({ primary: 'up', fallback: 'up' }, 'primary', T0 + HOUR), T0 + HOUR))).toEqual(['recovered']);
  });
});

describe('alert policy: monitor events', () => {
  test('network back → one monitorNetwork alert with the offline duration; exposure → one critical alert', () => {
    const m = monitor({ primary: 'up', fallback: 'up' }, 'primary');
    const base = { state: {}, monitor: m, maintenance: new Map(), policy: POLICY };
    const net = alertsForMonitorEvent({ ...base, at: T0 + 10 * MIN }, { type: 'monitor:network-back', since: T0, at: T0 + 10 * MIN });
    expect(kinds(net.alerts)).toEqual(['monitorNetwork']);
    expect(net.alerts[0]?.facts).toMatchObject({ durationMs: 10 * MIN, since: T0, severity: 'warning' });
    const exp = alertsForMonitorEvent({ ...base, at: T0 }, { type: 'node:exposed', node: 'primary', detail: 'answered', at: T0 });
    expect(kinds(exp.alerts)).toEqual(['exposed']);
    expect(exp.alerts[0]?.facts).toMatchObject({ node: 'primary', severity: 'critical', detail: 'answered' });
    expect(subjectFor('oracle-1', exp.alerts[0]!.facts)).toBe("[llm-sentinel] primary is OPEN TO THE INTERNET without authentication — an anonymous request got Ollama's API to answer");
    expect(subjectFor('oracle-1', net.alerts[0]!.facts)).toMatch(/^\[llm-sentinel\] monitor lost its own network for 10m00s/);
  });

  test('switched off or quiet: recorded as suppressed, not sent', () => {
    const m = monitor({ primary: 'up', fallback: 'up' }, 'primary');
    const off = alertsForMonitorEvent({ state: {}, monitor: m, maintenance: new Map(), policy: { ...POLICY, events: rules({ exposed: { send: false } }) }, at: T0 }, { type: 'node:exposed', node: 'primary', detail: 'x', at: T0 });
    expect(kinds(off.alerts)).toEqual(['exposed(event_off)']);
    const quiet = alertsForMonitorEvent({ state: {}, monitor: m, maintenance: new Map(), policy: { ...POLICY, quiet: 'alerts_disabled' }, at: T0 }, { type: 'monitor:network-back', since: T0 - 1, at: T0 });
    expect(kinds(quiet.alerts)).toEqual(['monitorNetwork(alerts_disabled)']);
  });
});

describe('alert policy: alerts follow traffic (a degraded primary that lost its traffic)', () => {
  const SLOW_POLICY: AlertPolicy = { ...POLICY, slow: { ttftMs: 5000, totalMs: 20_000 } };
  /** primary degraded for `reason` (with its last error / latency), fallback as given, apps where `preferred` says. */
  function degradedMonitor(reason: string, preferred: string, fallback: NodeStatus = 'up', at = T0): MonitorState {
    const m = monitor({ primary: 'degraded', fallback }, preferred, at);
    const [p, f] = m.nodes;
    const primary = {
      ...p!,
      statusReason: reason,
      lastError: reason === 'slow' ? null : { reason: 'wrong_answer' as const, message: 'answer "I cannot help with that." does not match /pong/i', at },
      latency: reason === 'slow' ? { ttftMs: 7400, totalMs: 8000, tokensPerSec: 20, loadMs: 200 } : null,
    };
    return { ...m, nodes: [primary, f!] };
  }
  const moved = (at: number): CoreEvent => ({ type: 'preferred:changed', from: 'primary', to: 'fallback', reason: 'primary is degraded', allDown: false, at });

  // Step table: each row is one batch; the alerts it yields (kind(suppression)) and whether they thread.
  test('wrong answers → one DEGRADED alert naming them; repeats say nothing; up again → one recovery in the thread', () => {
    const d = new Driver(SLOW_POLICY);
    const steps: Array<[string, MonitorState, number, CoreEvent[], string[]]> = [
      ['primary degraded, traffic moves', degradedMonitor('wrong_answer', 'fallback'), T0, [tr('primary', 'up', 'degraded', T0, 'wrong_answer'), moved(T0)], ['primaryDegraded']],
      ['still degraded, another canary', degradedMonitor('wrong_answer', 'fallback'), T0 + MIN, [], []],
      ['a tick', degradedMonitor('wrong_answer', 'fallback'), T0 + 2 * MIN, [], []],
      ['primary up again', monitor({ primary: 'up', fallback: 'up' }, 'fallback'), T0 + 10 * MIN, [tr('primary', 'degraded', 'up', T0 + 10 * MIN)], ['recovered']],
    ];
    for (const [what, m, at, evts, want] of steps) {
      const got = evts.length > 0 ? d.events(m, at, ...evts) : d.tick(m, at);
      expect([what, kinds(got)]).toEqual([what, want]);
    }
    const [alert, recovery] = d.sent;
    expect(alert!.facts).toMatchObject({ kind: 'primaryDegraded', severity: 'warning', cause: 'wrong_answer', preferred: 'fallback' });
    expect(subjectFor('mac', alert!.facts)).toBe('[llm-sentinel] primary DEGRADED — wrong answers ("I cannot help with that."); apps on fallback');
    expect(recovery!.threadOf).toBe(alert!.id);
    expect(recovery!.facts.durationMs).toBe(10 * MIN);
  });

  test('slow canaries → one SLOW alert with the first-token time (load time taken off) and the limit', () => {
    const d = new Driver(SLOW_POLICY);
    const got = d.events(degradedMonitor('slow', 'fallback'), T0, tr('primary', 'up', 'degraded', T0, 'slow'), moved(T0));
    expect(kinds(got)).toEqual(['primaryDegraded']);
    expect(got[0]!.facts.slow).toEqual({ ttftMs: 7200, totalMs: 7800, ttftLimitMs: 5000, totalLimitMs: 20_000 });
    expect(subjectFor('mac', got[0]!.facts)).toBe('[llm-sentinel] primary SLOW — first token 7.2 s > 5.0 s; apps on fallback');
  });

  test('degraded while apps stay on it (the fallback is down too) → no alert; when the fallback returns and takes the traffic → the alert', () => {
    const d = new Driver();
    expect(d.events(degradedMonitor('wrong_answer', 'primary', 'down'), T0, tr('primary', 'up', 'degraded', T0, 'wrong_answer'))).toEqual([]);
    const got = d.events(degradedMonitor('wrong_answer', 'fallback', 'up'), T0 + MIN, tr('fallback', 'down', 'up', T0 + MIN), moved(T0 + MIN));
    expect(kinds(got)).toEqual(['primaryDegraded']);
  });

  test('degraded → down → degraded → up within one outage: one thread (a DOWN follow-up, one recovery)', () => {
    const d = new Driver();
    const first = d.events(degradedMonitor('wrong_answer', 'fallback'), T0, tr('primary', 'up', 'degraded', T0, 'wrong_answer'), moved(T0));
    const root = first[0]!.id;
    const down = d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback', T0 + MIN), T0 + MIN, tr('primary', 'degraded', 'down', T0 + MIN));
    expect(kinds(down)).toEqual(['primaryDown']);
    expect(down[0]!.threadOf).toBe(root);
    expect(d.events(degradedMonitor('wrong_answer', 'fallback'), T0 + 2 * MIN, tr('primary', 'down', 'degraded', T0 + 2 * MIN))).toEqual([]);
    const rec = d.events(monitor({ primary: 'up', fallback: 'up' }, 'fallback'), T0 + 3 * MIN, tr('primary', 'degraded', 'up', T0 + 3 * MIN));
    expect(kinds(rec)).toEqual(['recovered']);
    expect(rec[0]!.threadOf).toBe(root);
    expect(rec[0]!.facts.durationMs).toBe(3 * MIN);
  });

  test('down → degraded with apps still on the fallback keeps the outage open (no early recovery)', () => {
    const d = new Driver();
    d.events(monitor({ primary: 'down', fallback: 'up' }, 'fallback'), T0, tr('primary', 'up', 'down', T0));
    expect(d.events(degradedMonitor('wrong_answer', 'fallback'), T0 + MIN, tr('primary', 'down', 'degraded', T0 + MIN))).toEqual([]);
    expect(d.state.primary?.outage).not.toBeNull();
    expect(kinds(d.events(monitor({ primary: 'up', fallback: 'up' }, 'fallback'), T0 + 2 * MIN, tr('primary', 'degraded', 'up', T0 + 2 * MIN)))).toEqual(['recovered']);
  });

  test('maintenance holds it like a down alert; flapping between up and degraded is flapping', () => {
    const maint = new Driver(POLICY, new Map([['primary', { reason: 'model swap', until: T0 + HOUR }]]));
    expect(kinds(maint.events(degradedMonitor('wrong_answer', 'fallback'), T0, tr('primary', 'up', 'degraded', T0, 'wrong_answer'), moved(T0)))).toEqual(['primaryDegraded(maintenance)']);
    maint.maintenance = new Map();
    expect(kinds(maint.tick(degradedMonitor('wrong_answer', 'fallback'), T0 + HOUR + MIN))).toEqual(['primaryDegraded']);

    const flap = new Driver({ ...POLICY, flapping: { transitions: 2, window: 30 * MIN, settle: 15 * MIN } });
    const out: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t = T0 + i * 2 * MIN;
      out.push(...kinds(flap.events(degradedMonitor('wrong_answer', 'fallback'), t, tr('primary', 'up', 'degraded', t, 'wrong_answer'), moved(t))));
      out.push(...kinds(flap.events(monitor({ primary: 'up', fallback: 'up' }, 'fallback'), t + MIN, tr('primary', 'degraded', 'up', t + MIN))));
    }
    expect(out.filter((k) => k === 'flapping')).toHaveLength(1);
    expect(out.filter((k) => k === 'primaryDegraded')).toHaveLength(1);
  });
});
