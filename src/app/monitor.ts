import { createAlerting } from '../alerts/alerting';
import { createDigestJob, type DigestJob } from '../alerts/digest';
import type { Config } from '../config';
import { peerStatus, speaker, voiceOf } from '../core/peers';
import { Daemon } from '../daemon/daemon';
import type { DaemonEmitter } from '../daemon/events';
import { createSdNotify, type SdNotify } from '../daemon/sdnotify';
import { createHistoryJob, type HistoryJob } from '../jobs/history';
import { silentLogger, type Logger } from '../logging';
import { PeerPoller } from '../peers/poller';
import { publishedPeers } from '../peers/publish';
import { buildPeerReport } from '../peers/report';
import { parsePeerReport } from '../peers/wire';
import { StatePublisher } from '../state/publisher';
import type { PublishedState } from '../state/types';
import { openStorage, type Storage } from '../storage';
import { systemClock, type Clock } from '../util/clock';
import { packageVersion } from '../version';
import { startServices, type Services } from './services';

/**
 * The composition root: config → storage → daemon (with its alerting) → history and digest jobs → services
 * (HTTP API, metrics, report drop folder, watchdog). Nothing else wires these pieces; the CLI's `run` and the
 * programmatic API (`startMonitor` from 'llm-sentinel') both come through here.
 */

export interface MonitorOptions {
  config: Config;
  logger?: Logger;
  clock?: Clock;
  /** systemd's notify socket; default: none (the CLI passes the real one). */
  notify?: SdNotify;
  /** How long a database write waits for another process's lock before the write queue retries it. */
  busyTimeoutMs?: number;
}

export interface Monitor {
  /** The latest published state document (what the state file and GET /state hold). */
  readonly state: PublishedState | undefined;
  /** Typed events: probe:done, node:transition, preferred:changed, state:written, … */
  readonly events: DaemonEmitter;
  /** The running config (changes on reload). */
  readonly config: Config;
  /** The HTTP API's address, when `http` is configured. */
  readonly httpUrl: string | undefined;
  /** Probing is current (what /healthz and systemd's watchdog go by). */
  health(): { ok: boolean; detail: string };
  /** Takes a new, already validated config: nodes kept by name and URL keep their status. */
  reload(next: Config): Promise<void>;
  /** Stops probing, finishes writes, writes the final state and closes the database. Safe to call twice. */
  stop(reason?: string): Promise<void>;
}

/** The services are rebuilt on reload only when what they were built from changed. */
const sameServices = (a: Config, b: Config) =>
  JSON.stringify([a.nodes.map((n) => n.name), a.http && { ...a.http, token: a.http.token?.reveal() }, a.stateFile]) ===
  JSON.stringify([b.nodes.map((n) => n.name), b.http && { ...b.http, token: b.http.token?.reveal() }, b.stateFile]);

/** Why a monitor could not start: its database (`storage`), or a piece of it (`start`: a taken port, say). */
export class MonitorStartError extends Error {
  constructor(
    readonly stage: 'storage' | 'start',
    override readonly cause: unknown,
  ) {
    super(stage === 'storage' ? (cause as Error).message : `cannot start: ${(cause as Error).message}`);
    this.name = 'MonitorStartError';
  }
  /** SQLite's or the file system's code, when there is one. */
  get code(): string | undefined {
    return (this.cause as { code?: string }).code;
  }
}

/**
 * Opens the database and starts everything. Throws a MonitorStartError (stage `storage` or `start`); nothing is
 * left running then.
 */
