import { alertsForEvents, alertsForTick } from '../../src/core/alert-policy';
import type { AlertPolicy, AlertKind, EventRule } from '../../src/core/alert-types';
import type { CoreEvent } from '../../src/core/decide';
import { restoreState, resumeStatus, type RecordedTransition } from '../../src/core/restore';
import type { NodeStatus } from '../../src/core/status';
import type { PublishedState } from '../../src/state/types';

const T0 = Date.UTC(2026, 0, 5, 9, 0);
const NODES = [
  { name: 'primary', priority: 0, url: 'http://p' },
  { name: 'fallback', priority: 1, url: 'http://f' },
];

/** A state file as the daemon publishes it (src/state/types), with one status per node. */
function file(statuses: Record<string, { status: NodeStatus; since: number; reason?: string }>, preferred: string): PublishedState {
  return {
    schemaVersion: 1,
    updatedAt: new Date(T0).toISOString(),
    staleAfterMs: 30_000,
    monitor: { instance: 'mac', version: '0', pid: 1, startedAt: new Date(0).toISOString() },
    preferred: { name: preferred, url: NODES.find((n) => n.name === preferred)!.url, model: 'm', api: 'ollama' },
    allDown: false,
    nodes: NODES.map((n) => {
      const s = statuses[n.name]!;
      return { ...n, model: 'm', api: 'ollama' as const, status: s.status, since: new Date(s.since).toISOString(), statusReason: s.reason ?? 'ok', lastCheckAt: null, lastOkAt: null, consecutiveFailures: 0, consecutiveSuccesses: 0, lastError: null, latency: null };
    }),
  };
}

describe('restore after a restart: SQLite\'s recorded transition over a stale state file', () => {
  // One row per way a crash can leave the two: the file's entry, SQLite's latest transition, what resumes.
  const steps: Array<{ what: string; file: { status: NodeStatus; since: number; statusReason: string }; db?: RecordedTransition; expect: { status: NodeStatus; since: number; statusReason: string; from: 'file' | 'database' } }> = [
    {
      what: 'kill -9 after the DOWN row, before the file was rewritten: the row wins',
      file: { status: 'up', since: T0 - 60_000, statusReason: 'ok' },
      db: { node: 'primary', to: 'down', at: T0, reason: 'refused' },
      expect: { status: 'down', since: T0, statusReason: 'refused', from: 'database' },
    },
    {
      what: 'kill -9 after the RECOVERED row, before the file was rewritten: the row wins',
      file: { status: 'down', since: T0 - 60_000, statusReason: 'timeout' },
      db: { node: 'primary', to: 'up', at: T0, reason: 'ok' },
      expect: { status: 'up', since: T0, statusReason: 'ok', from: 'database' },
    },
    {
      what: 'file and database agree: the file (it has the richer details)',
      file: { status: 'down', since: T0, statusReason: 'refused' },
      db: { node: 'primary', to: 'down', at: T0, reason: 'refused' },
      expect: { status: 'down', since: T0, statusReason: 'refused', from: 'file' },
    },
    {
      what: 'a file ahead of a queued row (database busy): the row, so the change is decided again, not lost',
      file: { status: 'down', since: T0, statusReason: 'refused' },
      db: { node: 'primary', to: 'up', at: T0 - 3_600_000, reason: 'ok' },
      expect: { status: 'up', since: T0 - 3_600_000, statusReason: 'ok', from: 'database' },
    },
    {
      what: 'no transition recorded (new database): the file',
      file: { status: 'degraded', since: T0, statusReason: 'slow' },
      expect: { status: 'degraded', since: T0, statusReason: 'slow', from: 'file' },
    },
  ];
  test.each(steps)('$what', ({ file: f, db, expect: e }) => {
    expect(resumeStatus(f, db)).toEqual(e);
  });

  const rule: EventRule = { send: true, severity: 'warning' };
  const events = Object.fromEntries(
    (['primaryDown', 'primaryDegraded', 'fallbackDown', 'fallbackDownPrimaryOut', 'allDown', 'recovered', 'reminder', 'flapping', 'flappingSettled', 'monitorNetwork', 'exposed', 'monitorSilent', 'monitorBack', 'hostDown', 'monitorsDisagree', 'monitorsAgree', 'peerMisconfigured'] as AlertKind[]).map((k) => [k, rule]),
  ) as Record<AlertKind, EventRule>;
  const policy: AlertPolicy = { reminderInterval: 6 * 3_600_000, flapping: { transitions: 4, window: 1_800_000, settle: 900_000 }, events, quiet: null };

  test('a daemon killed between the DOWN row and the state file decides no RECOVERED on start-up, and a real one later', () => {
    // Before the crash: both up, then the primary's DOWN is decided (row + open outage in one transaction).
    const before = restoreState(NODES, file({ primary: { status: 'up', since: T0 - 60_000 }, fallback: { status: 'up', since: T0 - 60_000 } }, 'primary'), { wall: T0, mono: 0 });
    const down: CoreEvent = { type: 'node:transition', node: 'primary', from: 'up', to: 'down', reason: 'refused', detail: 'connection refused', at: T0 };
    const downMonitor = { ...before, nodes: before.nodes.map((n) => (n.name === 'primary' ? { ...n, status: 'down' as const, since: T0, statusReason: 'refused' } : n)), preferred: 'fallback' };
    const afterDown = alertsForEvents({ state: {}, monitor: downMonitor, maintenance: new Map(), policy, at: T0 }, [down]);
    expect(afterDown.alerts.map((a) => a.facts.kind)).toEqual(['primaryDown']);

    // kill -9 here: the state file still says up. The restart reads it and SQLite's latest transition.
    const stale = file({ primary: { status: 'up', since: T0 - 60_000 }, fallback: { status: 'up', since: T0 - 60_000 } }, 'primary');
    const at = { wall: T0 + 5_000, mono: 0 };
    const restarted = restoreState(NODES, stale, at, [{ node: 'primary', to: 'down', at: T0, reason: 'refused' }]);
    expect(restarted.nodes.find((n) => n.name === 'primary')?.status).toBe('down');
    expect(restarted.preferred).toBe('fallback');
    const tick = alertsForTick({ state: afterDown.state, monitor: restarted, maintenance: new Map(), policy, at: at.wall });
    expect(tick.alerts.map((a) => a.facts.kind)).toEqual([]);

    // Without the record (the old rule), the same restart decided a RECOVERED for an outage that never ended.
    const fromFileAlone = restoreState(NODES, stale, at);
    expect(alertsForTick({ state: afterDown.state, monitor: fromFileAlone, maintenance: new Map(), policy, at: at.wall }).alerts.map((a) => a.facts.kind)).toEqual(['recovered']);

    // The outage is still open: its real end, later, is decided once.
    const back: CoreEvent = { type: 'node:transition', node: 'primary', from: 'down', to: 'up', reason: 'ok', at: T0 + 600_000 };
    const upMonitor = { ...restarted, nodes: restarted.nodes.map((n) => (n.name === 'primary' ? { ...n, status: 'up' as const, since: T0 + 600_000, statusReason: 'ok' } : n)) };
    expect(alertsForEvents({ state: tick.state, monitor: upMonitor, maintenance: new Map(), policy, at: T0 + 600_000 }, [back]).alerts.map((a) => a.facts.kind)).toEqual(['recovered']);
  });
});
