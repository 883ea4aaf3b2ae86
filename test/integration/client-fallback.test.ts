import { join } from 'node:path';
import { Ollama } from 'ollama';
import { AllEndpointsFailedError, createSentinelClient, fetchWithFallback, sentinelFetch, type SentinelClientOptions } from '../../src/client';
import { createMetrics } from '../../src/http/metrics';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server';
import { silentLogger } from '../../src/logging';
import { watchReportDir } from '../../src/intake/dropbox';
import type { AcceptedReport } from '../../src/intake/intake';
import { startSimulator, type Simulator } from '../../src/simulator';
import { writeFileAtomic } from '../../src/state/writer';
import { waitFor } from '../helpers/wait';
import { makeState, tempDir, type NodeSpec } from '../helpers/state';

const chat = (extra: Record<string, unknown> = {}) => ({ model: 'llama3.2', messages: [{ role: 'user', content: 'Reply with PONG' }], ...extra });

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
  await primary.setFault('none');
  await fallback.setFault('none');
});
afterEach(() => tmp.remove());

function publish(primaryStatus: NodeSpec['status'], fallbackStatus: NodeSpec['status'] = 'up'): void {
  writeFileAtomic(stateFile, JSON.stringify(makeState([{ name: 'primary', url: primary.url, status: primaryStatus }, { name: 'fallback', url: fallback.url, status: fallbackStatus }])));
}

function options(extra: Partial<SentinelClientOptions> = {}): SentinelClientOptions {
  return {
    stateFile,
    nodes: [
      { name: 'primary', url: primary.url },
      { name: 'fallback', url: fallback.url },
    ],
    env: {},
    reports: false,
    ...extra,
  };
}

/** Reads an Ollama NDJSON stream and returns the joined content and whether it ended with done:true. */
async function readChatStream(res: Response): Promise<{ text: string; done: boolean; chunks: number }> {
  const body = await res.text();
  const lines = body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message?: { content?: string }; done?: boolean });
  return { text: lines.map((l) => l.message?.content ?? '').join(''), done: lines.at(-1)?.done === true, chunks: lines.length };
}

