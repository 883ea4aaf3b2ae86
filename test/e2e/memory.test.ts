import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { spawn } from 'node:child_process';
import { cliPath, readState, spawnDaemon, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(240_000);

/**
 * Issue 23 end to end: the real daemon at its default cadence (liveness every 10 s, canary every 60 s) against a
 * simulated primary with room for one model and 3 s per load (docs/simulator.md "Memory"). Both scenarios run
 * side by side for 150 s each. The load and eviction counts come from the simulator itself, not the monitor.
 */
const GB = 1e9;
const RUN_MS = 150_000;
const ONE_MODEL = { memoryBytes: 6 * GB, modelSizes: { 'llama3.2': 4 * GB, 'qwen3:8b': 5 * GB }, loadMs: 3000, models: ['llama3.2', 'qwen3:8b'] };

function writeConfig(nodes: TwoNodes, primary: string): string {
  const file = join(nodes.dir, 'config.yaml');
  // Defaults everywhere but the files and the witness (loopback: no test reaches the Internet).
  writeFileSync(
    file,
    `instance: memory
nodes:
  - { name: primary, url: "${nodes.primary.url}", ${primary} }
  - { name: fallback, url: "${nodes.fallback.url}", model: llama3.2 }
selfCheck: { witnesses: ["tcp://127.0.0.1:${nodes.primary.port}"] }
stateFile: state.json
database: sentinel.db
`,
  );
  return file;
}

/** `llm-sentinel check` as users run it; its memory lines go to stderr. */
function check(config: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath(), 'check', '--config', config], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', () => resolve(err));
  });
}

async function withDaemon<T>(nodes: TwoNodes, primary: string, body: (d: DaemonProcess, stateFile: string, config: string) => Promise<T>): Promise<T> {
  const config = writeConfig(nodes, primary);
  const d = spawnDaemon(['run', '--config', config]);
  try {
    return await body(d, join(nodes.dir, 'state.json'), config);
  } finally {
    await d.kill9();
  }
}

test.concurrent('the canary on qwen3:8b, an app on llama3.2 every 15 s: over 150 s the app pays at most one model load', async () => {
  const nodes = await startTwoNodes('sentinel-mem-app-', { primary: ONE_MODEL });
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const appLoads: number[] = [];
  try {
    const ask = async () => {
      const res = await request(`${nodes.primary.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'Say PONG', stream: false }), dispatcher: agent });
      const reply = (await res.body.json()) as { load_duration?: number };
      if ((reply.load_duration ?? 0) > 1e9) appLoads.push(Date.now());
    };
    // The app was there first (its first request is its one load), then the monitor starts.
    await ask();
    await withDaemon(nodes, 'model: qwen3:8b', async (daemon, stateFile) => {
      const end = Date.now() + RUN_MS;
      while (Date.now() < end) {
        await sleep(15_000);
        await ask();
      }
      const s = readState(stateFile);
      const primary = s?.nodes.find((n) => n.name === 'primary');
      expect(primary?.memory).toMatchObject({ canaryModel: 'llama3.2:latest', monitorEvictions: 0, appModelsEvicted: 0 });
      expect(primary?.coldEvents).toBe(0);
      expect(daemon.output()).not.toMatch(/cold start: the model had been unloaded/);
    });
    expect(appLoads.length).toBeLessThanOrEqual(1);
    // The simulator's own account: llama3.2 was loaded once and never evicted; qwen3:8b never loaded.
    expect(nodes.primary.modelLoads.map((l) => [l.model, l.evicted])).toEqual([['llama3.2:latest', []]]);
    expect(nodes.primary.generations).toBeGreaterThan(10); // the app's and the canaries' generations
  } finally {
    await agent.close();
    await nodes.close();
  }
});

test.concurrent('two listed models that do not fit together: at most 2 evictions over 150 s, and the warning', async () => {
  const nodes = await startTwoNodes('sentinel-mem-pair-', { primary: ONE_MODEL });
  try {
    await withDaemon(nodes, 'model: llama3.2, models: [llama3.2, qwen3:8b]', async (daemon, stateFile, config) => {
      const started = Date.now();
      const s = await waitForState(stateFile, (st) => st.nodes.find((n) => n.name === 'primary')?.memory?.conflict != null, RUN_MS);
      expect(s.nodes.find((n) => n.name === 'primary')?.memory?.conflict).toEqual({ models: ['llama3.2', 'qwen3:8b'], keeping: 'llama3.2' });
      await sleep(Math.max(0, RUN_MS - (Date.now() - started)));
      const warnings = daemon.output().match(/do not fit in memory together/g) ?? [];
      expect(warnings).toHaveLength(1);
      const last = readState(stateFile)?.nodes.find((n) => n.name === 'primary');
      expect(last?.memory).toMatchObject({ appModelsEvicted: 0, conflict: { keeping: 'llama3.2' } });
      expect(last?.coldEvents).toBe(0);
      // `check` says it too, from the running monitor's state file.
      expect(await check(config)).toContain('memory: primary: keep-warm: llama3.2 and qwen3:8b do not fit in memory together');
    });
    const evictions = nodes.primary.modelLoads.reduce((n, l) => n + l.evicted.length, 0);
    expect(evictions).toBeLessThanOrEqual(2);
    expect(nodes.primary.loaded()).toEqual(['llama3.2:latest']);
  } finally {
    await nodes.close();
  }
});
