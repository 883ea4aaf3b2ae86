import type { ProbeResult, Reason } from '../../src/probes/types';
import type { Storage } from '../../src/storage';
import { mulberry32 } from '../../src/util/random';

/** Reproducible pseudo-random numbers (re-exported for the history tests). */
export const rng = mulberry32;

const FAILURES: Reason[] = ['refused', 'timeout', 'cloudflare_tunnel_down'];

/**
 * Probes for [from, to) at the default cadence (liveness 10 s, canary 60 s) for each node, with a few failures,
 * spread-out TTFTs and the odd cold start. Inserted through the real storage API in one transaction.
 */
export function insertProbes(storage: Storage, nodes: string[], from: number, to: number, seed = 1): number {
  const r = rng(seed);
  let n = 0;
  storage.transaction(() => {
    for (const node of nodes) {
      for (let t = from; t < to; t += 10_000) {
        const ok = r() > 0.02;
        storage.insertProbe({
          node,
          kind: 'liveness',
          startedAt: t,
          ok,
          reason: ok ? 'ok' : (FAILURES[Math.floor(r() * FAILURES.length)] as Reason),
          durationMs: ok ? 5 + r() * 80 : 3000,
        });
        n++;
        if ((t - from) % 60_000 !== 0) continue;
        const cok = r() > 0.03;
        const cold = r() < 0.02;
        const ttft = Math.exp(4 + r() * 4); // ~55 ms to ~3 s
        const probe: ProbeResult = cok
          ? { node, kind: 'canary', startedAt: t + 250, ok: true, reason: 'ok', durationMs: ttft + 300, ttftMs: ttft, totalMs: ttft + 300, tokensPerSec: 10 + r() * 60, loadMs: cold ? 2500 : 20, evalCount: 4 + Math.floor(r() * 4) }
          : { node, kind: 'canary', startedAt: t + 250, ok: false, reason: 'wrong_answer', durationMs: 900, evalCount: 8, loadMs: cold ? 1500 : 10 };
        storage.insertProbe(probe);
        n++;
      }
    }
  });
  return n;
}
