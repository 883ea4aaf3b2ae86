import type BetterSqlite3 from 'better-sqlite3';
import { emptyNodeState, type AlertFacts, type AlertPolicyState, type NodeAlertState, type Severity, type SuppressReason } from '../core/alert-types';
import { guarded } from './errors';

/**
 * The alert outbox (0002_alerts.sql): alert rows, their per-channel deliveries and every attempt, the alert
 * policy's memory, and one-off maintenance windows. Functions that write several rows use a transaction of
 * their own, which becomes a savepoint when the caller already holds one (the daemon's transition write).
 */

export type AlertStatus = 'pending' | 'sent' | 'partial' | 'failed' | 'suppressed';
/** `held`: another monitor sent it (one voice); never delivered from here. */
export type DeliveryStatus = 'pending' | 'sent' | 'failed' | 'held';
export type AttemptOutcome = 'sent' | 'transient' | 'permanent';

export interface NewAlert {
  instance: string;
  node: string;
  kind: string;
  severity: Severity;
  createdAt: number;
  subject: string;
  facts: AlertFacts;
  threadOf: number | null;
  /** Set: recorded only, no deliveries. */
  suppressed: SuppressReason | null;
  /** Channels to deliver through (ignored when suppressed). */
  channels: string[];
}

export interface StoredAlert {
  id: number;
  instance: string;
  node: string;
  kind: string;
  severity: Severity;
  createdAt: number;
  subject: string;
  facts: AlertFacts;
  threadOf: number | null;
  status: AlertStatus;
  suppressed: SuppressReason | null;
}

export interface Delivery {
  alertId: number;
  channel: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  lastError: string | null;
  response: string | null;
}

/** A pending delivery with what ordering needs: deliveries of one node and channel go out in alert order. */
export interface PendingDelivery extends Delivery {
  node: string;
  createdAt: number;
}

export interface AttemptInput {
  alertId: number;
  channel: string;
  at: number;
  outcome: AttemptOutcome;
  durationMs: number;
  error?: string;
  response?: string;
  /** For a transient failure: when to try again; absent means give up (the delivery fails). */
  retryAt?: number;
}

export interface StoredAttempt {
  id: number;
  alertId: number;
  channel: string;
  at: number;
  outcome: AttemptOutcome;
  durationMs: number;
  error: string | null;
  response: string | null;
}

export interface AlertWithDeliveries extends StoredAlert {
  deliveries: Delivery[];
}

export interface Outbox {
  /**
   * Stable for this database file, different for a new one (when its first migration was applied, base 36):
   * keeps Message-IDs unique when a recreated database starts alert ids at 1 again.
   */
  databaseToken(): string;
  /** Writes the alert and one pending delivery per channel; returns its id. */
  insertAlert(a: NewAlert): number;
  getAlert(id: number): StoredAlert | undefined;
  /** Every pending delivery, oldest alert first. */
  pendingDeliveries(): PendingDelivery[];
  /** Records one attempt and moves the delivery (sent, retry later, failed) and its alert's status along. */
  recordAttempt(a: AttemptInput): void;
  /** A queued alert another monitor already sent: its pending deliveries become `held`, the alert suppressed (peer). */
  holdAlert(alertId: number, by: string): void;
  /**
   * An open outage took another key (a peer's): its queued alerts that no channel has delivered yet take it
   * (they thread under the peer's mail and match its copies), and so does its start if it went out (so this
   * monitor's report says it mailed the outage now known by that key). A delivery already made keeps the key it
   * went out with. Returns how many rows moved.
   */
  rekeyOutage(node: string, fromKey: string, toKey: string): number;
  /** Newest first; default 50, at most 10 000. */
  recentAlerts(limit?: number): AlertWithDeliveries[];
  attempts(alertId: number): StoredAttempt[];
  loadPolicyState(): AlertPolicyState;
  /** Stores the whole policy state: nodes absent from it are forgotten. */
  savePolicyState(state: AlertPolicyState, at: number): void;
}

interface AlertRow {
  id: number;
  instance: string;
  node: string;
  kind: string;
  severity: string;
  created_at: number;
  subject: string;
  facts: string;
  thread_of: number | null;
  status: string;
  suppressed: string | null;
}

interface DeliveryRow {
  alert_id: number;
  channel: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  delivered_at: number | null;
  last_error: string | null;
  response: string | null;
}

const TEXT_MAX = 1000;
const clipText = (s: string | undefined) => (s === undefined ? null : s.length <= TEXT_MAX ? s : `${s.slice(0, TEXT_MAX - 1)}…`);