export async function startMonitor(opts: MonitorOptions): Promise<Monitor> {
  const { config } = opts;
  const logger = opts.logger ?? silentLogger();
  const clock = opts.clock ?? systemClock;
  const notify = opts.notify ?? createSdNotify({}, { logger });
  // A short busy wait by default: the daemon retries failed writes from its queue rather than freeze every loop.
  let storage: Storage;
  try {
    storage = openStorage(config.database, { logger, busyTimeoutMs: opts.busyTimeoutMs ?? 250 });
  } catch (e) {
    throw new MonitorStartError('storage', e);
  }

  let peerBodyLogged = false;
  // Peers (one voice): polled from start to stop; a changed peers section takes effect at the next restart.
  const peersConfig = config.peers;
  const previous = peersConfig ? new StatePublisher(config.stateFile, logger).readPrevious() : undefined;
  // Our own report goes with each poll (heard both ways); `peerReport` is defined below, before the poller starts.
  const poller = peersConfig
    ? new PeerPoller({ self: config.instance, config: peersConfig, clock, logger, version: packageVersion(), previous: previous?.peers, ownReport: (): unknown => peerReport?.() })
    : undefined;
  const daemon = new Daemon({
    config,
    storage,
    logger,
    clock,
    version: packageVersion(),
    alerting: (c) => createAlerting({ config: c, storage, logger, clock, peers: poller }),
    peers: poller && peersConfig ? () => publishedPeers(poller.views(), clock.mono(), peersConfig.silentAfter) : undefined,
  });
  const peerReport: (() => unknown) | undefined = peersConfig
    ? () =>
        buildPeerReport({
          instance: daemon.info.instance,
          version: daemon.info.version,
          startedAt: daemon.info.startedAt,
          now: clock.now(),
          rank: peersConfig.rank,
          witnesses: daemon.config.selfCheck.witnesses.length,
          state: daemon.state,
          policy: storage.outbox.loadPolicyState(),
          recent: storage.outbox.recentAlerts(50),
          alertStatus: (id) => storage.outbox.getAlert(id)?.status,
          pending: storage.outbox.pendingDeliveries(),
        })
    : undefined;
  const peerStatusNow = poller && peersConfig ? () => peerStatus(config.instance, peersConfig.rank, poller.views(), clock.mono(), peersConfig.silentAfter) : undefined;
  const peerProblems = poller ? () => poller.views().flatMap((v) => (v.problem ? [v.problem] : [])) : undefined;
  const onPeerReport = poller
    ? (body: string): { ok: true } | { ok: false; error: string } => {
        const r = parsePeerReport(body);
        if (!r.ok) {
          if (!peerBodyLogged) logger.warn({ component: 'peers', error: r.error }, `a peer's report (POST /peer) was not taken: ${r.error}`);
          peerBodyLogged = true;
          return r;
        }
        peerBodyLogged = false;
        return poller.heard(r.report) ? { ok: true } : { ok: false, error: `not a peer: ${r.report.instance.slice(0, 100)}` };
      }
    : undefined;
  const speaks = poller && peersConfig ? () => speaker(voiceOf(config.instance, peersConfig.rank, poller.views(), clock.mono(), peersConfig.silentAfter)) === config.instance : undefined;
  // The status page's code is loaded at its first view, not at start.
  const statusPage = async () => {
    const { buildStatusModel, renderStatusPage } = await import('../http/status-page');
    const model = buildStatusModel(storage.history, daemon.published?.state, clock.now());
    return renderStatusPage(peerStatusNow ? { ...model, peers: peerStatusNow() } : model);
  };
  let historyJob: HistoryJob = createHistoryJob({ storage, config, logger, clock });
  let digest: DigestJob = createDigestJob({ config, storage, logger, clock, speaks });
  let services: Services;
  try {
    daemon.start();
    poller?.onChange(() => daemon.peersChanged());
    poller?.start();
    historyJob.start();
    digest.start();
    services = await startServices({ daemon, config, logger, clock, notify, statusPage, peerReport, onPeerReport, peerProblems, peerStatus: peerStatusNow });
  } catch (e) {
    await Promise.allSettled([daemon.stop('start failed'), historyJob.stop(), digest.stop(), poller?.stop()]);
    storage.close();
    throw new MonitorStartError('start', e);
  }

  let stopped: Promise<void> | undefined;
  return {
    get state() {
      return daemon.published?.state;
    },
    events: daemon.events,
    get config() {
      return daemon.config;
    },
    get httpUrl() {
      return services.http?.url;
    },
    health: () => daemon.health(),
    async reload(next: Config) {
      const previous = daemon.config;
      if (JSON.stringify(next.peers ?? null) !== JSON.stringify(previous.peers ?? null)) {
        logger.warn('peers changes take effect at the next restart');
        next = { ...next, peers: previous.peers };
      }
      await daemon.reload(next);
      if (stopped) return;
      if (!sameServices(previous, daemon.config)) {
        await services.close();
        services = await startServices({ daemon, config: daemon.config, logger, clock, notify, statusPage, peerReport, onPeerReport, peerProblems, peerStatus: peerStatusNow });
      }
      await historyJob.stop();
      historyJob = createHistoryJob({ storage, config: daemon.config, logger, clock });
      historyJob.start();
      await digest.stop();
      digest = createDigestJob({ config: daemon.config, storage, logger, clock, speaks });
      digest.start();
    },
    stop(reason = 'stop') {
      stopped ??= Promise.allSettled([services.close(), daemon.stop(reason), historyJob.stop(), digest.stop(), poller?.stop()]).then((results) => {
        for (const r of results) if (r.status === 'rejected') logger.error({ err: r.reason }, 'error while stopping');
        storage.close();
      });
      return stopped;
    },
  };
}
