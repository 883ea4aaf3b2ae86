import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState } from '../demo/harness';
import { startSimulator } from '../simulator';
import { getOnce, percentile, type Probe } from './conn-flood';
import { startFloodWorker, type FloodWorker } from './flood-worker';

export interface FloodResult {
  label: string;
  requests: number;
  ok: number;
  p50Ms: number;
  p99Ms: number;
  /** Connections the server closed per second while the client was measured (the flood kept coming back). */
  floodClosedPerS: number;
}

const summarize = (label: string, xs: Probe[], floodClosedPerS: number): FloodResult => {
  const ok = xs.filter((p) => p.ok);
  return { label, requests: xs.length, ok: ok.length, p50Ms: percentile(ok.map((p) => p.ms), 50), p99Ms: percentile(ok.map((p) => p.ms), 99), floodClosedPerS };
};

/**
 * GET /state latency for a well-behaved client (127.0.0.1, a fresh connection per request) against the real
 * daemon, with no flood and then during a flood of `idle` idle + `slowloris` slowloris connections from one
 * other address (127.0.0.2), kept up: every socket the server closes is reopened a second later. `http` is
 * the daemon's http: block, so the same run can show the server without
 * its per-address cap (the behaviour before issue 11) and with its defaults.
 */
export async function floodLatency(opts: { http: string; label: string; idle?: number; slowloris?: number; requests?: number; timeoutMs?: number }): Promise<{ quiet: FloodResult; flooded: FloodResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-flood-'));
  const primary = await startSimulator();
  const fallback = await startSimulator();
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `instance: bench
nodes:
  - { name: primary, url: "${primary.url}", model: llama3.2 }
  - { name: fallback, url: "${fallback.url}", model: llama3.2 }
stateFile: state.json
database: sentinel.db
http: ${opts.http}
log: { level: info }
`,
  );
  const daemon = spawnDaemon(['run', '--config', config]);
  const requests = opts.requests ?? 200;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  let flood: FloodWorker | undefined;
  try {
    await waitForState(join(dir, 'state.json'), (s) => statusOf(s, 'primary') === 'up', 30_000);
    const m = /"url":"(http:\/\/127\.0\.0\.1:(\d+))"[^\n]*HTTP API listening/.exec(daemon.output());
    if (!m) throw new Error(`the daemon did not say where it listens:\n${daemon.output().slice(-2000)}`);
    const base = m[1] as string;
    const sample = async (): Promise<Probe[]> => {
      const xs: Probe[] = [];
      for (let i = 0; i < requests; i++) xs.push(await getOnce(`${base}/state`, { localAddress: '127.0.0.1', timeoutMs }));
      return xs;
    };
    const quiet = summarize(`${opts.label}, no flood`, await sample(), 0);
    flood = await startFloodWorker({ host: '127.0.0.1', port: Number(m[2]), localAddress: '127.0.0.2', idle: opts.idle ?? 3_000, slowloris: opts.slowloris ?? 1_000, dripMs: 1_000, refillMs: 1_000 });
    // Let the server sort the flood out (accept, cap, close) and the refills start: the steady state of a
    // flood kept up by its sender, which is what the client is measured under.
    await new Promise((r) => setTimeout(r, 1_500));
    const before = await flood.stats();
    const t0 = performance.now();
    const xs = await sample();
    const closed = (await flood.stats()).closedByServer - before.closedByServer;
    const flooded = summarize(`${opts.label}, ${(opts.idle ?? 3_000) + (opts.slowloris ?? 1_000)}-connection flood`, xs, closed / ((performance.now() - t0) / 1000));
    return { quiet, flooded };
  } finally {
    await flood?.close();
    await daemon.kill9();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
