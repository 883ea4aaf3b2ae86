import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, EXIT_CONFIG } from '../config';

/** What a command may touch of the process: passed in, so commands run the same under tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** Exit code for a bad command line (sysexits EX_USAGE). */
export const EXIT_USAGE = 64;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** node:util parseArgs, strict, with its errors turned into UsageError naming the flag. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** Turns the errors every command can meet into a message and an exit code; anything else is a bug. */
export function reportError(e: unknown, io: CliIo, command: string): number {
  if (e instanceof ConfigError) {
    io.stderr.write(`llm-sentinel ${command}: invalid configuration\n${e.problems.map((p) => `  ${p}\n`).join('')}`);
    return EXIT_CONFIG;
  }
  if (e instanceof UsageError) {
    io.stderr.write(`llm-sentinel ${command}: ${e.message}\nRun 'llm-sentinel help' for usage.\n`);
    return EXIT_USAGE;
  }
  throw e;
}
