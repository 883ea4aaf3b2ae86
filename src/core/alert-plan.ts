import type { CoreEvent, NodeRuntime } from './decide';
import { bestChained, chainRoot, compareKeys, nextOutageKey, sameOutage, standaloneKey } from './outage-id';
import { speaker, UNDECIDED, type PeerOutage } from './peers';
import type { NodeStatus } from './status';
import { emptyNodeState, type AlertKind, type SuppressReason, type EventRule, type Flapping, type NodeAlertState, type Outage, type AlertPolicyState, type NodeSnapshot, type AlertFacts, type PlannedAlert, type PolicyInput, type PolicyOutput } from './alert-types';

/**
 * The alert policy's working copy and its rules (src/core/alert-policy.ts holds the entry points). Pure, like
 * the policy: state and facts in, planned alerts and the next state out.
 */

export const healthy = (s: NodeStatus) => s === 'up' || s === 'degraded';

export type Transition = Extract<CoreEvent, { type: 'node:transition' }>;

/** A working copy of the input; every public function builds one, applies its rules and returns the result. */
export class Plan {
  readonly state: AlertPolicyState;
  readonly alerts: PlannedAlert[] = [];
  readonly rekeys: NonNullable<PolicyOutput['rekeys']> = [];

  constructor(private readonly input: PolicyInput) {
    // Deep enough that the caller's object is never mutated.
    this.state = Object.fromEntries(
      Object.entries(input.state).map(([k, v]) => [k, { ...v, flips: [...v.flips], outage: v.outage && { ...v.outage }, flapping: v.flapping && { ...v.flapping } }]),
    );
  }

  node(name: string): NodeAlertState {
    return (this.state[name] ??= emptyNodeState());
  }

  get primary(): NodeRuntime | undefined {
    return this.input.monitor.nodes[0];
  }

  rule(kind: AlertKind): EventRule {
    return this.input.policy.events[kind];
  }

  get self(): string | undefined {
    return this.input.peers?.voice.self;
  }

  get peerOutages(): ReadonlyMap<string, PeerOutage> {
    return this.input.peers?.outages ?? new Map();
  }

  /** Every outage key known for a node: its own (best, open) and what peers reported. */
  knownKeys(node: string): Array<string | undefined> {
    const st = this.state[node];
    return [st?.lastKey, st?.outage?.key, this.input.peers?.lastKeys?.get(node), this.peerOutages.get(node)?.key];
  }

  /**
   * The key of a new outage of `node` confirmed down at `since` (core/outage-id): numbered one past the best chain
   * known, so two monitors apart name it alike. Truth table (peers configured):
   *   every peer heard at least once since this monitor started → numbered (its count is the one they share:
   *                                                              every outage it missed while running apart it
   *                                                              learns on the next report);
   *   some peer not heard since this monitor started            → by time: outages may have come and gone while
   *                                                              it was down, and a stale number would give this
   *                                                              outage the Message-ID of one a peer mailed.
   * Named by time, an outage is its own thread: two monitors may then mail it under two Message-IDs, but it never
   * takes another outage's.
   */
  newKey(node: string, since: number): string {
    if (this.input.peers?.heardAll === false) return standaloneKey(node, since);
    return nextOutageKey(node, since, this.knownKeys(node));
  }

  /**
   * Keeps the node's chain (what the next outage is numbered after) and settles an open outage's key with a live
   * peer's, so both end on one key and its recovery goes out once, in one thread. Truth table, own open outage
   * vs a live peer's open outage on the same node, under different keys:
   *   same thread (only the naming time differs)      → the better key (the earlier time: one Subject);
   *   other threads, only one of them mailed          → the mailed one (its start is what people have);
   *   other threads, both mailed or neither           → the better key (core/outage-id compareKeys);
   * Both sides compute the same answer from the same reports. Taking a key moves queued alerts to it (`rekeys`).
   */
  settleKeys(node: string): void {
    const st = this.node(node);
    const o = st.outage;
    const peer = this.peerOutages.get(node);
    if (o?.key && peer && this.input.peers?.voice.live.has(peer.from) && peer.key !== o.key && this.takesPeerKey(node, o, o.key, peer)) {
      this.rekeys.push({ node, from: o.key, to: peer.key });
      o.key = peer.key;
    }
    st.lastKey = bestChained(node, this.knownKeys(node)) ?? chainRoot(node, this.input.at);
  }

