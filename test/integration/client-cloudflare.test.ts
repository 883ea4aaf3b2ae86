import { join } from 'node:path';
import { AllEndpointsFailedError, fetchWithFallback, type SentinelClientOptions } from '../../src/client';
import { watchReportDir } from '../../src/intake/dropbox';
import type { AcceptedReport } from '../../src/intake/intake';
import { silentLogger } from '../../src/logging';
import { startSimulator, type Simulator } from '../../src/simulator';
import { writeFileAtomic } from '../../src/state/writer';
import { makeState, tempDir } from '../helpers/state';
import { waitFor } from '../helpers/wait';

/*
 * An app's own request that meets one of Cloudflare's protections is named as the monitor names it (the same
 * table, src/core/cloudflare.ts), in the failure report it sends and in the error it raises. The simulator's
 * pages follow Cloudflare's documents (src/simulator/cloudflare.ts): the challenge page's cf-mitigated header
 * (challenge-pages/detect-response), the 1020/1015 pages in HTML and RFC 9457 JSON (changelog 2026-03-11).
 */

const chat = { model: 'llama3.2', messages: [{ role: 'user', content: 'Reply with PONG' }], stream: false };

let primary: Simulator;
let fallback: Simulator;
let tmp: ReturnType<typeof tempDir>;
let stateFile: string;

beforeAll(async () => {
  primary = await startSimulator({ answer: 'PRIMARY', tokenDelayMs: 1 });
  fallback = await startSimulator({ answer: 'FALLBACK', tokenDelayMs: 1 });
});
afterAll(async () => {
  await primary.close();
  await fallback.close();
});
beforeEach(async () => {
  tmp = tempDir();
  stateFile = join(tmp.dir, 'state.json');
  writeFileAtomic(stateFile, JSON.stringify(makeState([{ name: 'primary', url: primary.url, status: 'up' }, { name: 'fallback', url: fallback.url, status: 'up' }])));
  await primary.setFault('none');
  await fallback.setFault('none');
});
afterEach(() => tmp.remove());

const options = (extra: Partial<SentinelClientOptions> = {}): SentinelClientOptions => ({
  stateFile,
  nodes: [
    { name: 'primary', url: primary.url },
    { name: 'fallback', url: fallback.url },
  ],
  env: {},
  reports: false,
  ...extra,
});

test('an app request that meets a challenge reports cloudflare_challenge, and the fallback answers', async () => {
  const reports: AcceptedReport[] = [];
  const watcher = watchReportDir(join(tmp.dir, 'reports'), { nodeNames: ['primary', 'fallback'], logger: silentLogger(), onReport: (r) => reports.push(r), pollMs: 100 });
  try {
    await watcher.ready;
    await primary.setFault('cf_challenge');
    const res = await fetchWithFallback('/api/chat', chat, options({ reports: true }));
    expect(((await res.json()) as { message: { content: string } }).message.content).toBe('FALLBACK');
    await waitFor('a dropbox report', () => reports.length > 0);
    expect(reports[0]).toMatchObject({ node: 'primary', reason: 'cloudflare_challenge', source: 'dropbox' });
    expect(reports[0]?.detail).toMatch(/^HTTP 403: Cloudflare challenged this request, ray [0-9a-f]{16}-AMS$/);
  } finally {
    await watcher.close();
  }
});

test.each([
  ['cf_challenge', 'html', 'application/json', 'cloudflare_challenge', 403, 'Cloudflare challenged this request'],
  ['cf_waf_block', 'negotiate', 'application/json', 'cloudflare_blocked', 403, 'Cloudflare blocked this request'],
  ['cf_waf_block', 'html', 'application/json', 'cloudflare_blocked', 403, 'Cloudflare blocked this request'],
  ['cf_rate_limit', 'negotiate', 'application/json', 'cloudflare_rate_limited', 429, 'Cloudflare rate-limited this request'],
  ['cf_rate_limit', 'negotiate', '*/*', 'cloudflare_rate_limited', 429, 'Cloudflare rate-limited this request'],
] as const)('%s (%s, Accept %s) on every node: the error says %s, not "all endpoints failed"', async (fault, format, accept, reason, status, words) => {
  await primary.setFault(fault, { format });
  await fallback.setFault(fault, { format });
  const err = await fetchWithFallback('/api/chat', chat, options(), { headers: { accept } }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AllEndpointsFailedError);
  expect((err as AllEndpointsFailedError).attempts.map((a) => [a.node, a.reason, a.status])).toEqual([
    ['primary', reason, status],
    ['fallback', reason, status],
  ]);
  const message = (err as Error).message;
  expect(message.startsWith(`${words} (primary): primary (${primary.url}/api/chat): ${reason} - HTTP ${status}: ${words}`)).toBe(true);
  expect(message).not.toMatch(/All LLM endpoints failed/);
});

test('a 403 with no Cloudflare signal on one node and a challenge on the other: the error leads with the challenge', async () => {
  await primary.setFault('forbidden_host');
  await fallback.setFault('cf_challenge');
  const err = (await fetchWithFallback('/api/chat', chat, options()).catch((e: unknown) => e)) as AllEndpointsFailedError;
  expect(err.attempts.map((a) => a.reason)).toEqual(['auth_required', 'cloudflare_challenge']);
  expect(err.message).toMatch(/^Cloudflare challenged this request \(fallback\): primary \(\S+\): auth_required - HTTP 403 \(empty body: Ollama refused the Host header; see --http-host-header\); fallback \(\S+\): cloudflare_challenge - HTTP 403: Cloudflare challenged this request, ray/);
});