const toAlert = (r: AlertRow): StoredAlert => ({
  id: r.id,
  instance: r.instance,
  node: r.node,
  kind: r.kind,
  severity: r.severity as Severity,
  createdAt: r.created_at,
  subject: r.subject,
  facts: JSON.parse(r.facts) as AlertFacts,
  threadOf: r.thread_of,
  status: r.status as AlertStatus,
  suppressed: r.suppressed as SuppressReason | null,
});

const toDelivery = (r: DeliveryRow): Delivery => ({
  alertId: r.alert_id,
  channel: r.channel,
  status: r.status as DeliveryStatus,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  deliveredAt: r.delivered_at,
  lastError: r.last_error,
  response: r.response,
});

/** A stored node state; anything unreadable starts afresh rather than stopping alerting. */
function parseNodeState(json: string): NodeAlertState {
  try {
    const v = JSON.parse(json) as Partial<NodeAlertState>;
    return {
      outage: v.outage ?? null,
      flips: Array.isArray(v.flips) ? v.flips.filter((x) => typeof x === 'number') : [],
      flapping: v.flapping ?? null,
      maintenance: typeof v.maintenance === 'string' ? v.maintenance : null,
      ...(typeof v.lastKey === 'string' && v.lastKey.length <= 300 ? { lastKey: v.lastKey } : {}),
    };
  } catch {
    return emptyNodeState();
  }
}

