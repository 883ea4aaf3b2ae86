import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator';
import { writeFastConfig } from './daemon-config';

/**
 * Two simulators, a fast config in a temp folder and (on demand) the real daemon: what every host-fault and
 * hammer test starts from. close() kills what is still running and removes the folder.
 */
export interface Stack {
  dir: string;
  primary: Simulator;
  fallback: Simulator;
  config: string;
  stateFile: string;
  dbFile: string;
  daemons: DaemonProcess[];
  spawn(): DaemonProcess;
  /** Spawns the daemon and waits until it has published both nodes up. */
  startHealthy(timeoutMs?: number): Promise<DaemonProcess>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Replaces the fast config's `state:` line, e.g. `{ heartbeat: 100ms, staleAfter: 2s }`. */
  state?: string;
  /** Where the state file goes, relative to the config's folder. */
  stateFile?: string;
  extraYaml?: string;
}

/** A temp folder and two simulated nodes, for a test that writes its own config and starts its own daemon. */
export interface TwoNodes {
  dir: string;
  primary: Simulator;
  fallback: Simulator;
  /** Closes both simulators and removes the folder (stop the daemon first). */
  close(): Promise<void>;
}

export async function startTwoNodes(prefix: string, opts: { primary?: SimulatorOptions; fallback?: SimulatorOptions } = {}): Promise<TwoNodes> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const primary = await startSimulator(opts.primary);
  const fallback = await startSimulator(opts.fallback);
  return {
    dir,
    primary,
    fallback,
    async close() {
      await primary.close();
      await fallback.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startStack(prefix: string, opts: StackOptions = {}): Promise<Stack> {
  const nodes = await startTwoNodes(prefix);
  const { dir, primary, fallback } = nodes;
  const config = writeFastConfig(dir, primary.url, fallback.url, opts.extraYaml ?? '', opts.stateFile ? { stateFile: opts.stateFile } : {});
  if (opts.state) {
    const text = readFileSync(config, 'utf8');
    const replaced = text.replace(/^state: .*$/m, `state: ${opts.state}`);
    if (replaced === text) throw new Error('writeFastConfig no longer writes a `state:` line; update test/faults/stack.ts');
    writeFileSync(config, replaced);
  }
  const daemons: DaemonProcess[] = [];
  const stack: Stack = {
    dir,
    primary,
    fallback,
    config,
    stateFile: join(dir, opts.stateFile ?? 'state.json'),
    dbFile: join(dir, 'sentinel.db'),
    daemons,
    spawn() {
      const d = spawnDaemon(['run', '--config', config]);
      daemons.push(d);
      return d;
    },
    async startHealthy(timeoutMs = 15_000) {
      const d = stack.spawn();
      const pid = d.child.pid;
      await waitForState(stack.stateFile, (s) => s.monitor.pid === pid && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', timeoutMs);
      return d;
    },
    async close() {
      await Promise.all(daemons.map((d) => d.kill9()));
      await nodes.close();
    },
  };
  return stack;
}
