/** What the alert policy speaks of: alert kinds, the policy's settings and memory, and the facts it plans. */
import type { MonitorState } from './decide';
import type { PeerOutage, Voice } from './peers';
import type { NodeStatus } from './status';


export const ALERT_KINDS = [
  'primaryDown',
  'primaryDegraded',
  'fallbackDown',
  'fallbackDownPrimaryOut',
  'allDown',
  'recovered',
  'reminder',
  'flapping',
  'flappingSettled',
  'monitorNetwork',
  'exposed',
  'monitorSilent',
  'monitorBack',
  'hostDown',
  'monitorsDisagree',
  'monitorsAgree',
  'peerMisconfigured',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export type Severity = 'critical' | 'warning' | 'info';

/** Why an alert was recorded but not sent. The first three are the policy's; the others the caller's. */
export type SuppressReason = 'maintenance' | 'flapping' | 'event_off' | 'alerts_disabled' | 'no_channel' | 'peer';

export interface EventRule {
  send: boolean;
  severity: Severity;
}

export interface AlertPolicy {
  /** Repeat an announced outage this often while it lasts; 0 = never. */
  reminderInterval: number;
  /** More than `transitions` changes into/out of `down` within `window` = flapping (0 = off); it ends after `settle` without one. */
  flapping: { transitions: number; window: number; settle: number };
  events: Record<AlertKind, EventRule>;
  /** Set when nothing may be sent at all (alerts.enabled false, no channel): every alert is recorded as suppressed. */
  quiet: 'alerts_disabled' | 'no_channel' | null;
  /** decision.slowTtft / slowTotal, quoted in a SLOW alert. */
  slow?: { ttftMs: number; totalMs: number };
}

export interface Outage {
  /** When the node was confirmed down. */
  since: number;
  cause: string;
  detail: string | null;
  /** True once an alert went out (or is queued) for it: only such outages get reminders and a recovery mail. */
  announced: boolean;
  /** The alert that announced it (its mail starts the thread); set by the caller once the row has an id. */
  announcedBy: number | null;
  /** Why it was not announced when it began; `off` means it never will be (event switched off, quiet); `peer`: another monitor speaks. */
  heldFor: 'maintenance' | 'flapping' | 'off' | 'peer' | null;
  lastReminderAt: number | null;
  /** Reminders decided for it so far. */
  reminders?: number;
  /** Opened because traffic left a degraded (not down) primary; cleared if it then goes down. */
  degraded?: boolean;
  /** Its identity across monitors (core/outage-id); absent in state stored by older versions. */
  key?: string;
  /** The monitor whose mail announced it (this instance or a peer); absent: not announced, or alone. */
  owner?: string;
}

export interface Flapping {
  since: number;
  /** Changes counted since flapping began (including the ones that started it). */
  count: number;
  lastAt: number;
}

export interface NodeAlertState {
  outage: Outage | null;
  /** Times of recent counted changes, newest last, within the flapping window. */
  flips: number[];
  flapping: Flapping | null;
  /** The best outage key known for the node (its own or a peer's, open or over): a new outage is numbered one past it (core/outage-id). */
  lastKey?: string;
  /** The reason of the maintenance window that covered the node at the last look, so its end is noticed (even across a restart). */
  maintenance: string | null;
}

export type AlertPolicyState = Record<string, NodeAlertState>;

/** Maintenance windows active now, by node. */
export type MaintenanceView = ReadonlyMap<string, { reason: string; until: number }>;

export interface NodeSnapshot {
  name: string;
  priority: number;
  status: NodeStatus;
  since: number;
  /** Why it is not up (null when up). */
  cause: string | null;
  detail: string | null;
  lastOkAt: number | null;
  ttftMs: number | null;
  totalMs: number | null;
}

/** Everything rendering needs, stored with the alert as JSON. Never holds a secret. */
export interface AlertFacts {
  kind: AlertKind;
  severity: Severity;
  node: string;
  at: number;
  cause: string | null;
  detail: string | null;
  /** When the outage began (down, reminder, recovered). */
  since: number | null;
  /** Outage length so far (reminder) or in total (recovered). */
  durationMs: number | null;
  /** Where apps go now. */
  preferred: string;
  allDown: boolean;
  primary: string;
  nodes: NodeSnapshot[];
  /** The primary is in maintenance (fallbackDownPrimaryOut). */
  primaryMaintenance?: string;
  /** This down alert was held by a maintenance window that has now ended (its reason). */
  afterMaintenance?: string;
  flaps?: { count: number; since: number; windowMs: number };
  /** A SLOW primary: its last canary's times (load time taken off) and the limits they passed. */
  slow?: { ttftMs: number | null; totalMs: number | null; ttftLimitMs: number; totalLimitMs: number };
  /** The outage this alert belongs to (core/outage-id): mails from any monitor thread on it. */
  outageKey?: string;
  /** This alert starts its outage's thread. */
  outageRoot?: boolean;
  /** A reminder's number in its outage (1 = the first): two monitors' copies of one reminder share a Message-ID. */
  reminder?: number;
  /** Held, not sent: the monitor that speaks for it (docs/alerts.md "One voice"). */
  heldBy?: string;
  /** The peer monitor a monitorSilent / monitorBack / hostDown alert is about. */
  monitor?: string;
  /** monitorsDisagree / monitorsAgree: each monitor's verdict about the node (this one first) and why. */
  views?: Array<{ monitor: string; status: NodeStatus; reason: string | null }>;
}

export interface PlannedAlert {
  facts: AlertFacts;
  suppressed: SuppressReason | null;
  /** The earlier alert this one answers (the outage's first mail). */
  threadOf: number | null;
  /** This alert announces `facts.node`'s outage: the caller stores its id as `outage.announcedBy`. */
  announces: boolean;
}

export interface PolicyInput {
  state: AlertPolicyState;
  /** The monitor state after the events. */
  monitor: MonitorState;
  maintenance: MaintenanceView;
  policy: AlertPolicy;
  /** Wall-clock time of the decision (epoch ms). */
  at: number;
  /** With peers configured: who speaks, and the outages peers reported. Absent: this monitor speaks alone. */
  peers?: PeerPolicyInput;
}

export interface PeerPolicyInput {
  voice: Voice;
  /** Open outages peers reported, by node. */
  outages: ReadonlyMap<string, PeerOutage>;
  /** The best outage key any peer reported per node (open or over): the chain new outages are numbered in. */
  lastKeys?: ReadonlyMap<string, string>;
  /** Every peer heard from at least once since this monitor started (a restart may have missed outages). */
  heardAll?: boolean;
  /** This monitor's outage starts that a channel accepted (sent or partial): what its /peer report calls mailed. */
  mailedRoots?: ReadonlySet<number>;
  /** Alert ids queued at this monitor and not delivered yet (a follower's copies wait behind the gate). */
  unsent?: ReadonlySet<number>;
}

export interface PolicyOutput {
  state: AlertPolicyState;
  alerts: PlannedAlert[];
  /** Open outages that took a peer's better key: their queued alerts move to it (outbox.rekeyOutage). */
  rekeys?: Array<{ node: string; from: string; to: string }>;
}

export const emptyNodeState = (): NodeAlertState => ({ outage: null, flips: [], flapping: null, maintenance: null });
/** What the monitor found about itself or a node's exposure, rather than a node's health. */
export type MonitorEvent =
  | { type: 'monitor:network-back'; since: number; at: number }
  | { type: 'node:exposed'; node: string; detail: string; at: number };
