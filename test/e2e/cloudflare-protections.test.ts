import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSentinelClient } from '../../src/client';
import { REASON_INFO } from '../../src/core/reasons';
import { cliPath, spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(60_000);

/*
 * Cloudflare's protections seen through the real CLI and the real daemon. The simulator's pages follow
 * Cloudflare's documents (src/simulator/cloudflare.ts says which): a Managed Challenge (403, cf-mitigated:
 * challenge), a WAF block (403, error 1020) and a rate limiting rule (429, error 1015, Retry-After: 30).
 */

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { env: { PATH: process.env.PATH, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

interface CheckedNode {
  name: string;
  status: string;
  reason: string;
  hint: string | null;
  liveness: { reason: string; httpStatus: number | null; detail: string | null };
  canary: unknown;
}

describe("Cloudflare's protections (real CLI, real daemon)", () => {
  let nodes: TwoNodes;
  let primary: Simulator;
  let fallback: Simulator;
  let dir: string;
  let daemon: DaemonProcess | undefined;
  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-cf-');
    ({ dir, primary, fallback } = nodes);
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await nodes.close();
  });

  test('check --json names the challenge, the WAF block and the rate limit, with their hints, and sends no canary into them', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'probes: { liveness: { timeout: 1s }, canary: { timeout: 2s } }\n');
    const env = { OLLAMA_PRIMARY_URL: primary.url, OLLAMA_FALLBACK_URL: fallback.url, OLLAMA_MODEL: 'llama3.2', STATE_DIRECTORY: dir };
    for (const [fault, reason, status, detail] of [
      ['cf_challenge', 'cloudflare_challenge', 403, /a challenge page \(cf-mitigated: challenge\)/],
      ['cf_waf_block', 'cloudflare_blocked', 403, /\(error 1020: blocked by a firewall rule\)/],
      ['cf_rate_limit', 'cloudflare_rate_limited', 429, /\(error 1015: rate limited\).*retry after 30 s/],
      // Bad input: Ollama's own 403 (no Cloudflare signal) keeps today's reason and hint.
      ['forbidden_host', 'auth_required', 403, /Host header/],
    ] as const) {
      await primary.setFault(fault);
      const before = primary.requestCount;
      const r = await cli(['check', '--json', '--config', config], env);
      expect(r.code).toBe(0);
      const [p, f] = JSON.parse(r.out) as CheckedNode[];
      expect({ fault, name: p?.name, status: p?.status, reason: p?.reason, hint: p?.hint, httpStatus: p?.liveness.httpStatus }).toEqual({
        fault,
        name: 'primary',
        status: 'down',
        reason,
        hint: REASON_INFO[reason].hint,
        httpStatus: status,
      });
      expect(p?.liveness.detail).toMatch(detail);
      expect(f).toMatchObject({ name: 'fallback', status: 'up' });
      if (reason !== 'auth_required') {
        // Caught first: one liveness request met Cloudflare, and no canary went after it.
        expect(p?.canary).toBeNull();
        expect(primary.requestCount - before).toBe(1);
        expect(p?.hint).toMatch(/Security Events log/);
      } else {
        expect(p?.hint).toBe('send the Access service token in the node headers, or fix the Host header');
      }
    }
  });

  test('init reports a challenge with its hint (not the Access advice) and writes nothing without --yes', async () => {
    await primary.setFault('cf_challenge');
    const out = join(dir, 'init.yaml');
    // A loopback witness: had init written the config, nothing in it reaches a public address.
    const r = await cli(['init', '--primary', primary.url, '--fallback', fallback.url, '--witness', `tcp://127.0.0.1:${new URL(fallback.url).port}`, '--out', out], { STATE_DIRECTORY: dir });
    expect(r.code).not.toBe(0);
    expect(r.out + r.err).toMatch(/NOT WORKING \(cloudflare_challenge\): 403 from Cloudflare on \/api\/version: a challenge page/);
    expect(r.out + r.err).toContain(`${REASON_INFO.cloudflare_challenge.hint}.`);
    expect(r.out + r.err).not.toMatch(/Create a service token/);
    expect(r.err).toMatch(/primary does not work \(cloudflare_challenge\); nothing written/);
    expect(existsSync(out)).toBe(false);
  });

  test('a rate limit is waited out: no fast re-checks, and neither client reports nor the cadence probe before Retry-After', async () => {
    const stateFile = join(dir, 'state.json');
    const config = writeFastConfig(dir, primary.url, fallback.url);
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 15_000);
    await primary.setFault('cf_rate_limit');
    const limited = await waitForState(stateFile, (s) => s.nodes.find((n) => n.name === 'primary')?.lastError?.reason === 'cloudflare_rate_limited', 10_000, 20);
    expect(limited.nodes.find((n) => n.name === 'primary')?.lastError?.message).toMatch(/error 1015: rate limited.*retry after 30 s/);
    const seen = primary.requestCount;
    // Apps meet the same limit and report it; each report would re-probe a node at once, were it not held.
    const client = createSentinelClient({
      stateFile,
      reportDir: join(dir, 'reports'),
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
    });
    for (let i = 0; i < 6; i++) {
      await client.report({ node: 'primary', reason: 'cloudflare_rate_limited' });
      await new Promise((r) => setTimeout(r, 500));
    }
    // Liveness every 500 ms and fast re-checks every 200 ms would have sent a dozen requests in these 3 s.
    // One in flight when the limit was published may still arrive; nothing after it.
    expect(primary.requestCount - seen).toBeLessThanOrEqual(1);
    expect(daemon.output()).toMatch(/client reported a failure; re-probing now/);
    const after = await waitForState(stateFile, () => true, 1000);
    expect(statusOf(after, 'fallback')).toBe('up');
  });
});