export function createOutbox(db: BetterSqlite3.Database): Outbox {
  const firstMigration = db.prepare<[], { at: number }>('SELECT applied_at AS at FROM schema_migrations ORDER BY version LIMIT 1');
  const s = {
    insertAlert: db.prepare(`INSERT INTO alerts (instance, node, kind, severity, created_at, subject, facts, thread_of, status, suppressed)
      VALUES (@instance, @node, @kind, @severity, @createdAt, @subject, @facts, @threadOf, @status, @suppressed)`),
    insertDelivery: db.prepare<[number, string, number]>(`INSERT INTO alert_deliveries (alert_id, channel, status, next_attempt_at)
      VALUES (?, ?, 'pending', ?)`),
    getAlert: db.prepare<[number], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
    pending: db.prepare<[], DeliveryRow & { node: string; created_at: number }>(`SELECT d.*, a.node, a.created_at
      FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
      WHERE d.status = 'pending' ORDER BY d.alert_id, d.channel`),
    insertAttempt: db.prepare(`INSERT INTO alert_attempts (alert_id, channel, at, outcome, duration_ms, error, response)
      VALUES (@alertId, @channel, @at, @outcome, @durationMs, @error, @response)`),
    sent: db.prepare(`UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, delivered_at = @at,
      last_error = NULL, response = @response WHERE alert_id = @alertId AND channel = @channel`),
    retry: db.prepare(`UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt_at = @retryAt,
      last_error = @error, response = @response WHERE alert_id = @alertId AND channel = @channel`),
    failed: db.prepare(`UPDATE alert_deliveries SET status = 'failed', attempts = attempts + 1,
      last_error = @error, response = @response WHERE alert_id = @alertId AND channel = @channel`),
    deliveryStatuses: db.prepare<[number], { status: string }>('SELECT status FROM alert_deliveries WHERE alert_id = ?'),
    setStatus: db.prepare<[string, number]>('UPDATE alerts SET status = ? WHERE id = ?'),
    recent: db.prepare<[number], AlertRow>('SELECT * FROM alerts ORDER BY id DESC LIMIT ?'),
    deliveriesOf: db.prepare<[number], DeliveryRow>('SELECT * FROM alert_deliveries WHERE alert_id = ? ORDER BY channel'),
    attempts: db.prepare<[number], { id: number; alert_id: number; channel: string; at: number; outcome: string; duration_ms: number; error: string | null; response: string | null }>(
      'SELECT * FROM alert_attempts WHERE alert_id = ? ORDER BY id',
    ),
    loadState: db.prepare<[], { node: string; state: string }>('SELECT node, state FROM alert_node_state'),
    upsertState: db.prepare<[string, string, number]>(`INSERT INTO alert_node_state (node, state, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (node) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at WHERE state IS NOT excluded.state`),
    deleteState: db.prepare<[string]>('DELETE FROM alert_node_state WHERE node = ?'),
    holdDeliveries: db.prepare<[string, number]>("UPDATE alert_deliveries SET status = 'held', last_error = ? WHERE alert_id = ? AND status = 'pending'"),
    holdAlert: db.prepare<[string, number]>(`UPDATE alerts SET status = 'suppressed', suppressed = 'peer', facts = json_set(facts, '$.heldBy', ?)
      WHERE id = ? AND status = 'pending'`),
  };
  const rekey = db.prepare<[string, string, string]>(`UPDATE alerts SET facts = json_set(facts, '$.outageKey', ?)
    WHERE node = ? AND json_extract(facts, '$.outageKey') = ?
      AND ((status = 'pending' AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id AND d.status = 'sent'))
        OR (status IN ('sent', 'partial') AND json_extract(facts, '$.outageRoot') = 1))`);
  const holdAlert = db.transaction((alertId: number, by: string): void => {
    s.holdDeliveries.run(`sent by peer ${by}`.slice(0, TEXT_MAX), alertId);
    s.holdAlert.run(by, alertId);
  });

  const insertAlert = db.transaction((a: NewAlert): number => {
    const deliver = a.suppressed === null && a.channels.length > 0;
    const info = s.insertAlert.run({
      instance: a.instance,
      node: a.node,
      kind: a.kind,
      severity: a.severity,
      createdAt: Math.round(a.createdAt),
      subject: a.subject,
      facts: JSON.stringify(a.facts),
      threadOf: a.threadOf,
      status: deliver ? 'pending' : 'suppressed',
      suppressed: deliver ? null : (a.suppressed ?? 'no_channel'),
    });
    const id = Number(info.lastInsertRowid);
    if (deliver) for (const c of a.channels) s.insertDelivery.run(id, c, Math.round(a.createdAt));
    return id;
  });

  const recordAttempt = db.transaction((a: AttemptInput): void => {
    const row = { alertId: a.alertId, channel: a.channel, at: Math.round(a.at), error: clipText(a.error), response: clipText(a.response) };
    s.insertAttempt.run({ ...row, outcome: a.outcome, durationMs: a.durationMs });
    if (a.outcome === 'sent') s.sent.run({ alertId: row.alertId, channel: row.channel, at: row.at, response: row.response });
    else if (a.outcome === 'transient' && a.retryAt !== undefined) s.retry.run({ alertId: row.alertId, channel: row.channel, retryAt: Math.round(a.retryAt), error: row.error, response: row.response });
    else s.failed.run({ alertId: row.alertId, channel: row.channel, error: row.error, response: row.response });
    const statuses = s.deliveryStatuses.all(a.alertId).map((d) => d.status);
    const status: AlertStatus = statuses.includes('pending')
      ? 'pending'
      : statuses.every((x) => x === 'sent')
        ? 'sent'
        : statuses.every((x) => x === 'failed')
          ? 'failed'
          : 'partial';
    s.setStatus.run(status, a.alertId);
  });

  const savePolicyState = db.transaction((state: AlertPolicyState, at: number): void => {
    for (const [node, st] of Object.entries(state)) s.upsertState.run(node, JSON.stringify(st), Math.round(at));
    for (const { node } of s.loadState.all()) if (!(node in state)) s.deleteState.run(node);
  });

  return guarded<Outbox>({
    databaseToken: () => (firstMigration.get()?.at ?? 0).toString(36),
    insertAlert: (a) => insertAlert(a),
    getAlert: (id) => {
      const r = s.getAlert.get(id);
      return r ? toAlert(r) : undefined;
    },
    pendingDeliveries: () => s.pending.all().map((r) => ({ ...toDelivery(r), node: r.node, createdAt: r.created_at })),
    recordAttempt: (a) => recordAttempt(a),
    holdAlert: (alertId, by) => holdAlert(alertId, by),
    rekeyOutage: (node, fromKey, toKey) => rekey.run(toKey, node, fromKey).changes,
    recentAlerts: (limit = 50) =>
      s.recent.all(Math.min(Math.max(1, Math.floor(limit)), 10_000)).map((r) => ({ ...toAlert(r), deliveries: s.deliveriesOf.all(r.id).map(toDelivery) })),
    attempts: (alertId) =>
      s.attempts.all(alertId).map((r) => ({
        id: r.id,
        alertId: r.alert_id,
        channel: r.channel,
        at: r.at,
        outcome: r.outcome as AttemptOutcome,
        durationMs: r.duration_ms,
        error: r.error,
        response: r.response,
      })),
    loadPolicyState: () => Object.fromEntries(s.loadState.all().map((r) => [r.node, parseNodeState(r.state)])),
    savePolicyState: (state, at) => savePolicyState(state, at),
  });
}
