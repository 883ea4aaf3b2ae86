import type { Reason } from '../probes/types';
import type { PublishedState } from '../state/types';
import { initialState, type Instant, type MonitorState, type NodeRuntime } from './decide';
import { publicUrl } from '../util/url';
import { newTrack, type Track } from './hysteresis';
import type { NodeStatus } from './status';

/** The tracks that reproduce a status, so a restart resumes with the same view (a down node stays down). */
function tracksFor(status: NodeStatus, statusReason: string): Pick<NodeRuntime, 'reach' | 'gen' | 'speed'> {
  const t = (s: Track['state']) => newTrack(s);
  switch (status) {
    case 'up':
      return { reach: t('ok'), gen: t('ok'), speed: t('ok') };
    case 'degraded':
      return statusReason === 'slow' ? { reach: t('ok'), gen: t('ok'), speed: t('failing') } : { reach: t('ok'), gen: t('failing'), speed: t('unknown') };
    case 'down':
      return { reach: t('failing'), gen: t('unknown'), speed: t('unknown') };
    default:
      return { reach: t('unknown'), gen: t('unknown'), speed: t('unknown') };
  }
}

/** A node's latest transition as SQLite recorded it (storage's `lastTransitions()`). */
export interface RecordedTransition {
  node: string;
  to: NodeStatus;
  at: number;
  reason: string;
}

/**
 * Which status a restarted monitor resumes with, from the state file's entry and the latest transition SQLite
 * recorded for the node. SQLite wins when it has a row: a transition and the alert policy's memory (the open
 * outage) are stored in one transaction, and the state file is only rewritten after it, so a kill -9 between the
 * two leaves a file that says `up` beside a DOWN row and an open outage. Resuming from the file would have the
 * start-up repair decide a RECOVERED for an outage that never ended. Resuming from the row keeps status and
 * outage memory in step whichever way the crash fell: a file ahead of the database (its row still queued) only
 * makes the monitor decide that change again, and the alert policy sends it then (nothing lost).
 */
export function resumeStatus(
  file: { status: NodeStatus; since: number; statusReason: string },
  recorded: RecordedTransition | undefined,
): { status: NodeStatus; since: number; statusReason: string; from: 'file' | 'database' } {
  if (!recorded) return { ...file, from: 'file' };
  if (recorded.to === file.status) return { ...file, from: 'file' };
  return { status: recorded.to, since: recorded.at, statusReason: recorded.reason, from: 'database' };
}

/**
 * Start-up state: configured nodes, with the status each had in the previous published state when that
 * node (same name and URL) is still configured, corrected by the latest transition SQLite recorded for it
 * (`resumeStatus`). Everything else starts `unknown`.
 */
export function restoreState(
  nodes: ReadonlyArray<{ name: string; priority: number; url: string }>,
  previous: PublishedState | undefined,
  at: Instant,
  recorded: ReadonlyArray<RecordedTransition> = [],
): MonitorState {
  const fresh = initialState(nodes, at);
  if (!previous) return fresh;
  const restored = fresh.nodes.map((n): NodeRuntime => {
    const cfg = nodes.find((c) => c.name === n.name);
    const old = previous.nodes.find((p) => p.name === n.name);
    // The document holds the published form of the URL (no userinfo, normalised): compare like with like.
    if (!old || !cfg || old.url !== publicUrl(cfg.url)) return n;
    const resumed = resumeStatus({ status: old.status, since: Date.parse(old.since), statusReason: old.statusReason }, recorded.find((r) => r.node === n.name));
    const since = Math.min(resumed.since, at.wall);
    return {
      ...n,
      ...tracksFor(resumed.status, resumed.statusReason),
      status: resumed.status,
      since,
      // Monotonic time does not survive a restart: place `since` as far back as the wall clock says.
      sinceMono: at.mono - (at.wall - since),
      statusReason: resumed.statusReason,
      // Not `unknown`: a node that came back shortly before the restart still serves out its failback hold.
      previousStatus: resumed.status === 'up' ? 'down' : 'unknown',
      lastCheckAt: old.lastCheckAt ? Date.parse(old.lastCheckAt) : null,
      lastOkAt: old.lastOkAt ? Date.parse(old.lastOkAt) : null,
      lastError: old.lastError ? { reason: old.lastError.reason as Reason, message: old.lastError.message, at: Date.parse(old.lastError.at), ...(old.lastError.cause ? { cause: old.lastError.cause } : {}) } : null,
      lastColdStartAt: old.lastColdStartAt ? Date.parse(old.lastColdStartAt) : null,
      latency: old.latency,
    };
  });
  let preferred = restored.some((n) => n.name === previous.preferred.name) ? previous.preferred.name : fresh.preferred;
  // The database said the file's preferred node went down: do not resume by sending apps to it.
  if (restored.find((n) => n.name === preferred)?.status === 'down') {
    const live = [...restored].filter((n) => n.status === 'up' || n.status === 'degraded').sort((a, b) => a.priority - b.priority)[0];
    if (live) preferred = live.name;
  }
  return { nodes: restored, preferred, allDown: restored.every((n) => n.status === 'down'), monitorOffline: false };
}