  /** The rule of settleKeys for one pair of keys (see its truth table). */
  takesPeerKey(node: string, o: Outage, key: string, peer: PeerOutage): boolean {
    const better = compareKeys(node, peer.key, key) < 0;
    if (sameOutage(node, peer.key, key)) return better;
    // Mailed as this monitor's report says it (src/peers/report.ts): accepted by a channel, not merely queued.
    const mine = o.owner === this.self && o.announcedBy !== null && (this.input.peers?.mailedRoots?.has(o.announcedBy) ?? false);
    const theirs = peer.mailedBy !== null && peer.mailedBy !== this.self;
    return mine === theirs ? better : theirs;
  }

  /** Another monitor speaks for this alert (its name), or undefined when this one does. */
  heldBy(opts: { owner?: string | null; about?: string } = {}): string | undefined {
    const v = this.input.peers?.voice;
    if (!v) return undefined;
    const who = speaker(v, opts);
    return who === v.self ? undefined : (who ?? UNDECIDED);
  }

  /**
   * The node-specific hold (maintenance, flapping), then the rule/quiet switch. One voice is not decided here:
   * every monitor queues every alert and the delivery gate (core/peer-gate) decides who sends it, so a
   * follower's copy waits pending instead of being dropped (the `opts` only say whose voice it would be).
   */
  suppression(node: string, kind: AlertKind, opts: { ignoreMaintenance?: boolean; owner?: string | null; about?: string } = {}): SuppressReason | null {
    if (this.input.policy.quiet) return this.input.policy.quiet;
    if (this.state[node]?.flapping && kind !== 'flapping' && kind !== 'flappingSettled') return 'flapping';
    if (!opts.ignoreMaintenance && this.input.maintenance.has(node)) return 'maintenance';
    if (!this.rule(kind).send) return 'event_off';
    return null;
  }

  /** Alert ids queued here and not delivered yet (the delivery gate may still hold them). */
  get unsent(): ReadonlySet<number> {
    return this.input.peers?.unsent ?? new Set();
  }

  /** Which down alert a node's confirmed outage deserves, from where it sits and what else is out. */
  downKind(rt: NodeRuntime, allDown: boolean): { kind: AlertKind; primaryMaintenance?: string } {
    if (allDown) return { kind: 'allDown' };
    const primary = this.primary;
    if (!primary || primary.name === rt.name) return { kind: 'primaryDown' };
    const inMaint = this.input.maintenance.get(primary.name);
    if (inMaint) return { kind: 'fallbackDownPrimaryOut', primaryMaintenance: inMaint.reason };
    // Truth table for a fallback going down:  primary up|degraded → warning (safety net gone);
    //                                          primary down|unknown → critical (nothing left behind it).
    return { kind: healthy(primary.status) ? 'fallbackDown' : 'fallbackDownPrimaryOut' };
  }

  facts(kind: AlertKind, node: string, extra: Partial<AlertFacts> = {}): AlertFacts {
    const m = this.input.monitor;
    return {
      kind,
      severity: this.rule(kind).severity,
      node,
      at: this.input.at,
      cause: null,
      detail: null,
      since: null,
      durationMs: null,
      preferred: m.preferred,
      allDown: m.allDown,
      primary: m.nodes[0]?.name ?? '',
      nodes: m.nodes.map(snapshot),
      ...extra,
    };
  }

  emit(facts: AlertFacts, suppressed: SuppressReason | null, threadOf: number | null, announces = false, owner?: string | null): void {
    const held = suppressed === 'peer' && facts.heldBy === undefined ? { heldBy: this.heldBy({ owner, about: facts.monitor }) } : {};
    const root = announces && facts.outageKey ? { outageRoot: true } : {};
    this.alerts.push({ facts: { ...facts, ...held, ...root }, suppressed, threadOf, announces: announces && suppressed === null });
  }

  /**
   * Traffic left the primary because it is degraded (wrong or empty answers, too slow, …), not down: apps
   * run on a fallback. Truth table (primary status, preferred, allDown) → away:
   *   degraded, a fallback, false → yes;  degraded, primary → no (it still serves);  up|down|unknown → no.
   */
  trafficAway(rt: NodeRuntime): boolean {
    const m = this.input.monitor;
    return m.nodes[0]?.name === rt.name && rt.status === 'degraded' && m.preferred !== rt.name && !m.allDown;
  }

