import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSentinelClient } from '../client';
import { emptyConsensus, settle } from '../client/consensus';
import { plan } from '../client/plan';
import { httpStateSource } from '../client/state-source';
import { pickFreshest } from '../client/state-sources';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../demo/harness';
import { startSimulator } from '../simulator';
import type { PublishedState } from '../state/types';
import { mulberry32 } from '../util/random';

/**
 * Issue 22: endpoint changes per hour for an app reading two monitors that disagree for good (from one the
 * primary is up, from the other its tunnel answers 530), before (the freshest non-stale document) and after
 * (src/client/consensus.ts). Two measurements:
 *   - model: one simulated hour, both documents rewritten every heartbeat (10 s, the default, each monitor at
 *     its own phase with ±0.5 s jitter), the app reading every 250 ms through a 2 s cache; both rules over the
 *     same documents;
 *   - real: two real daemons at defaults, the app reading both /state URLs every 250 ms for `seconds`, the
 *     old rule (httpStateSource + pickFreshest, as before) and the new client side by side on the same
 *     answers; changes scaled to one hour.
 */

const NODES = [
  { name: 'primary', url: 'http://10.9.0.1:11434' },
  { name: 'fallback', url: 'http://10.9.0.2:11434' },
];

function doc(primary: 'up' | 'down', at: number): PublishedState {
  const iso = new Date(at).toISOString();
  const node = (name: string, url: string, priority: number, status: 'up' | 'down') => ({
    name,
    url,
    model: 'llama3.2',
    api: 'ollama' as const,
    priority,
    status,
    since: iso,
    statusReason: status === 'up' ? 'ok' : 'cloudflare_tunnel_down',
    lastCheckAt: iso,
    lastOkAt: status === 'up' ? iso : null,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    lastError: null,
    latency: null,
  });
  const nodes = [node('primary', NODES[0]?.url ?? '', 0, primary), node('fallback', NODES[1]?.url ?? '', 1, 'up')];
  const pref = primary === 'up' ? nodes[0] : nodes[1];
  return {
    schemaVersion: 1,
    updatedAt: iso,
    staleAfterMs: 30_000,
    monitor: { instance: 'm', version: '0', pid: 1, startedAt: iso },
    preferred: { name: pref?.name ?? '', url: pref?.url ?? '', model: 'llama3.2', api: 'ollama' },
    allDown: false,
    nodes,
  };
}

const changesOf = (xs: readonly string[]): number => xs.slice(1).filter((x, i) => x !== xs[i]).length;

/** One simulated hour: changes per hour before and after. */
export function disagreeModel(seed = 22): { before: number; after: number; reads: number } {
  const rnd = mulberry32(seed);
  const HOUR = 3_600_000;
  const beat = 10_000;
  const phase = { mac: rnd() * beat, oracle: rnd() * beat };
  const written = (who: 'mac' | 'oracle', t: number): number => {
    // The last heartbeat at or before t, each beat jittered by up to ±0.5 s.
    const k = Math.floor((t - phase[who]) / beat);
    const jitter = ((Math.sin(k * 12.9898 + (who === 'mac' ? 1 : 2)) * 43758.5453) % 1) * 500;
    const at = phase[who] + k * beat + jitter;
    return at <= t ? at : at - beat;
  };
  const before: string[] = [];
  const after: string[] = [];
  let memory = emptyConsensus();
  let cached: { at: number; mac: PublishedState; oracle: PublishedState } | undefined;
  for (let t = 60_000; t < 60_000 + HOUR; t += 250) {
    if (!cached || t - cached.at >= 2_000) cached = { at: t, mac: doc('up', written('mac', t)), oracle: doc('down', written('oracle', t)) };
    const views = [
      { label: 'mac', view: { source: 'http' as const, state: cached.mac } },
      { label: 'oracle', view: { source: 'http' as const, state: cached.oracle } },
    ];
    before.push(plan(NODES, pickFreshest(views, t), t).preferred.name);
    const r = settle(
      views.map((v) => ({ label: v.label, state: v.view.state })),
      {},
      memory,
      t,
    );
    memory = r.memory;
    after.push(plan(NODES, { source: 'http', state: r.state, ...(r.disagreement ? { disagreement: r.disagreement } : {}) }, t).preferred.name);
  }
  return { before: changesOf(before), after: changesOf(after), reads: before.length };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Two real daemons at defaults that disagree; both rules read them every 250 ms for `seconds`. */
export async function disagreeReal(seconds: number): Promise<{ before: number; after: number; reads: number; seconds: number }> {
  const root = mkdtempSync(join(tmpdir(), 'sentinel-bench-disagree-'));
  const sims = await Promise.all([startSimulator(), startSimulator(), startSimulator()]);
  const [seenByMac, seenByOracle, fallback] = sims as [(typeof sims)[0], (typeof sims)[0], (typeof sims)[0]];
  const procs: DaemonProcess[] = [];
  const token = 'bench-disagree-token';
  try {
    const ports = { mac: await freePort(), oracle: await freePort() };
    const dirs: Record<'mac' | 'oracle', string> = { mac: join(root, 'mac'), oracle: join(root, 'oracle') };
    for (const [name, other, primary] of [
      ['mac', 'oracle', seenByMac.url],
      ['oracle', 'mac', seenByOracle.url],
    ] as const) {
      mkdirSync(dirs[name]);
      writeFileSync(
        join(dirs[name], 'config.yaml'),
        `instance: ${name}
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback.url}", model: llama3.2 }
stateFile: state.json
database: sentinel.db
http: { listen: "127.0.0.1:${ports[name]}", token: "${token}" }
peers:
  monitors:
    - { name: ${other}, url: "http://127.0.0.1:${ports[other]}", token: "${token}" }
`,
      );
      procs.push(spawnDaemon(['run', '--config', join(dirs[name], 'config.yaml')]));
    }
    const healthy = (s: PublishedState) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up';
    await Promise.all([waitForState(join(dirs.mac, 'state.json'), healthy, 60_000), waitForState(join(dirs.oracle, 'state.json'), healthy, 60_000)]);
    await seenByOracle.setFault('cf_tunnel_down');
    await waitForState(join(dirs.oracle, 'state.json'), (s) => s.preferred.name === 'fallback', 60_000);

    const urls = [`http://127.0.0.1:${ports.mac}/state`, `http://127.0.0.1:${ports.oracle}/state`];
    const nodes = [
      { name: 'primary', url: seenByMac.url },
      { name: 'fallback', url: fallback.url },
    ];
    const fetchImpl = (input: string | URL | Request, init?: RequestInit) => fetch(input, init);
    const old = urls.map((url) => ({ label: url, source: httpStateSource({ url, token, ttlMs: 2_000, timeoutMs: 2_000, fetch: fetchImpl, now: Date.now, revalidateStale: {} }) }));
    const app = createSentinelClient({ nodes, stateUrls: urls, token, env: {}, reports: false });
    const before: string[] = [];
    const after: string[] = [];
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const views = await Promise.all(old.map(async (m) => ({ label: m.label, view: await m.source.read() })));
      before.push(plan(nodes, pickFreshest(views, Date.now()), Date.now()).preferred.name);
      after.push((await app.getPreferredEndpoint()).name);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { before: changesOf(before), after: changesOf(after), reads: before.length, seconds };
  } finally {
    await Promise.all(procs.map((p) => p.kill9()));
    await Promise.all(sims.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  }
}
