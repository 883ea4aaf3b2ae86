import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, EXIT_CONFIG } from '../config';

/** What a command may touch of the process: passed in, so commands run the same under tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Only commands that ask questions read it (`init` on a terminal). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin });

/** Exit code for a bad command line (sysexits EX_USAGE). */
export const EXIT_USAGE = 64;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type FlagSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };
export type FlagValues<T extends Record<string, FlagSpec>> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : T[K]['multiple'] extends true ? string[] : string;
};

/** node:util parseArgs, strict, with its errors turned into UsageError naming the flag. */
export function parseFlags<T extends Record<string, FlagSpec>>(argv: string[], options: T, allowPositionals = false): { values: FlagValues<T>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: options as NonNullable<ParseArgsConfig['options']>, strict: true, allowPositionals });
    return { values: r.values as FlagValues<T>, positionals: r.positionals };
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