  /** An open outage ends when its node is up, or degraded with traffic back on it. */
  outageOver(rt: NodeRuntime): boolean {
    return rt.status === 'up' || (rt.status === 'degraded' && !this.trafficAway(rt));
  }

  /** Opens the outage of a primary that lost its traffic while degraded: one alert naming the cause. */
  degraded(rt: NodeRuntime, at: number): void {
    const st = this.node(rt.name);
    if (st.outage || !this.trafficAway(rt)) return;
    const startsFlapping = this.countFlip(rt.name, at);
    const kind: AlertKind = 'primaryDegraded';
    const suppressed = this.suppression(rt.name, kind);
    const cause = rt.statusReason;
    const detail = rt.lastError?.message ?? null;
    st.outage = {
      since: rt.since,
      cause,
      detail,
      announced: suppressed === null,
      announcedBy: null,
      heldFor: suppressed === null ? null : suppressed === 'maintenance' || suppressed === 'flapping' ? suppressed : 'off',
      lastReminderAt: suppressed === null ? this.input.at : null,
      degraded: true,
    };
    if (suppressed === 'maintenance') st.maintenance = this.input.maintenance.get(rt.name)?.reason ?? 'maintenance';
    this.emit(this.facts(kind, rt.name, { cause, detail, since: rt.since, ...this.slowFacts(rt, cause) }), suppressed, null, true);
    if (startsFlapping) this.flappingAlert(rt.name);
  }

