import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The one root logger. JSON to stdout (pretty when stdout is a TTY, for people running it by hand).
 * Secret values are Secret objects that serialise as [redacted]; the redact paths below are a second
 * line of defence for anything that carries raw header maps or passwords.
 */
export function createLogger(opts: { level?: string; pretty?: boolean; destination?: pino.DestinationStream } = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    redact: {
      paths: ['headers', '*.headers', 'password', '*.password', 'token', '*.token', 'auth', '*.auth', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  if (opts.destination) return pino(options, opts.destination);
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}

/** A logger that drops everything, for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
