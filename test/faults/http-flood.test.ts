import { readFileSync, writeFileSync } from 'node:fs';
import { getOnce, percentile, type Probe } from '../../src/bench/conn-flood';
import { startFloodWorker, type FloodStats, type FloodWorker } from '../../src/bench/flood-worker';
import type { DaemonProcess } from '../../src/demo/harness';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

/*
 * Issue 11: one address opening thousands of idle or slowloris connections must not stop /state and
 * /healthz answering everyone else. The flood comes from 127.0.0.2 and the measured client from 127.0.0.1
 * (Linux routes all of 127/8 to lo), so the per-address cap is what is under test, not a shared quota.
 * The daemon is the real CLI in its own process, as users run it; the flood runs in a worker thread, so the
 * measured client never waits on the flooder's event loop.
 */
// Kept up like a real attacker's: every socket the server closes is reopened a second later.
const FLOOD = { host: '127.0.0.1', localAddress: '127.0.0.2', idle: 3_000, slowloris: 1_000, dripMs: 500, refillMs: 1_000 };
const GOOD_CLIENT = '127.0.0.1';
const PROBES = 20;

let stack: Stack;
let flood: FloodWorker | undefined;
beforeAll(async () => {
  stack = await startStack('sentinel-flood-', { extraYaml: 'http: { listen: "127.0.0.1:0" }\n' });
});
afterEach(async () => {
  await flood?.close();
  flood = undefined;
  await Promise.all(stack.daemons.splice(0).map((d) => d.kill9()));
});
afterAll(async () => {
  await stack?.close();
});

function setHttp(yaml: string): void {
  const text = readFileSync(stack.config, 'utf8');
  const next = text.replace(/^http: .*$/m, `http: ${yaml}`);
  if (next === text && !text.includes(`http: ${yaml}`)) throw new Error('no http: line in the stack config');
  writeFileSync(stack.config, next);
}

async function start(): Promise<{ daemon: DaemonProcess; base: string; port: number }> {
  const daemon = await stack.startHealthy(20_000);
  const base = await waitFor('the HTTP API to listen', () => /"url":"(http:\/\/127\.0\.0\.1:(\d+))"[^\n]*HTTP API listening/.exec(daemon.output()) ?? undefined, 10_000);
  return { daemon, base: base[1] as string, port: Number(base[2]) };
}

/** Polls the flood worker's counters until `ok` holds. */
async function untilFlood(what: string, ok: (s: FloodStats) => boolean, timeoutMs: number): Promise<FloodStats> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const s = await (flood as FloodWorker).stats();
    if (ok(s)) return s;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}; flood: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measure(base: string, timeoutMs: number): Promise<{ state: Probe[]; healthz: Probe[] }> {
  const state: Probe[] = [];
  const healthz: Probe[] = [];
  for (let i = 0; i < PROBES; i++) {
    state.push(await getOnce(`${base}/state`, { localAddress: GOOD_CLIENT, timeoutMs }));
    if (i % 4 === 0) healthz.push(await getOnce(`${base}/healthz`, { localAddress: GOOD_CLIENT, timeoutMs }));
  }
  return { state, healthz };
}

test('4,000 idle + slowloris connections from one address: /state and /healthz keep answering another client', async () => {
  setHttp('{ listen: "127.0.0.1:0" }');
  const { daemon, base, port } = await start();

  flood = await startFloodWorker({ ...FLOOD, port });
  // The cap (default 64) closes the rest at once; what stays open is at most the cap. The flood is still on
  // while the other client is measured: refused sockets keep coming back.
  const cut = await untilFlood('the flood to be cut to the cap and refilling', (s) => s.open <= 64 && s.refilled > 1_000, 20_000);
  expect(cut.connected).toBeGreaterThan(3_000);
  expect(cut.closedByServer).toBeGreaterThanOrEqual(cut.connected - 64);

  // Generous bound for a loaded 2-core machine: the point is "answers", against "times out" before the cap.
  const { state, healthz } = await measure(base, 5_000);
  const failed = [...state, ...healthz].filter((p) => !p.ok);
  expect(failed).toEqual([]);
  expect(percentile(state.map((p) => p.ms), 99)).toBeLessThan(2_000);

  // Warnings for the flood come once per burst (an address at its cap), not once per refused connection.
  const warnings = daemon.output().match(/connection cap reached for one address/g)?.length ?? 0;
  expect(warnings).toBeGreaterThanOrEqual(1);
  expect(warnings).toBeLessThan((await flood.stats()).closedByServer / 100);
  expect(daemon.output()).toMatch(/"address":"127\.0\.0\.2"/);

  // The slowloris and idle sockets inside the cap are closed by the 5 s header timeout, not held forever.
  await flood.stopRefill();
  await untilFlood('the header timeout to close what the cap let in', (s) => s.open === 0, 20_000);
  expect((await getOnce(`${base}/state`, { localAddress: FLOOD.localAddress, timeoutMs: 5_000 })).status).toBe(200);
}, 120_000);

test('control: with the per-address cap lifted to the global one, the same flood starves /state', async () => {
  // What the server did before the cap: only the global 512, and a long header timeout to hold them.
  setHttp('{ listen: "127.0.0.1:0", maxConnectionsPerAddress: 512, headersTimeout: 60s, requestTimeout: 60s }');
  const { base, port } = await start();

  flood = await startFloodWorker({ ...FLOOD, port, refillMs: undefined });
  await untilFlood('the flood to fill the global connection budget', (s) => s.open <= 512, 15_000);
  const { state } = await measure(base, 1_000);
  // Every one of these fails today without the cap; at least most must, or this control proves nothing.
  expect(state.filter((p) => !p.ok).length).toBeGreaterThanOrEqual(PROBES / 2);
}, 120_000);