  slowFacts(rt: NodeRuntime, cause: string): Partial<AlertFacts> {
    const limits = this.input.policy.slow;
    if (cause !== 'slow' || !limits) return {};
    const load = rt.latency?.loadMs ?? 0;
    const minus = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.max(0, v - load));
    return { slow: { ttftMs: minus(rt.latency?.ttftMs), totalMs: minus(rt.latency?.totalMs), ttftLimitMs: limits.ttftMs, totalLimitMs: limits.totalMs } };
  }

  flappingAlert(node: string): void {
    const fl = this.node(node).flapping as Flapping;
    const suppressed = this.suppression(node, 'flapping');
    this.emit(this.facts('flapping', node, { flaps: { count: fl.count, since: fl.since, windowMs: this.input.policy.flapping.window } }), suppressed, null);
  }

  /** A node was confirmed down (transition, or found down with no outage on record). */
  down(rt: NodeRuntime, cause: string, detail: string | null, since: number, allDown: boolean): AlertKind | undefined {
    const st = this.node(rt.name);
    const open = st.outage;
    if (open?.degraded) {
      // Degraded, then down, in one outage: one thread. Its announced thread gets a follow-up saying so.
      open.degraded = false;
      open.cause = cause;
      open.detail = detail;
      const suppressed = open.announced ? this.suppression(rt.name, 'primaryDown') : null;
      if (open.announced) this.emit(this.facts('primaryDown', rt.name, { cause, detail, since }), suppressed, open.announcedBy);
      return undefined;
    }
    if (open) return undefined; // already known: a restart or a repeated event must not mail twice
    const { kind, primaryMaintenance } = this.downKind(rt, allDown);
    const peer = this.peerOutages.get(rt.name);
    const key = peer?.key ?? this.newKey(rt.name, since);
    st.lastKey = bestChained(rt.name, [st.lastKey, key]);
    if (peer?.mailedBy) {
      // Another monitor already mailed this outage (before this one saw it, or before it restarted): adopt it.
      st.outage = { since, cause, detail, announced: true, announcedBy: null, heldFor: null, lastReminderAt: this.input.at, key, owner: peer.mailedBy };
      this.emit(this.facts(kind, rt.name, { cause, detail, since, primaryMaintenance, outageKey: key, heldBy: peer.mailedBy }), 'peer', null);
      return kind;
    }
    const suppressed = this.suppression(rt.name, kind);
    st.outage = {
      since,
      cause,
      detail,
      announced: suppressed === null,
      announcedBy: null,
      heldFor: suppressed === null ? null : suppressed === 'maintenance' || suppressed === 'flapping' || suppressed === 'peer' ? suppressed : 'off',
      lastReminderAt: suppressed === null ? this.input.at : null,
      key,
      ...(suppressed === null && this.self ? { owner: this.self } : {}),
    };
    if (suppressed === 'maintenance') st.maintenance = this.input.maintenance.get(rt.name)?.reason ?? 'maintenance';
    this.emit(this.facts(kind, rt.name, { cause, detail, since, primaryMaintenance, outageKey: key }), suppressed, null, true);
    return kind;
  }

  /** A node with an open outage is up or degraded again. */
  recovered(rt: NodeRuntime, at: number): void {
    const st = this.node(rt.name);
    const o = st.outage;
    if (!o) return;
    st.outage = null;
    if (!o.announced) {
      // Nobody was told it was down; record why nothing goes out now either (maintenance, flapping).
      if (o.heldFor === 'maintenance' || o.heldFor === 'flapping' || o.heldFor === 'peer') {
        this.emit(this.facts('recovered', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since, outageKey: o.key }), o.heldFor, null);
      }
      return;
    }
    // An announced outage gets its recovery mail even inside a maintenance window: it closes a thread people
    // are watching. Flapping is the exception: the flapping mail and its summary speak for those changes.
    const suppressed = this.suppression(rt.name, 'recovered', { ignoreMaintenance: true, owner: o.owner });
    this.emit(this.facts('recovered', rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: at - o.since, outageKey: o.key }), suppressed, o.announcedBy, false, o.owner);
  }

  /** Counts a change into or out of `down`; returns true when it starts flapping. */
  flip(t: Transition): boolean {
    // Start-up resolution (from `unknown`) is not a change anyone caused.
    if (t.from === 'unknown' || (t.from !== 'down' && t.to !== 'down')) return false;
    return this.countFlip(t.node, t.at);
  }

  /** Counts one change of a node (into or out of an outage); returns true when it starts flapping. */
  countFlip(node: string, at: number): boolean {
    const f = this.input.policy.flapping;
    if (f.transitions === 0) return false;
    const t = { node, at };
    const st = this.node(t.node);
    st.flips = [...st.flips.filter((x) => x > t.at - f.window), t.at];
    if (st.flapping) {
      st.flapping = { ...st.flapping, count: st.flapping.count + 1, lastAt: t.at };
      return false;
    }
    if (st.flips.length <= f.transitions) return false;
    st.flapping = { since: st.flips[0] ?? t.at, count: st.flips.length, lastAt: t.at };
    return true;
  }

  /** An unannounced outage whose hold (maintenance, flapping) is over while the node is still down: tell people now, once. */
  announceHeld(rt: NodeRuntime, endedWindow: string | null): void {
    const o = this.node(rt.name).outage;
    if (!o || o.announced || o.heldFor === null || o.heldFor === 'off' || !(rt.status === 'down' || (o.degraded && this.trafficAway(rt)))) return;
    const peer = this.peerOutages.get(rt.name);
    if (o.heldFor === 'peer' && peer) {
      // Held for a peer: take its identity, and when it (or another) mailed the start, that is the announcement.
      o.key = peer.key;
      this.node(rt.name).lastKey = bestChained(rt.name, [this.node(rt.name).lastKey, peer.key]);
      if (peer.mailedBy) {
        Object.assign(o, { announced: true, heldFor: null, owner: peer.mailedBy, lastReminderAt: this.input.at });
        return;
      }
    }
    const { kind, primaryMaintenance } = o.degraded ? { kind: 'primaryDegraded' as const, primaryMaintenance: undefined } : this.downKind(rt, this.input.monitor.allDown);
    const suppressed = this.suppression(rt.name, kind);
    if (suppressed !== null) return;
    const extra = o.heldFor === 'maintenance' ? { afterMaintenance: endedWindow ?? 'maintenance' } : {};
    o.announced = true;
    o.heldFor = null;
    o.lastReminderAt = this.input.at;
    if (this.self) o.owner = this.self;
    o.key ??= this.newKey(rt.name, o.since);
    this.node(rt.name).lastKey = bestChained(rt.name, [this.node(rt.name).lastKey, o.key]);
    this.emit(this.facts(kind, rt.name, { cause: o.cause, detail: o.detail, since: o.since, durationMs: this.input.at - o.since, primaryMaintenance, outageKey: o.key, ...extra }), null, null, true);
  }
}

/** What a mail says about a node: its status and cause, with the latency of its last canary. */
export function snapshot(n: NodeRuntime): NodeSnapshot {
  return {
    name: n.name,
    priority: n.priority,
    status: n.status,
    since: n.since,
    cause: n.status === 'up' ? null : n.statusReason,
    detail: n.status === 'up' ? null : (n.lastError?.message ?? null),
    lastOkAt: n.lastOkAt,
    ttftMs: n.latency?.ttftMs ?? null,
    totalMs: n.latency?.totalMs ?? null,
  };
}
