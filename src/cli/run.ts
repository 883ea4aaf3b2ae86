import { createAlerting } from '../alerts/alerting';
import { createDigestJob } from '../alerts/digest';
import { loadConfig, type Config } from '../config';
import { Daemon } from '../daemon/daemon';
import { createSdNotify } from '../daemon/sdnotify';
import { startServices, type Services } from '../daemon/services';
import { createHistoryJob } from '../history/job';
import { createLogger, type Logger } from '../logging';
import { createHistory } from '../storage/history';
import { openStorage, StorageError } from '../storage';
import { systemClock } from '../util/clock';
import { packageVersion } from '../version';
import { parseFlags, reportError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel run [--config FILE]

Runs the monitor: probes every node, decides which one apps should use, records every probe and change in
SQLite and publishes the state file (and, when configured, the HTTP API). Logs JSON to stdout (pretty on a
terminal). Signals: SIGTERM/SIGINT stop cleanly (a second one exits at once); SIGHUP re-reads the config.
The config path may also come from LLM_SENTINEL_CONFIG.
`;

/** Exit code when the database or state folder cannot be used at start (sysexits EX_CANTCREAT). */
const EXIT_CANTCREAT = 73;
/** A stop must finish within this; past it we exit anyway (systemd's TimeoutStopSec is larger). */
const STOP_DEADLINE_MS = 4500;

const sameServices = (a: Config, b: Config) =>
  JSON.stringify([a.nodes.map((n) => n.name), a.http && [a.http.host, a.http.port, a.http.reportsPerMinute, a.http.token?.reveal()], a.stateFile]) ===
  JSON.stringify([b.nodes.map((n) => n.name), b.http && [b.http.host, b.http.port, b.http.reportsPerMinute, b.http.token?.reveal()], b.stateFile]);

/** The composition root: config → logger → storage → daemon → services → signals. Nothing else wires things. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let config: Config;
  let configPath: string | undefined;
  try {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    configPath = values.config ?? io.env.LLM_SENTINEL_CONFIG;
    config = loadConfig(configPath, io.env);
  } catch (e) {
    return reportError(e, io, 'run');
  }

  // Signals that arrive while starting are held and acted on once started (else SIGTERM's default action
  // would kill the process mid-start, before it could record a clean stop).
  const early: NodeJS.Signals[] = [];
  const holdSignal = (signal: NodeJS.Signals) => void early.push(signal);
  const ignoreHup = () => undefined;
  process.on('SIGTERM', holdSignal);
  process.on('SIGINT', holdSignal);
  process.on('SIGHUP', ignoreHup);
  const releaseEarly = () => {
    process.off('SIGTERM', holdSignal);
    process.off('SIGINT', holdSignal);
    process.off('SIGHUP', ignoreHup);
  };

  const logger = createLogger({ level: config.log.level });
  const clock = systemClock;
  const notify = createSdNotify(io.env, { logger });
  let storage;
  try {
    // A short busy wait: the daemon retries failed writes from its queue rather than freeze every loop.
    storage = openStorage(config.database, { logger, busyTimeoutMs: 250 });
  } catch (e) {
    const msg = e instanceof StorageError ? e.message : (e as Error).message;
    logger.fatal({ database: config.database, code: (e as StorageError).code }, msg);
    io.stderr.write(`llm-sentinel run: ${msg}\n`);
    releaseEarly();
    await flush(logger);
    return EXIT_CANTCREAT;
  }

  const db = storage;
  const daemon = new Daemon({ config, storage, logger, clock, version: packageVersion(), alerting: (c) => createAlerting({ config: c, storage: db, logger, clock }) });
  const history = createHistory(storage.db);
  // The status page's code is loaded at its first view, not at start.
  const statusPage = async () => {
    const { buildStatusModel, renderStatusPage } = await import('../http/status-page');
    return renderStatusPage(buildStatusModel(history, daemon.published?.state, clock.now()));
  };
  let historyJob = createHistoryJob({ storage, config, logger, clock });
  let digest = createDigestJob({ config, storage, logger, clock });
  let services: Services;
  try {
    daemon.start();
    historyJob.start();
    digest.start();
    services = await startServices({ daemon, config, logger, clock, notify, statusPage });
  } catch (e) {
    logger.fatal({ err: e }, `cannot start: ${(e as Error).message}`);
    io.stderr.write(`llm-sentinel run: cannot start: ${(e as Error).message}\n`);
    await Promise.allSettled([daemon.stop('start failed'), historyJob.stop(), digest.stop()]);
    storage.close();
    releaseEarly();
    await flush(logger);
    return EXIT_CANTCREAT;
  }
  notify.ready(`monitoring ${config.nodes.length} nodes`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      notify.stopping();
      logger.info({ signal }, 'stopping');
      const force = setTimeout(() => {
        logger.error('stop took too long; exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      force.unref();
      Promise.allSettled([services.close(), daemon.stop(signal), historyJob.stop(), digest.stop()])
        .then((results) => {
          for (const r of results) if (r.status === 'rejected') logger.error({ err: r.reason }, 'error while stopping');
        })
        .finally(() => {
          storage.close();
          logger.info('stopped');
          process.off('SIGHUP', onHup);
          clearTimeout(force);
          void flush(logger).then(() => resolve(0));
        });
    };
    const onHup = () => {
      let next: Config;
      try {
        next = loadConfig(configPath, io.env);
      } catch (e) {
        const problems = (e as { problems?: string[] }).problems ?? [(e as Error).message];
        logger.error({ problems }, 'SIGHUP: new configuration is invalid; keeping the running one');
        return;
      }
      const previous = daemon.config;
      daemon
        .reload(next)
        .then(async () => {
          if (!sameServices(previous, daemon.config)) {
            await services.close();
            services = await startServices({ daemon, config: daemon.config, logger, clock, notify, statusPage });
          }
          await historyJob.stop();
          historyJob = createHistoryJob({ storage, config: daemon.config, logger, clock });
          historyJob.start();
          await digest.stop();
          digest = createDigestJob({ config: daemon.config, storage, logger, clock });
          digest.start();
          notify.status(`monitoring ${daemon.config.nodes.length} nodes (reloaded)`);
        })
        .catch((e: unknown) => logger.error({ err: e }, 'reload failed'));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
    releaseEarly();
    const first = early[0];
    if (first) onStop(first);
  });
}

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
