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

/**
 * Start-up state: configured nodes, with the status each had in the previous published state when that
 * node (same name and URL) is still configured. Everything else starts `unknown`.
 */
export function restoreState(
  nodes: ReadonlyArray<{ name: string; priority: number; url: string }>,
  previous: PublishedState | undefined,
  at: Instant,
): MonitorState {
  const fresh = initialState(nodes, at);
  if (!previous) return fresh;
  const restored = fresh.nodes.map((n): NodeRuntime => {
    const cfg = nodes.find((c) => c.name === n.name);
    const old = previous.nodes.find((p) => p.name === n.name);
    // The document holds the published form of the URL (no userinfo, normalised): compare like with like.
    if (!old || !cfg || old.url !== publicUrl(cfg.url)) return n;
    const since = Math.min(Date.parse(old.since), at.wall);
    return {
      ...n,
      ...tracksFor(old.status, old.statusReason),
      status: old.status,
      since,
      // Monotonic time does not survive a restart: place `since` as far back as the wall clock says.
      sinceMono: at.mono - (at.wall - since),
      statusReason: old.statusReason,
      // Not `unknown`: a node that came back shortly before the restart still serves out its failback hold.
      previousStatus: old.status === 'up' ? 'down' : 'unknown',
      lastCheckAt: old.lastCheckAt ? Date.parse(old.lastCheckAt) : null,
      lastOkAt: old.lastOkAt ? Date.parse(old.lastOkAt) : null,
      lastError: old.lastError ? { reason: old.lastError.reason as Reason, message: old.lastError.message, at: Date.parse(old.lastError.at), ...(old.lastError.cause ? { cause: old.lastError.cause } : {}) } : null,
      lastColdStartAt: old.lastColdStartAt ? Date.parse(old.lastColdStartAt) : null,
      latency: old.latency,
    };
  });
  const preferred = restored.some((n) => n.name === previous.preferred.name) ? previous.preferred.name : fresh.preferred;
  return { nodes: restored, preferred, allDown: restored.every((n) => n.status === 'down'), monitorOffline: false };
}
