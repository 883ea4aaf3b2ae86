import { verdictsDiffer } from '../core/peer-disagree';
import type { PeerStatus } from '../core/peers';
import { NODE_STATUSES, type NodeStatus } from '../core/status';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WAITED_MS } from '../core/busy';
import type { ProbeResult } from '../probes/types';
import type { ReportSource } from '../intake/intake';
import { packageVersion } from '../version';

export type MetricStatus = NodeStatus;
const STATUSES: readonly MetricStatus[] = NODE_STATUSES;

/** This monitor's verdicts and its peers' (the state document's nodes[] and peers[] have this shape). */
export interface PeerVerdictsNow {
  nodes: ReadonlyArray<{ name: string; status: NodeStatus }>;
  peers?: ReadonlyArray<{ name: string; silent: boolean; nodes: ReadonlyArray<{ name: string; status: NodeStatus }> }>;
}

export interface Metrics {
  observeProbe(r: ProbeResult): void;
  setNodeStatus(node: string, status: MetricStatus): void;
  setPreferred(node: string): void;
  countTransition(node: string, from: string, to: string): void;
  countReport(node: string, source: ReportSource, outcome: 'accepted' | 'rate_limited'): void;
  heartbeat(nowMs: number): void;
  /** Peers' own verdicts per node, read at each scrape (issue 22): where they differ from this monitor's. */
  watchPeerVerdicts(read: () => PeerVerdictsNow | undefined): void;
  render(): Promise<string>;
  readonly contentType: string;
}

/*
 * Buckets. Liveness probes take milliseconds to the 3 s default timeout; canaries up to the 30 s default.
 * Time to first token spans a warm small model (~50 ms) to a cold load of a big one (tens of seconds) and
 * Cloudflare's ~100-125 s proxy read timeout, past which a 524 is all one sees.
 */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];

/**
 * Prometheus metrics on a registry of their own (never prom-client's global one: two daemons in one test
 * process, or an app embedding us, must not collide). Node-level series are created up front so a dashboard
 * shows every configured node from the first scrape, not only after its first event.
 */
