import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseState } from '../state/validate';
import type { PublishedState } from '../state/types';

/**
 * Runs the real CLI as a child process and watches its state file: shared by the demo, the benchmarks and
 * the end-to-end tests, so all three exercise the daemon exactly as users run it.
 */
export interface DaemonProcess {
  child: ChildProcess;
  /** Everything the daemon printed (stdout + stderr), for assertions and post-mortems. */
  output(): string;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL: no cleanup at all (crash, power loss). */
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

export function cliPath(): string {
  // src/demo and dist/demo are both two levels below the package root; the CLI is always the built one.
  return join(__dirname, '..', '..', 'dist', 'cli.js');
}

export function spawnDaemon(args: string[], env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Reads and validates the state file; undefined while it is missing or (never, if atomic) torn. */
export function readState(file: string): PublishedState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const r = parseState(text);
  return r.ok ? r.state : undefined;
}

/** Polls the state file until `predicate` holds; rejects after `timeoutMs` with the last state seen. */
export async function waitForState(file: string, predicate: (s: PublishedState) => boolean, timeoutMs: number, pollMs = 50): Promise<PublishedState> {
  const deadline = performance.now() + timeoutMs;
  let last: PublishedState | undefined;
  for (;;) {
    last = readState(file) ?? last;
    if (last && predicate(last)) return last;
    if (performance.now() > deadline) {
      const view = last ? `preferred=${last.preferred.name} allDown=${last.allDown} ${last.nodes.map((n) => `${n.name}=${n.status}`).join(' ')}` : 'no state file';
      throw new Error(`timed out after ${timeoutMs}ms waiting for the state; last seen: ${view}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export const statusOf = (s: PublishedState, node: string): string | undefined => s.nodes.find((n) => n.name === node)?.status;