describe('fetchWithFallback', () => {
  test('primary marked down: straight to the fallback, the primary gets zero generation requests', async () => {
    publish('down');
    const before = primary.requestsTo('/api/chat');
    const res = await fetchWithFallback('/api/chat', chat({ stream: false }), options());
    expect(res.status).toBe(200);
    const json = (await res.json()) as { message: { content: string } };
    expect(json.message.content).toBe('FALLBACK');
    expect(primary.requestsTo('/api/chat') - before).toBe(0);
  });

  test('primary failing while the state says up: one failed attempt, then the fallback, and a report arrives over HTTP', async () => {
    const reports: AcceptedReport[] = [];
    const server: RunningHttpServer = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      nodeNames: ['primary', 'fallback'],
      reportsPerMinute: 30,
      getState: () => ({ json: JSON.stringify(makeState([{ name: 'primary', url: primary.url }, { name: 'fallback', url: fallback.url }])), etag: 'e' }),
      health: () => ({ ok: true, detail: 'ok' }),
      metrics: createMetrics([], 'test', '0.0.0'),
      onReport: (r) => reports.push(r),
    });
    try {
      await primary.setFault('server_error', { scope: 'generation' });
      const client = createSentinelClient(options({ stateFile: undefined, stateUrl: `${server.url}/state`, reports: true }));
      const before = primary.requestsTo('/api/chat');
      const res = await client.fetchWithFallback('/api/chat', chat({ stream: false }));
      expect(((await res.json()) as { message: { content: string } }).message.content).toBe('FALLBACK');
      expect(primary.requestsTo('/api/chat') - before).toBe(1);
      await waitFor('a report', () => reports.length > 0);
      expect(reports[0]).toMatchObject({ node: 'primary', reason: 'server_error', source: 'http' });
      expect(reports[0]?.detail).toMatch(/HTTP 500/);

      // A burst of failures is one signal: the second failure within seconds is not reported again.
      await (await client.fetchWithFallback('/api/chat', chat({ stream: false }))).text();
      await new Promise((r) => setTimeout(r, 100));
      expect(reports).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  test('primary refusing connections: the report lands in the drop folder and the daemon side picks it up', async () => {
    publish('up');
    const reports: AcceptedReport[] = [];
    const watcher = watchReportDir(join(tmp.dir, 'reports'), { nodeNames: ['primary', 'fallback'], logger: silentLogger(), onReport: (r) => reports.push(r), pollMs: 200 });
    try {
      await watcher.ready;
      await primary.setFault('refuse');
      const res = await fetchWithFallback('/api/chat', chat({ stream: false }), options({ reports: true }));
      expect(res.ok).toBe(true);
      await res.text();
      await waitFor('a dropbox report', () => reports.length > 0);
      expect(reports[0]).toMatchObject({ node: 'primary', reason: 'refused', source: 'dropbox' });
    } finally {
      await watcher.close();
    }
  });

  test('a hung primary costs one timeout, then the fallback answers', async () => {
    publish('up');
    await primary.setFault('hang');
    const started = Date.now();
    const res = await fetchWithFallback('/api/chat', chat({ stream: false }), options({ timeoutMs: 300 }));
    expect(((await res.json()) as { message: { content: string } }).message.content).toBe('FALLBACK');
    expect(Date.now() - started).toBeLessThan(300 + 3_000);
  });

  test('the timeout bounds time to headers only: a stream longer than it is not cut', async () => {
    publish('up');
    primary.setAnswer(Array.from({ length: 300 }, (_, i) => `w${i}`).join(' '));
    try {
      const res = await fetchWithFallback('/api/chat', chat(), options({ timeoutMs: 50 }));
      const started = Date.now();
      const s = await readChatStream(res);
      expect(s.done).toBe(true);
      expect(s.text).toContain('w299');
      // The stream really outlived the per-attempt timeout.
      expect(Date.now() - started).toBeGreaterThan(50);
    } finally {
      primary.setAnswer('PRIMARY');
    }
  });

  test.each([
    ['cf_tunnel_down', 'cloudflare_tunnel_down', 530],
    ['cf_origin_unreachable', 'cloudflare_origin_unreachable', 502],
    ['access_redirect', 'auth_required', 302],
    ['access_401', 'auth_required', 401],
    ['forbidden_host', 'auth_required', 403],
    ['busy', 'overloaded', 503],
  ] as const)('%s on every node: AllEndpointsFailedError lists both attempts (%s)', async (fault, reason, status) => {
    publish('up');
    await primary.setFault(fault);
    await fallback.setFault(fault);
    const err = await fetchWithFallback('/api/chat', chat({ stream: false }), options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllEndpointsFailedError);
    const attempts = (err as AllEndpointsFailedError).attempts;
    expect(attempts.map((a) => [a.node, a.reason, a.status])).toEqual([
      ['primary', reason, status],
      ['fallback', reason, status],
    ]);
    expect((err as Error).message).toMatch(/^All LLM endpoints failed: primary/);
  });

  test('a request error (unknown model, 404) is returned as is, not retried elsewhere', async () => {
    publish('up');
    const before = fallback.requestsTo('/api/chat');
    const res = await fetchWithFallback('/api/chat', { ...chat({ stream: false }), model: 'llama9' }, options());
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "model 'llama9' not found" });
    expect(fallback.requestsTo('/api/chat') - before).toBe(0);
  });

  test('the caller aborting stops everything: no second node, the abort reason is thrown', async () => {
    publish('up');
    await primary.setFault('hang');
    const before = fallback.requestsTo('/api/chat');
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const err = await fetchWithFallback('/api/chat', chat({ stream: false }), options({ timeoutMs: 5_000 }), { signal: ctl.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(fallback.requestsTo('/api/chat') - before).toBe(0);
  });

  test('per-node headers (Cloudflare Access service token) and a body per endpoint', async () => {
    publish('down');
    const client = createSentinelClient(
      options({
        nodes: [
          { name: 'primary', url: primary.url, model: 'big' },
          { name: 'fallback', url: fallback.url, model: 'llama3.2', headers: { 'CF-Access-Client-Id': 'id.access', 'CF-Access-Client-Secret': 'shh' } },
        ],
      }),
    );
    const res = await client.fetchWithFallback('/api/chat', (ep: { model: string }) => ({ ...chat({ stream: false }), model: ep.model }), {
      headers: { 'CF-Access-Client-Id': 'generic', 'x-app': 'demo' },
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(fallback.lastRequestHeaders()?.['cf-access-client-id']).toBe('id.access');
    expect(fallback.lastRequestHeaders()?.['x-app']).toBe('demo');
    expect(fallback.lastRequestHeaders()?.['content-type']).toBe('application/json');
  });
});

describe('sentinelFetch for SDKs', () => {
  test('the ollama npm client chats through it, on the node the monitor prefers', async () => {
    publish('down');
    const before = primary.requestsTo('/api/chat');
    const ollama = new Ollama({ host: 'http://any-host.invalid:1', fetch: sentinelFetch(options()) });
    const r = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.message.content).toBe('FALLBACK');

    const stream = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const part of stream) text += part.message.content;
    expect(text).toBe('FALLBACK');
    expect(primary.requestsTo('/api/chat') - before).toBe(0);
  });

  test('an OpenAI-style call (baseURL .../v1) has its origin rewritten and falls back on failure', async () => {
    publish('up');
    await primary.setFault('cf_tunnel_down');
    const u = new URL(fallback.url);
    // Credentials in a node URL become that node's Basic header and beat the SDK's placeholder key.
    const f = sentinelFetch(options({ nodes: [{ name: 'primary', url: primary.url }, { name: 'fallback', url: `http://app:s3cret@${u.host}` }] }));
    const res = await f('https://api.example.invalid/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ollama' },
      body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    expect(json.choices[0]?.message.content).toBe('FALLBACK');
    expect(fallback.lastRequestHeaders()?.authorization).toBe(`Basic ${Buffer.from('app:s3cret').toString('base64')}`);
  });

  test('a Request object with a streamed body is replayable on the second node', async () => {
    publish('up');
    await primary.setFault('server_error');
    const body = new Blob([JSON.stringify(chat({ stream: false }))]).stream();
    const req = new Request('http://placeholder/api/chat', { method: 'POST', body, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    const res = await sentinelFetch(options())(req);
    expect(((await res.json()) as { message: { content: string } }).message.content).toBe('FALLBACK');
  });
});
