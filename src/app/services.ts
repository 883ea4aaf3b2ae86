import type { NodeStatus } from '../core/status';
import { dirname, join } from 'node:path';
import type { Config } from '../config';
import type { Metrics } from '../http/metrics';
import { noMetrics } from '../http/no-metrics';
import { startHttpServer, type RunningHttpServer } from '../http/server';
import type { Logger } from '../logging';
import { createRateLimiter } from '../intake/rate-limit';
import { watchReportDir, type ReportDirWatcher } from '../intake/dropbox';
import type { Clock } from '../util/clock';
import type { Daemon } from '../daemon/daemon';
import type { SdNotify } from '../daemon/sdnotify';
import type { PeerStatus } from '../core/peers';

/**
 * What runs beside the daemon and only reads from it or pokes it: metrics, the HTTP API, the report drop
 * folder, systemd's watchdog. Each is fed from the daemon's events, so the daemon knows none of them.
 */
export interface Services {
  metrics: Metrics;
  http?: RunningHttpServer;
  close(): Promise<void>;
}

export async function startServices(deps: {
  daemon: Daemon;
  config: Config;
  logger: Logger;
  clock: Clock;
  notify: SdNotify;
  statusPage?: () => string | Promise<string>;
  /** GET /peer's body, when peers are configured. */
  peerReport?: () => unknown;
  /** One voice: each monitor heard, its age, who speaks (/metrics and the status page). */
  peerStatus?: () => PeerStatus[];
  /** Misconfigurations seen in peers' answers ("monitors disagree"): /healthz says them. */
  peerProblems?: () => string[];
  /** A report a peer POSTed with its poll. */
  onPeerReport?: (body: string) => { ok: true } | { ok: false; error: string };
}): Promise<Services> {
  const { daemon, config, logger, clock, notify } = deps;
  // prom-client (about 12 MB resident) only when there is an HTTP server to serve /metrics.
  const metrics = config.http ? (await import('../http/metrics')).createMetrics(config.nodes, config.instance, undefined, deps.peerStatus) : noMetrics();
  const unbind = bindMetrics(daemon, metrics, clock);
  if (config.peers) metrics.watchPeerVerdicts(() => daemon.published?.state);

  const nodeNames = config.nodes.map((n) => n.name);
  const onReport = (r: { node: string; reason: string; source: string }) => {
    daemon.reportFailure(r.node, r.reason, r.source);
  };
  // One limiter for both doors, so a node gets reportsPerMinute in total.
  const limiter = createRateLimiter({ perMinute: config.http?.reportsPerMinute ?? 30, clock });
  // The client library's default drop folder: next to the state file. Without it, reports still come over HTTP.
  let drop: ReportDirWatcher | undefined;
  try {
    drop = watchReportDir(join(dirname(config.stateFile), 'reports'), { nodeNames, logger, clock, onReport, limiter, metrics });
  } catch (e) {
    logger.error({ err: e }, 'cannot watch the report drop folder; client reports only over HTTP');
  }

  let http: RunningHttpServer | undefined;
  if (config.http) {
    try {
      http = await startHttpServer({
        host: config.http.host,
        port: config.http.port,
        token: config.http.token,
        logger,
        nodeNames,
        reportsPerMinute: config.http.reportsPerMinute,
        maxConnectionsPerAddress: config.http.maxConnectionsPerAddress,
        maxConnections: config.http.maxConnections,
        timeouts: config.http.timeouts,
        clock,
        limiter,
        metrics,
        getState: () => daemon.published && { json: daemon.published.json, etag: daemon.published.etag },
        health: () => {
          const h = daemon.health();
          const problems = deps.peerProblems?.() ?? [];
          return problems.length === 0 ? h : { ok: false, detail: `${h.ok ? '' : `${h.detail}; `}monitors disagree: ${problems.join('; ')}` };
        },
        onReport,
        statusPage: deps.statusPage,
        peerReport: deps.peerReport,
        peerToken: config.peers?.token,
        onPeerReport: deps.onPeerReport,
      });
      logger.info({ url: http.url }, 'HTTP API listening');
    } catch (e) {
      await drop?.close();
      throw e;
    }
  }

  // systemd's watchdog is fed only while probing is current: a stuck daemon stops pinging and is restarted.
  let watchdog: NodeJS.Timeout | undefined;
  if (notify.watchdogIntervalMs) {
    watchdog = setInterval(() => {
      if (daemon.health().ok) notify.watchdog();
    }, notify.watchdogIntervalMs);
  }

  return {
    metrics,
    http,
    async close() {
      if (watchdog) clearInterval(watchdog);
      unbind();
      await Promise.allSettled([drop?.close(), http?.close()]);
    },
  };
}

/** Feeds metrics from the daemon's events; returns the function that stops it (services are rebuilt on reload). */
function bindMetrics(daemon: Daemon, metrics: Metrics, clock: Clock): () => void {
  for (const n of daemon.state.nodes) metrics.setNodeStatus(n.name, n.status);
  metrics.setPreferred(daemon.state.preferred);
  const onProbe = (r: Parameters<Metrics['observeProbe']>[0]) => metrics.observeProbe(r);
  const onTransition = (e: { node: string; from: string; to: NodeStatus }) => {
    metrics.countTransition(e.node, e.from, e.to);
    metrics.setNodeStatus(e.node, e.to);
  };
  const onPreferred = (e: { to: string }) => metrics.setPreferred(e.to);
  const onWritten = () => metrics.heartbeat(clock.now());
  daemon.events.on('probe:done', onProbe);
  daemon.events.on('node:transition', onTransition);
  daemon.events.on('preferred:changed', onPreferred);
  daemon.events.on('state:written', onWritten);
  return () => {
    daemon.events.off('probe:done', onProbe);
    daemon.events.off('node:transition', onTransition);
    daemon.events.off('preferred:changed', onPreferred);
    daemon.events.off('state:written', onWritten);
  };
}
