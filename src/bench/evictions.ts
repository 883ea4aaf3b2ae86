import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from '../undici';
import { spawnDaemon } from '../demo/harness';
import { startSimulator } from '../simulator';

/**
 * Model loads the monitor causes on a one-model node while an app works (issue 23; target 0). The real daemon
 * (dist/cli.js) runs at 20× the default cadence (liveness 500 ms, canary 3 s) against a simulator with room for
 * one model; an app asks its model every 750 ms (every 15 s at defaults). Every load the simulator did beyond
 * the app's own first one is the monitor's doing; the figure per hour is scaled back to the default cadence.
 */
export interface EvictionRow {
  scenario: string;
  seconds: number;
  /** Loads the simulator did beyond the app's first, and of those, the ones that evicted the app's model. */
  monitorLoads: number;
  appModelEvicted: number;
  /** The app's requests that paid a model load (its first included). */
  appPaidLoads: number;
  appRequests: number;
  /** monitorLoads per hour at the default cadence. */
  perHourAtDefaults: number;
}

const SPEED = 20;
const GB = 1e9;

export async function evictions(seconds = Number(process.env.BENCH_EVICTION_SECONDS ?? 60)): Promise<EvictionRow[]> {
  const rows: EvictionRow[] = [];
  const scenarios: Array<[string, string]> = [
    ['canary configured on another model', 'model: qwen3:8b'],
    ['keep-warm lists the app model and one that does not fit', 'model: llama3.2, models: [qwen3:8b, llama3.2]'],
  ];
  for (const [scenario, primary] of scenarios) {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-evict-'));
    const sim = await startSimulator({ models: ['llama3.2', 'qwen3:8b'], memoryBytes: 6 * GB, modelSizes: { 'llama3.2': 4 * GB, 'qwen3:8b': 5 * GB }, loadMs: 150, tokenDelayMs: 2 });
    const fallback = await startSimulator({ models: ['llama3.2'], tokenDelayMs: 2 });
    const agent = new Agent({ keepAliveTimeout: 1000 });
    let appPaidLoads = 0;
    let appRequests = 0;
    const ask = async () => {
      appRequests++;
      const res = await request(`${sim.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'Say PONG', stream: false }), dispatcher: agent });
      const reply = (await res.body.json()) as { load_duration?: number };
      if ((reply.load_duration ?? 0) > 100e6) appPaidLoads++;
    };
    try {
      await ask(); // the app was there first
      writeFileSync(
        join(dir, 'config.yaml'),
        `instance: bench
nodes:
  - { name: primary, url: "${sim.url}", ${primary} }
  - { name: fallback, url: "${fallback.url}", model: llama3.2 }
probes: { liveness: { interval: 500ms, timeout: 400ms }, canary: { interval: 3s, timeout: 2s } }
selfCheck: { witnesses: ["tcp://127.0.0.1:${sim.port}"] }
stateFile: state.json
database: sentinel.db
`,
      );
      const daemon = spawnDaemon(['run', '--config', join(dir, 'config.yaml')]);
      try {
        const end = Date.now() + seconds * 1000;
        while (Date.now() < end) {
          await sleep(750);
          await ask();
        }
      } finally {
        await daemon.stop();
      }
      const loads = sim.modelLoads;
      const monitorLoads = Math.max(0, loads.length - 1);
      rows.push({
        scenario,
        seconds,
        monitorLoads,
        appModelEvicted: loads.filter((l) => l.evicted.includes('llama3.2:latest')).length,
        appPaidLoads,
        appRequests,
        perHourAtDefaults: (monitorLoads * 3600) / (seconds * SPEED),
      });
    } finally {
      await agent.close();
      await sim.close();
      await fallback.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
