import type { MonitorState } from '../core/decide';
import { publicUrl } from '../util/url';
import { STATE_SCHEMA_VERSION, type PublishedEndpoint, type PublishedLiveness, type PublishedPeer, type PublishedState, type NodeMemoryState } from './types';

export interface MonitorInfo {
  instance: string;
  version: string;
  pid: number;
  startedAt: number;
}

interface NodeInfo {
  name: string;
  url: string;
  model: string;
  api: 'ollama' | 'openai';
  priority: number;
  /** Keep-warm counters since the monitor started. */
  warmth?: { coldEvents: number; lastColdEvent: { model: string; at: number } | null; memory?: NodeMemoryState };
}

/** The last liveness result per node, as the daemon remembers it (epoch ms). */
export interface LivenessFact {
  ok: boolean;
  reason: string;
  at: number;
  attempts: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/** The document apps read, from the runtime state. Pure; carries no secret (URLs lose their userinfo). */
export function buildPublishedState(
  s: MonitorState,
  nodes: readonly NodeInfo[],
  monitor: MonitorInfo,
  now: number,
  staleAfterMs: number,
  peers?: PublishedPeer[],
  liveness?: ReadonlyMap<string, LivenessFact>,
): PublishedState {
  const live = (name: string): PublishedLiveness | null => {
    const f = liveness?.get(name);
    return f ? { ok: f.ok, reason: f.reason, at: iso(f.at), attempts: f.attempts } : null;
  };
  const endpoint = (n: NodeInfo): PublishedEndpoint => ({ name: n.name, url: publicUrl(n.url), model: n.model, api: n.api });
  const preferred = nodes.find((n) => n.name === s.preferred) ?? nodes[0];
  if (!preferred) throw new Error('buildPublishedState: no nodes');
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    updatedAt: iso(now),
    staleAfterMs,
    monitor: { instance: monitor.instance, version: monitor.version, pid: monitor.pid, startedAt: iso(monitor.startedAt) },
    preferred: endpoint(preferred),
    allDown: s.allDown,
    monitorOffline: s.monitorOffline,
    nodes: s.nodes.flatMap((rt) => {
      const cfg = nodes.find((n) => n.name === rt.name);
      if (!cfg) return [];
      return [
        {
          ...endpoint(cfg),
          priority: cfg.priority,
          status: rt.status,
          since: iso(rt.since),
          statusReason: rt.statusReason,
          lastCheckAt: isoOrNull(rt.lastCheckAt),
          lastOkAt: isoOrNull(rt.lastOkAt),
          consecutiveFailures: Math.max(rt.reach.failStreak, rt.gen.failStreak),
          consecutiveSuccesses: rt.reach.failStreak > 0 || rt.gen.failStreak > 0 ? 0 : Math.max(rt.reach.okStreak, rt.gen.okStreak),
          lastError: rt.lastError ? { reason: rt.lastError.reason, message: rt.lastError.message, at: iso(rt.lastError.at), ...(rt.lastError.cause ? { cause: rt.lastError.cause } : {}) } : null,
          latency: rt.latency,
          lastColdStartAt: isoOrNull(rt.lastColdStartAt),
          ...(cfg.warmth
            ? {
                coldEvents: cfg.warmth.coldEvents,
                lastColdEvent: cfg.warmth.lastColdEvent && { model: cfg.warmth.lastColdEvent.model, at: iso(cfg.warmth.lastColdEvent.at) },
                ...(cfg.warmth.memory ? { memory: cfg.warmth.memory } : {}),
              }
            : {}),
          lastLiveness: live(rt.name),
          queue: { busy: rt.queue.busy, waitMs: rt.queue.waitMs, at: isoOrNull(rt.queue.at) },
        },
      ];
    }),
    ...(peers ? { peers } : {}),
  };
}
