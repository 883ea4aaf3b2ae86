import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSentinelClient } from '../client';
import { initialState } from '../core/decide';
import { spawnDaemon, statusOf, waitForState } from '../demo/harness';
import { startSimulator, type Fault } from '../simulator';
import { buildPublishedState } from '../state/build';
import { parseState } from '../state/validate';
import { benchFiles, benchNodes, compressedCadence } from './config';

const perCall = (fn: () => unknown, n: number): number => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
};

/** µs per getPreferredEndpoint() with the client's cache vs reading and parsing the file on every call. */
export async function lookupCost(calls = 20_000): Promise<{ cachedUs: number; uncachedUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-client-'));
  try {
    const nodes = [
      { name: 'primary', url: 'http://127.0.0.1:1', model: 'm', api: 'ollama' as const, priority: 0 },
      { name: 'fallback', url: 'http://127.0.0.1:2', model: 'm', api: 'ollama' as const, priority: 1 },
    ];
    const file = join(dir, 'state.json');
    const doc = buildPublishedState(initialState(nodes, { wall: Date.now(), mono: 0 }), nodes, { instance: 'b', version: '0', pid: 1, startedAt: Date.now() }, Date.now(), 3_600_000);
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const client = createSentinelClient({ stateFile: file, nodes, env: {}, reports: false });
    await client.getPreferredEndpoint();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await client.getPreferredEndpoint();
    const cachedUs = Number(process.hrtime.bigint() - t0) / 1000 / calls;
    const uncachedUs = perCall(() => parseState(readFileSync(file, 'utf8')), calls);
    return { cachedUs, uncachedUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A 10-minute hung-primary outage, time-compressed ×`scale` with the real daemon, simulator and client:
 * every timeout, interval and gap between requests is divided by `scale`, and the measured extra latency is
 * multiplied back. The seed client pays its 15 s timeout on every request; the library pays until the
 * monitor (helped by the first request's report) moves traffic, and its own failure memory keeps later
 * requests off the hung node meanwhile.
 */
export async function outageLatency(opts: { requestEveryS: number; scale?: number; outageS?: number; hedgeAfterMs?: number }): Promise<{ requests: number; seedS: number; libraryS: number }> {
  const scale = opts.scale ?? 10;
  const outageS = opts.outageS ?? 600;
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-outage-'));
  const primary = await startSimulator();
  const fallback = await startSimulator();
  const ms = (realMs: number) => Math.max(1, Math.round(realMs / scale));
  const config = join(dir, 'config.yaml');
  // The default cadence, compressed.
  writeFileSync(config, benchNodes(primary.url, fallback.url) + compressedCadence(scale) + benchFiles('warn'));
  const stateFile = join(dir, 'state.json');
  const daemon = spawnDaemon(['run', '--config', config]);
  try {
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up', 30_000);
    const client = createSentinelClient({
      stateFile,
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
      timeoutMs: ms(15_000),
      failureHoldMs: ms(30_000),
      // Suspicion is on by default; its wait is compressed like every other duration.
      suspectAfterMs: ms(2_500),
      ...(opts.hedgeAfterMs !== undefined ? { hedgeAfterMs: ms(opts.hedgeAfterMs) } : {}),
    });
    const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };
    // Baseline: what one request costs with no outage (subtracted: "extra" latency only).
    const base = await timed(async () => (await client.fetchWithFallback('/api/chat', body)).arrayBuffer());
    await primary.setFault('hang' as Fault);
    const requests = Math.floor(outageS / opts.requestEveryS);
    let extra = 0;
    const start = performance.now();
    for (let i = 0; i < requests; i++) {
      const due = start + (i * opts.requestEveryS * 1000) / scale;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = await timed(async () => (await client.fetchWithFallback('/api/chat', body)).arrayBuffer());
      extra += Math.max(0, t - base);
    }
    return { requests, seedS: requests * 15, libraryS: (extra * scale) / 1000 };
  } finally {
    await daemon.stop();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Fault → one app request fails and reports → state file says fallback; at default settings. */
export async function failoverWithReport(fault: Fault): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-report-'));
  const primary = await startSimulator();
  const fallback = await startSimulator();
  const config = join(dir, 'config.yaml');
  // Default cadence; a long liveness interval so only the report can explain a fast flip.
  writeFileSync(config, `nodes:\n  - { name: primary, url: "${primary.url}", model: llama3.2 }\n  - { name: fallback, url: "${fallback.url}", model: llama3.2 }\nprobes: { liveness: { interval: 60s } }\nstateFile: state.json\ndatabase: sentinel.db\nlog: { level: warn }\n`);
  const stateFile = join(dir, 'state.json');
  const daemon = spawnDaemon(['run', '--config', config]);
  try {
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 60_000);
    const client = createSentinelClient({ stateFile, nodes: [{ name: 'primary', url: primary.url }, { name: 'fallback', url: fallback.url }], env: {}, timeoutMs: 3_000 });
    await primary.setFault(fault);
    const t0 = performance.now();
    const res = await client.fetchWithFallback('/api/chat', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
    await res.arrayBuffer();
    await waitForState(stateFile, (s) => s.preferred.name === 'fallback', 60_000, 20);
    return performance.now() - t0;
  } finally {
    await daemon.stop();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The daemon at the default cadence for `seconds`: RSS (max) and CPU (% of one core), from /proc. */
export async function soak(seconds: number): Promise<{ rssMaxMb: number; rssEndMb: number; cpuPercent: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-soak-'));
  const primary = await startSimulator();
  const fallback = await startSimulator();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `nodes:\n  - { name: primary, url: "${primary.url}", model: llama3.2 }\n  - { name: fallback, url: "${fallback.url}", model: llama3.2 }\nstateFile: state.json\ndatabase: sentinel.db\nlog: { level: warn }\n`);
  const daemon = spawnDaemon(['run', '--config', config]);
  const pid = daemon.child.pid as number;
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(f[11]) + Number(f[12]);
  };
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  try {
    await waitForState(join(dir, 'state.json'), () => true, 30_000);
    await new Promise((r) => setTimeout(r, 5_000));
    const t0 = performance.now();
    const c0 = ticks();
    let rssMax = 0;
    while (performance.now() - t0 < seconds * 1000) {
      rssMax = Math.max(rssMax, rss());
      await new Promise((r) => setTimeout(r, 1000));
    }
    // /proc times are in clock ticks (100 per second on Linux).
    const cpuPercent = ((ticks() - c0) / 100 / ((performance.now() - t0) / 1000)) * 100;
    return { rssMaxMb: rssMax, rssEndMb: rss(), cpuPercent };
  } finally {
    await daemon.stop();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
