import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Logger } from '../logging';

/**
 * systemd's readiness and watchdog protocol (sd_notify), for Type=notify units.
 *
 * The protocol is a datagram on the AF_UNIX socket named by $NOTIFY_SOCKET, and Node cannot send unix
 * datagrams. So each message runs `systemd-notify` (argument array, never a shell). Two consequences:
 *  - the sender is a child process, not the main PID, so the unit needs NotifyAccess=all;
 *  - systemd-notify already attributes the message to its parent (getppid(), i.e. us) and, unless
 *    --no-block is given, waits until PID 1 has processed it (BARRIER=1). Without that wait systemd could
 *    find the sender gone and drop the message as coming from no unit. So no --pid (it would only add
 *    MAINPID=, which ExecStart= already made us) and no --no-block.
 * Messages go out one at a time, in order: READY=1 never overtakes STOPPING=1.
 */
export interface SdNotify {
  /** NOTIFY_SOCKET is set: systemd is listening. Otherwise every method is a no-op. */
  readonly enabled: boolean;
  ready(status?: string): void;
  status(text: string): void;
  stopping(): void;
  watchdog(): void;
  /** Half of WATCHDOG_USEC, when the watchdog is on and meant for this process; ping at this period. */
  readonly watchdogIntervalMs: number | undefined;
  /** Resolves once every message queued so far has been handed over (or failed). Never rejects. */
  flush(): Promise<void>;
}

export type SpawnImpl = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

export interface SdNotifyOptions {
  logger?: Logger;
  spawnImpl?: SpawnImpl;
  /** The systemd-notify binary (found on PATH by default). */
  command?: string;
  /** Our PID, compared with WATCHDOG_PID. */
  pid?: number;
}

/** systemd-notify's barrier waits at most 5 s; past this the child is stuck and the queue must move on. */
const SEND_TIMEOUT_MS = 10_000;
/** STATUS= is shown in `systemctl status`; one short line is what fits there. */
const MAX_STATUS = 200;

// A newline would start another VAR=value line in the datagram (e.g. a forged READY=1).
// eslint-disable-next-line no-control-regex
const cleanStatus = (text: string): string => text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, MAX_STATUS);

export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is for; a child that inherited our environment must not ping.
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

const noop = (): void => undefined;

export function createSdNotify(env: NodeJS.ProcessEnv, opts: SdNotifyOptions = {}): SdNotify {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) {
    return { enabled: false, ready: noop, status: noop, stopping: noop, watchdog: noop, watchdogIntervalMs: undefined, flush: () => Promise.resolve() };
  }
  const spawnImpl: SpawnImpl = opts.spawnImpl ?? spawn;
  const command = opts.command ?? 'systemd-notify';
  const logger = opts.logger;
  const childEnv = { ...env };
  let queue: Promise<void> = Promise.resolve();
  let reported = false;
  let missing = false;
  let watchdogQueued = false;

  const fail = (what: string, detail: string): void => {
    if (reported) {
      logger?.debug({ message: what, detail }, 'sd_notify message not delivered');
      return;
    }
    reported = true;
    logger?.warn({ message: what, detail, command }, 'sd_notify message not delivered; systemd may consider the service not ready or hung (further failures are logged at debug level)');
  };

  const sendNow = (args: string[], what: string): Promise<void> =>
    new Promise<void>((resolve) => {
      if (missing) return resolve();
      let child: ChildProcess;
      try {
        child = spawnImpl(command, args, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        fail(what, (e as Error).message);
        return resolve();
      }
      // Our own timer, not spawn's `timeout` option: Node leaves that one running when the spawn fails (ENOENT).
      const timer = setTimeout(() => child.kill('SIGKILL'), SEND_TIMEOUT_MS);
      timer.unref();
      // A failed spawn emits 'error' and then 'close' (code -2): report it once.
      let settled = false;
      const done = () => {
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (stderr.length < 1000) stderr += chunk;
      });
      child.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') missing = true;
        fail(what, e.code === 'ENOENT' ? `${command} not found: install systemd's systemd-notify (it ships with systemd)` : e.message);
        done();
      });
      child.once('close', (code, signal) => {
        if (settled) return;
        if (code !== 0 && code !== null) fail(what, `${command} exited with ${code}: ${stderr.trim()}`);
        else if (signal) fail(what, `${command} killed by ${signal}`);
        done();
      });
    });

  const send = (args: string[], what: string): void => {
    queue = queue.then(() => sendNow(args, what));
  };

  return {
    enabled: true,
    watchdogIntervalMs: watchdogInterval(env, opts.pid ?? process.pid),
    ready(status) {
      send(status === undefined ? ['--ready'] : ['--ready', `--status=${cleanStatus(status)}`], 'READY=1');
    },
    status(text) {
      send([`--status=${cleanStatus(text)}`], 'STATUS');
    },
    stopping() {
      send(['STOPPING=1'], 'STOPPING=1');
    },
    watchdog() {
      // One ping waiting is as good as ten: don't let a slow systemd-notify pile them up.
      if (watchdogQueued) return;
      watchdogQueued = true;
      queue = queue.then(() => {
        watchdogQueued = false;
        return sendNow(['WATCHDOG=1'], 'WATCHDOG=1');
      });
    },
    flush: () => queue,
  };
}
