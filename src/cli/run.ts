import { MonitorStartError, startMonitor, type Monitor } from '../app/monitor';
import { ConfigError, loadConfig, type Config } from '../config';
import { createSdNotify } from '../daemon/sdnotify';
import { createLogger, type Logger } from '../logging';
import { systemClock } from '../util/clock';
import { collectGarbageEvery } from '../util/v8';
import { discoverModels } from './discover';
import { parseFlags, reportError, type CliIo } from './io';
import { setupWarnings } from './warnings';

const HELP = `Usage: llm-sentinel run [--config FILE]

Runs the monitor: probes every node, decides which one apps should use, records every probe and change in
SQLite and publishes the state file (and, when configured, the HTTP API). Logs JSON to stdout (pretty on a
terminal). Signals: SIGTERM/SIGINT stop cleanly (a second one exits at once); SIGHUP re-reads the config.
The config path may also come from LLM_SENTINEL_CONFIG.
`;

/** Exit code when the database or state folder cannot be used at start (sysexits EX_CANTCREAT). */
const EXIT_CANTCREAT = 73;
/** How often the idle daemon collects its garbage (util/v8.ts says why): about 10 ms of CPU a minute. */
const GC_EVERY_MS = 60_000;
/** A stop must finish within this; past it we exit anyway (systemd's TimeoutStopSec is larger). */
const STOP_DEADLINE_MS = 4500;

/** The process around the composition root (src/app/monitor.ts): flags, config, logger, exit codes and signals. */
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
    // A node that answers but leaves no model to choose is a config error now, not a node "down" later.
    const found = await discoverModels(config);
    if (found.problems.length > 0) throw new ConfigError(found.problems);
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
  for (const w of setupWarnings(config, config.nodes.map((node) => ({ node })))) logger.warn(w);
  const clock = systemClock;
  const notify = createSdNotify(io.env, { logger });
  let monitor: Monitor;
  try {
    monitor = await startMonitor({ config, logger, clock, notify });
  } catch (e) {
    const failure = e instanceof MonitorStartError ? e : new MonitorStartError('start', e);
    const msg = failure.message;
    if (failure.stage === 'storage') logger.fatal({ database: config.database, code: failure.code }, msg);
    else logger.fatal({ err: failure.cause }, msg);
    io.stderr.write(`llm-sentinel run: ${msg}\n`);
    releaseEarly();
    await flush(logger);
    return EXIT_CANTCREAT;
  }
  notify.ready(`monitoring ${config.nodes.length} nodes`);
  const stopCollecting = collectGarbageEvery(GC_EVERY_MS);

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
      monitor
        .stop(signal)
        .finally(() => {
          logger.info('stopped');
          process.off('SIGHUP', onHup);
          clearTimeout(force);
          stopCollecting();
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
      monitor
        .reload(next)
        .then(() => notify.status(`monitoring ${monitor.config.nodes.length} nodes (reloaded)`))
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
