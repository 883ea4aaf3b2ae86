import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FloodOptions } from './conn-flood';

/**
 * The same flood as openFlood, run in a worker thread: thousands of sockets (and their refills) then never
 * share an event loop with the client being measured, whose latency would otherwise include the flooder's
 * own work. The worker loads the built dist/bench/conn-flood.js (tests and benchmarks run after a build).
 */
export interface FloodStats {
  connected: number;
  closedByServer: number;
  open: number;
  refilled: number;
}

export interface FloodWorker {
  stats(): Promise<FloodStats>;
  stopRefill(): Promise<void>;
  close(): Promise<void>;
}

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openFlood } = require(workerData.module);
let flood;
const stats = () => ({ connected: flood.connected, closedByServer: flood.closedByServer, open: flood.open(), refilled: flood.refilled });
openFlood(workerData.options).then((f) => {
  flood = f;
  parentPort.postMessage({ id: 0, stats: stats() });
}, (e) => parentPort.postMessage({ id: 0, error: String(e && e.stack || e) }));
parentPort.on('message', async (m) => {
  if (m.op === 'stats') parentPort.postMessage({ id: m.id, stats: stats() });
  else if (m.op === 'stopRefill') { flood.stopRefill(); parentPort.postMessage({ id: m.id }); }
  else if (m.op === 'close') { await flood.close(); parentPort.postMessage({ id: m.id }); }
});
`;

/** Resolves once every flood socket has been tried (the flood is up). `distDir`: the built dist/bench folder. */
export function startFloodWorker(options: FloodOptions, distDir = join(__dirname, '..', '..', 'dist', 'bench')): Promise<FloodWorker> {
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { module: join(distDir, 'conn-flood.js'), options } });
  const waiting = new Map<number, (m: { stats?: FloodStats; error?: string }) => void>();
  let next = 1;
  worker.on('message', (m: { id: number; stats?: FloodStats; error?: string }) => {
    const done = waiting.get(m.id);
    waiting.delete(m.id);
    done?.(m);
  });
  const call = (op: string): Promise<{ stats?: FloodStats }> =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      worker.postMessage({ op, id });
    });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    waiting.set(0, (m) => {
      if (m.error) {
        void worker.terminate();
        reject(new Error(`flood worker: ${m.error}`));
        return;
      }
      resolve({
        stats: async () => (await call('stats')).stats as FloodStats,
        stopRefill: async () => {
          await call('stopRefill');
        },
        close: async () => {
          await call('close');
          await worker.terminate();
        },
      });
    });
  });
}