export function createMetrics(nodes: Array<{ name: string; priority: number }>, instance: string, version = packageVersion(), peers?: () => PeerStatus[]): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (peers) {
    // Read at each scrape from the poller's facts (one voice): who is heard, how long ago, who speaks.
    const each = (fn: (p: PeerStatus) => number | null) =>
      function (this: Gauge) {
        this.reset();
        for (const p of peers()) {
          const v = fn(p);
          if (v !== null) this.set({ monitor: p.name }, v);
        }
      };
    new Gauge({ name: 'llm_sentinel_peer_heard', help: 'One voice: 1 when this monitor hears the peer (either direction) within silentAfter; this monitor itself is always 1.', labelNames: ['monitor'], registers, collect: each((p) => (p.heard ? 1 : 0)) });
    new Gauge({ name: 'llm_sentinel_peer_last_heard_age_seconds', help: 'Seconds since each peer was last heard from (monotonic).', labelNames: ['monitor'], registers, collect: each((p) => p.ageSeconds) });
    new Gauge({ name: 'llm_sentinel_peer_answer_seconds', help: 'How long each peer took to answer our last good poll.', labelNames: ['monitor'], registers, collect: each((p) => (p.answerMs === null ? null : p.answerMs / 1000)) });
    new Gauge({ name: 'llm_sentinel_peer_speaks', help: '1 for the monitor that speaks (sends alerts) as this one sees it.', labelNames: ['monitor'], registers, collect: each((p) => (p.speaks ? 1 : 0)) });
    new Gauge({ name: 'llm_sentinel_peer_misconfigured', help: "1 when a peer's answers show the monitors are configured differently (monitors disagree).", labelNames: ['monitor'], registers, collect: each((p) => (p.problem ? 1 : 0)) });
  }

  const info = new Gauge({ name: 'llm_sentinel_info', help: 'Always 1; labels say which monitor this is.', labelNames: ['instance', 'version'], registers });
  const priority = new Gauge({ name: 'llm_sentinel_node_priority', help: 'Configured priority of each node (0 = primary).', labelNames: ['node'], registers });
  const up = new Gauge({ name: 'llm_sentinel_node_up', help: '1 when the node serves (status up or degraded), else 0.', labelNames: ['node'], registers });
  const status = new Gauge({ name: 'llm_sentinel_node_status', help: 'Current status of each node: 1 for the current status label, 0 for the others.', labelNames: ['node', 'status'], registers });
  const preferred = new Gauge({ name: 'llm_sentinel_preferred_node', help: '1 for the node apps are told to use, 0 for the others.', labelNames: ['node'], registers });
  const probeDuration = new Histogram({ name: 'llm_sentinel_probe_duration_seconds', help: 'Whole probe duration.', labelNames: ['node', 'kind'], buckets: DURATION_BUCKETS, registers });
  const ttft = new Histogram({ name: 'llm_sentinel_canary_ttft_seconds', help: 'Canary time to first content token.', labelNames: ['node'], buckets: TTFT_BUCKETS, registers });
  const tps = new Gauge({ name: 'llm_sentinel_canary_tokens_per_second', help: 'Generation speed measured by the last successful canary.', labelNames: ['node'], registers });
  const failures = new Counter({ name: 'llm_sentinel_probe_failures_total', help: 'Failed probes by reason.', labelNames: ['node', 'kind', 'reason'], registers });
  const transitions = new Counter({ name: 'llm_sentinel_node_transitions_total', help: 'Status changes of each node.', labelNames: ['node', 'from', 'to'], registers });
  const reports = new Counter({ name: 'llm_sentinel_client_reports_total', help: 'Failure reports from apps, by how they arrived and whether they were accepted.', labelNames: ['node', 'source', 'outcome'], registers });
  const queueWait = new Histogram({ name: 'llm_sentinel_canary_queue_wait_seconds', help: 'Canary wait for a generation slot behind the apps, measured from the server durations (docs/busy.md).', labelNames: ['node'], buckets: TTFT_BUCKETS, registers });
  const busy = new Gauge({ name: 'llm_sentinel_node_busy', help: '1 when the last working canary waited for a generation slot (serving others, not sick).', labelNames: ['node'], registers });
  const heartbeat = new Gauge({ name: 'llm_sentinel_heartbeat_timestamp_seconds', help: 'Unix time of the last state write; alert when it stops moving.', registers });
  let peerVerdicts: (() => PeerVerdictsNow | undefined) | undefined;
  new Gauge({
    name: 'llm_sentinel_peer_node_status',
    help: "A peer monitor's own verdict per node, as it last said it: 1 for its status label, 0 for the others.",
    labelNames: ['peer', 'node', 'status'],
    registers,
    collect() {
      this.reset();
      for (const p of peerVerdicts?.()?.peers ?? []) for (const n of p.nodes) for (const s of STATUSES) this.set({ peer: p.name, node: n.name, status: s }, s === n.status ? 1 : 0);
    },
  });
  new Gauge({
    name: 'llm_sentinel_peer_node_disagree',
    help: 'Per node: 1 while a live peer sees it down and this monitor sees it serve (up or degraded), or the reverse; else 0. A lasting 1 is a path problem at one end.',
    labelNames: ['peer', 'node', 'own', 'theirs'],
    registers,
    collect() {
      this.reset();
      const now = peerVerdicts?.();
      for (const p of now?.peers ?? []) {
        for (const own of now?.nodes ?? []) {
          const theirs = p.nodes.find((n) => n.name === own.name);
          if (!theirs) continue;
          this.set({ peer: p.name, node: own.name, own: own.status, theirs: theirs.status }, !p.silent && verdictsDiffer(own.status, theirs.status) ? 1 : 0);
        }
      }
    },
  });

  info.set({ instance, version }, 1);
  const known = new Set<string>();
  const setStatus = (node: string, current: MetricStatus): void => {
    known.add(node);
    for (const s of STATUSES) status.set({ node, status: s }, s === current ? 1 : 0);
    up.set({ node }, current === 'up' || current === 'degraded' ? 1 : 0);
  };
  for (const n of nodes) {
    priority.set({ node: n.name }, n.priority);
    setStatus(n.name, 'unknown');
    preferred.set({ node: n.name }, 0);
  }

  return {
    observeProbe(r) {
      // A probe the monitor cancelled itself (shutdown) says nothing about the node.
      if (r.reason === 'aborted') return;
      probeDuration.observe({ node: r.node, kind: r.kind }, r.durationMs / 1000);
      if (!r.ok) {
        failures.inc({ node: r.node, kind: r.kind, reason: r.reason });
        if (r.kind === 'canary') busy.set({ node: r.node }, 0);
        return;
      }
      if (r.kind !== 'canary') return;
      if (r.queueMs !== undefined) queueWait.observe({ node: r.node }, r.queueMs / 1000);
      busy.set({ node: r.node }, r.queueMs !== undefined && r.queueMs >= WAITED_MS ? 1 : 0);
      if (r.ttftMs !== undefined) ttft.observe({ node: r.node }, r.ttftMs / 1000);
      if (r.tokensPerSec !== undefined && Number.isFinite(r.tokensPerSec)) tps.set({ node: r.node }, r.tokensPerSec);
    },
    setNodeStatus: setStatus,
    setPreferred(node) {
      known.add(node);
      for (const n of known) preferred.set({ node: n }, n === node ? 1 : 0);
    },
    countTransition(node, from, to) {
      transitions.inc({ node, from, to });
    },
    countReport(node, source, outcome) {
      reports.inc({ node, source, outcome });
    },
    heartbeat(nowMs) {
      heartbeat.set(nowMs / 1000);
    },
    watchPeerVerdicts(read) {
      peerVerdicts = read;
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
