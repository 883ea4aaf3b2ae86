import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSentinelClient } from '../client';
import type { FetchLike } from '../client/types';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../demo/harness';
import { startSimulator, type Simulator } from '../simulator';
import { benchFiles, benchNodes, compressedCadence } from './config';

/*
 * Suspicion, measured with the real daemon (dist/cli.js), two simulators and the client library at its
 * defaults (no hedgeAfterMs): how soon the first request into a hang is answered, and how often a slow but
 * healthy primary is duplicated onto the fallback.
 */

interface Stack {
  dir: string;
  stateFile: string;
  primary: Simulator;
  fallback: Simulator;
  daemon: DaemonProcess;
  close(): Promise<void>;
}

/** Default cadence divided by `scale` (1 = real time). */
async function stack(scale: number, prefix: string): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const primary = await startSimulator({ answer: 'PONG from primary' });
  const fallback = await startSimulator({ answer: 'PONG from fallback' });
  const config = join(dir, 'config.yaml');
  writeFileSync(config, benchNodes(primary.url, fallback.url) + compressedCadence(scale) + benchFiles('info'));
  const stateFile = join(dir, 'state.json');
  const daemon = spawnDaemon(['run', '--config', config]);
  try {
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 60_000);
  } catch (e) {
    await daemon.stop();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    stateFile,
    primary,
    fallback,
    daemon,
    async close() {
      await daemon.stop();
      await primary.close();
      await fallback.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };

/** The first request into a freshly hung primary, real time, default daemon and client: seconds to the answer. */
export async function firstIntoHang(trials: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < trials; i++) {
    const s = await stack(1, 'sentinel-bench-hang-');
    try {
      const client = createSentinelClient({ stateFile: s.stateFile, nodes: [{ name: 'primary', url: s.primary.url }, { name: 'fallback', url: s.fallback.url }], env: {} });
      await (await client.fetchWithFallback('/api/chat', body)).arrayBuffer();
      // A random moment within the liveness cycle, so a cadence probe may or may not be in flight.
      await new Promise((r) => setTimeout(r, 500 + ((i * 3_700) % 9_000)));
      await s.primary.setFault('hang');
      const t0 = performance.now();
      const res = await client.fetchWithFallback('/api/chat', body);
      const text = await res.text();
      if (!text.includes('PONG from fallback')) throw new Error(`expected the fallback's answer, got ${text.slice(0, 80)}`);
      out.push((performance.now() - t0) / 1000);
    } finally {
      await s.close();
    }
  }
  return out;
}

export interface SlowResult {
  requests: number;
  fromPrimary: number;
  /** Requests the client sent to the fallback: each one a duplicated generation. */
  fallbackCalls: number;
  /** Suspect probes the daemon ran. */
  suspectProbes: number;
  preferredFlips: number;
}

/**
 * A slow but alive primary (first token after `ttftS`), `requests` requests one every `everyS`, all
 * time-compressed ×`scale`; `flaky`: the share of liveness requests the primary leaves unanswered.
 */
export async function slowPrimary(opts: { requests: number; everyS: number; ttftS: number; flaky: number; scale?: number; seed?: number }): Promise<SlowResult> {
  const scale = opts.scale ?? 10;
  const s = await stack(scale, 'sentinel-bench-slow-');
  try {
    let fallbackCalls = 0;
    const counting: FetchLike = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.startsWith(s.fallback.url) && url.includes('/api/chat')) fallbackCalls++;
      return fetch(input, init);
    };
    const client = createSentinelClient({
      stateFile: s.stateFile,
      nodes: [
        { name: 'primary', url: s.primary.url },
        { name: 'fallback', url: s.fallback.url },
      ],
      env: {},
      fetch: counting,
      timeoutMs: Math.round(15_000 / scale),
      failureHoldMs: Math.round(30_000 / scale),
      suspectAfterMs: Math.round(2_500 / scale),
    });
    await s.primary.setFault('slow_first_token', { delayMs: Math.round((opts.ttftS * 1000) / scale), scope: 'generation' });
    if (opts.flaky > 0) s.primary.setFlakyLiveness(opts.flaky, opts.seed ?? 42);
    const logStart = s.daemon.output().length;
    let fromPrimary = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: opts.requests }, async (_, i) => {
        const wait = t0 + (i * opts.everyS * 1000) / scale - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          const text = await (await client.fetchWithFallback('/api/chat', body)).text();
          if (text.includes('PONG from primary')) fromPrimary++;
        } catch {
          // Counted as not from the primary.
        }
      }),
    );
    const log = s.daemon.output().slice(logStart);
    return {
      requests: opts.requests,
      fromPrimary,
      fallbackCalls,
      suspectProbes: (log.match(/suspect report: probing now/g) ?? []).length,
      preferredFlips: (log.match(/preferred node is now/g) ?? []).length,
    };
  } finally {
    await s.close();
  }
}
