import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { createSentinelClient, getPreferredEndpoint, type FetchLike } from '../../src/client';
import { createMetrics } from '../../src/http/metrics';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server';
import { silentLogger } from '../../src/logging';
import type { PublishedState } from '../../src/state/types';
import { parseState } from '../../src/state/validate';
import { writeFileAtomic } from '../../src/state/writer';
import { Secret } from '../../src/util/secret';
import { makeState, tempDir } from '../helpers/state';
import { waitFor } from '../helpers/wait';

const A = 'http://10.9.0.1:11434';
const B = 'http://10.9.0.2:11434';
const C = 'http://10.9.0.3:11434';
const configured = [
  { name: 'primary', url: A },
  { name: 'fallback', url: B },
];

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.remove());

describe('state file source', () => {
  test('a file rewritten thousands of times by writeFileAtomic is never read torn and never throws', async () => {
    const file = join(tmp.dir, 'state.json');
    // Two documents of different lengths and choices: a torn read would be invalid JSON or a mixed document.
    const docA = JSON.stringify(makeState([{ name: 'primary', url: A }, { name: 'fallback', url: B }], { preferred: 'primary' }));
    const docB = JSON.stringify(
      makeState([{ name: 'primary', url: A, status: 'down' }, { name: 'fallback', url: B }], { preferred: 'fallback' }),
      null,
      2,
    );
    writeFileAtomic(file, docA);
    // The writer runs the real writeFileAtomic on another thread, so renames land in the middle of reads.
    const code = ts.transpileModule(readFileSync(resolve(__dirname, '../../src/state/writer.ts'), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const mod = { exports: {} };
       new Function('require', 'module', 'exports', workerData.code)(require, mod, mod.exports);
       for (let i = 0; i < workerData.n; i++) mod.exports.writeFileAtomic(workerData.file, i % 2 ? workerData.b : workerData.a);
       parentPort.postMessage('done');`,
      { eval: true, workerData: { code, n: 2000, file, a: docA, b: docB } },
    );
    let writerDone = false;
    const finished = new Promise<void>((res, rej) => {
      worker.once('message', () => {
        writerDone = true;
        res();
      });
      worker.once('error', rej);
    });

    const client = createSentinelClient({ stateFile: file, nodes: configured, env: {}, reports: false });
    const seen = new Set<string>();
    let reads = 0;
    try {
      while (!writerDone) {
        const p = await client.getPreferredEndpoint();
        reads++;
        if (p.stale || p.reason) throw new Error(`read ${reads} was not a clean document: ${p.reason}`);
        seen.add(p.name);
        // A cached read resolves without I/O (microtasks only): give the worker's message a turn.
        if (reads % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      await finished;
      await worker.terminate();
    }
    expect(reads).toBeGreaterThan(50);
    // Both documents were observed, so the reads really raced the writes.
    expect([...seen].sort()).toEqual(['fallback', 'primary']);
    // Each write fsyncs twice; on a busy disk 2000 of them take a while.
  }, 90_000);

  test('fresh state: the monitor\'s preferred node first, nodes it sees down last', async () => {
    const file = join(tmp.dir, 'state.json');
    writeFileAtomic(
      file,
      JSON.stringify(makeState([{ name: 'a', url: A, status: 'down' }, { name: 'b', url: B, status: 'down' }, { name: 'c', url: C }], { preferred: 'c' })),
    );
    const client = createSentinelClient({ stateFile: file, nodes: [{ name: 'a', url: A }], env: {}, reports: false });
    expect(await client.getPreferredEndpoint()).toEqual({ name: 'c', url: C, model: 'llama3.2', stale: false, allDown: false, source: 'file' });
    expect((await client.endpoints()).map((e) => [e.name, e.status])).toEqual([
      ['c', 'up'],
      ['a', 'down'],
      ['b', 'down'],
    ]);
  });

  test('stale state: stale:true, configured order, and the reason says why', async () => {
    const file = join(tmp.dir, 'state.json');
    const t0 = Date.UTC(2026, 0, 1);
    const doc = makeState([{ name: 'primary', url: A, status: 'down' }, { name: 'fallback', url: B }], { preferred: 'fallback', updatedAt: t0, staleAfterMs: 30_000 });
    writeFileAtomic(file, JSON.stringify(doc));
    const now = () => t0 + 60_000;
    const client = createSentinelClient({ stateFile: file, nodes: configured, env: {}, now, reports: false });
    const p = await client.getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', url: A, stale: true, allDown: false, source: 'config' });
    expect(p.reason).toMatch(/stale: updated 60s ago/);
    expect((await client.endpoints()).map((e) => e.name)).toEqual(['primary', 'fallback']);

    // The app may judge staleness itself.
    const lenient = createSentinelClient({ stateFile: file, nodes: configured, env: {}, now, staleAfterMs: 120_000, reports: false });
    expect(await lenient.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false, source: 'file' });
  });

  test('missing, unreadable or invalid file: configured order, a reason, no throw', async () => {
    const file = join(tmp.dir, 'nope', 'state.json');
    const client = createSentinelClient({ stateFile: file, nodes: configured, env: {}, reports: false });
    const missing = await client.getPreferredEndpoint();
    expect(missing).toMatchObject({ name: 'primary', url: A, stale: true, source: 'config' });
    expect(missing.reason).toMatch(/ENOENT/);

    const bad = makeState([{ name: 'primary', url: A }]) as unknown as { nodes: Array<Record<string, unknown>> };
    (bad.nodes[0] as Record<string, unknown>).status = 'sideways';
    writeFileAtomic(file, JSON.stringify(bad));
    const invalid = await client.getPreferredEndpoint();
    expect(invalid).toMatchObject({ name: 'primary', stale: true });
    expect(invalid.reason).toContain('invalid state: nodes[0].status: expected one of up|degraded|down|unknown');

    // The file coming back to life is seen on the next call (new inode → reread).
    writeFileAtomic(file, JSON.stringify(makeState([{ name: 'primary', url: A, status: 'down' }, { name: 'fallback', url: B }])));
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false });
  });

  test('configured names are matched to the monitor\'s by URL; reports will use the monitor\'s names', async () => {
    const file = join(tmp.dir, 'state.json');
    writeFileAtomic(file, JSON.stringify(makeState([{ name: 'mac-mini', url: `${A}/` }, { name: 'oracle', url: B }], { preferred: 'oracle' })));
    // Defaults from the environment, as the article's app already has them.
    const env = { OLLAMA_PRIMARY_URL: A, OLLAMA_FALLBACK_URL: B, LLM_SENTINEL_STATE_FILE: file };
    const options = { env, reports: false };
    const p = await getPreferredEndpoint(options);
    expect(p).toMatchObject({ name: 'oracle', url: B, stale: false });
    const client = createSentinelClient(options);
    expect((await client.endpoints()).map((e) => `${e.name}=${e.url}`)).toEqual([`oracle=${B}`, `mac-mini=${A}`]);
  });

  test('no nodes at all is a programming error caught at construction', () => {
    expect(() => createSentinelClient({ env: {} })).toThrow(/no nodes configured/);
    expect(() => createSentinelClient({ env: {}, nodes: [{ name: 'x', url: 'ftp://x' }] })).toThrow(/nodes\[0\]\.url/);
  });
});

describe('parseState against hostile input', () => {
  const good = (): Record<string, unknown> => makeState([{ name: 'a', url: A }]) as unknown as Record<string, unknown>;

  test.each<[string, () => string, RegExp]>([
    ['a huge document', () => JSON.stringify({ ...good(), pad: 'x'.repeat(2 * 1024 * 1024) }), /larger than/],
    ['deep nesting', () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`, /\(top level\): expected an object, got an array/],
    ['deep nesting in an unknown field', () => JSON.stringify({ ...good(), extra: 0 }).replace('0}', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`), /^$/],
    ['a string', () => '"state"', /expected an object, got string/],
    ['schemaVersion only via __proto__', () => JSON.stringify(good()).replace('"schemaVersion":1', '"__proto__":{"schemaVersion":1}'), /schemaVersion: expected 1/],
    ['a newer schemaVersion', () => JSON.stringify({ ...good(), schemaVersion: 2 }), /unsupported schemaVersion 2/],
    ['a string schemaVersion', () => JSON.stringify({ ...good(), schemaVersion: '1' }), /unsupported schemaVersion "1"/],
    ['nodes not an array', () => JSON.stringify({ ...good(), nodes: {} }), /nodes: expected an array, got an object/],
    ['no nodes', () => JSON.stringify({ ...good(), nodes: [] }), /nodes: expected at least one node/],
    ['a node of the wrong type', () => JSON.stringify({ ...good(), nodes: [7] }), /nodes\[0\]: expected an object, got number/],
    ['a bad priority', () => JSON.stringify({ ...good(), nodes: [{ ...(good().nodes as object[])[0], priority: -1 }] }), /nodes\[0\]\.priority: expected an integer >= 0/],
    ['a non-http url', () => JSON.stringify({ ...good(), preferred: { name: 'a', url: 'file:///etc/passwd', model: 'm', api: 'ollama' } }), /preferred\.url: expected an http/],
    ['a bad date', () => JSON.stringify({ ...good(), updatedAt: 'yesterday' }), /updatedAt: expected an ISO date/],
    ['allDown missing', () => JSON.stringify({ ...good(), allDown: undefined }), /allDown: expected a boolean, got nothing \(missing\)/],
    ['staleAfterMs a string', () => JSON.stringify({ ...good(), staleAfterMs: '30s' }), /staleAfterMs: expected an integer >= 1, got string/],
  ])('%s', (_name, text, error) => {
    const r = parseState(text());
    if (error.source === '^$') {
      expect(r.ok).toBe(true);
      return;
    }
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  test('__proto__ keys and unknown fields do not reach the caller', () => {
    const text = JSON.stringify(good())
      .replace('"schemaVersion":1', '"schemaVersion":1,"__proto__":{"polluted":true},"future":{"x":1}')
      .replace('"name":"a","url"', '"name":"a","__proto__":{"polluted":true},"url"');
    const r = parseState(text);
    if (!r.ok) throw new Error(r.error);
    const state = r.state as PublishedState & Record<string, unknown>;
    expect(Object.getPrototypeOf(state)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(state.nodes[0])).toBe(Object.prototype);
    expect((state as { polluted?: unknown }).polluted).toBeUndefined();
    expect(state.future).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('state over HTTP', () => {
  let server: RunningHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(doc: () => { json: string; etag: string } | undefined, token?: string): Promise<RunningHttpServer> {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      token: token ? new Secret(token) : undefined,
      logger: silentLogger(),
      nodeNames: ['primary', 'fallback'],
      reportsPerMinute: 30,
      getState: doc,
      health: () => ({ ok: true, detail: 'ok' }),
      metrics: createMetrics([], 'test', '0.0.0'),
      onReport: () => undefined,
    });
    return server;
  }

  /** Real fetch, with each status recorded and the request headers kept for inspection. */
  function recordingFetch(): { fetch: FetchLike; statuses: number[]; sentEtags: Array<string | null> } {
    const statuses: number[] = [];
    const sentEtags: Array<string | null> = [];
    return {
      statuses,
      sentEtags,
      fetch: async (input, init) => {
        sentEtags.push(new Headers(init?.headers).get('if-none-match'));
        const res = await fetch(input, init);
        statuses.push(res.status);
        return res;
      },
    };
  }

  test('cached for ttlMs, then revalidated in the background with If-None-Match; 304 keeps the cache; a change is seen', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    let t = t0;
    let current = { json: JSON.stringify(makeState([{ name: 'primary', url: A }, { name: 'fallback', url: B }], { updatedAt: t0 })), etag: 'v1' };
    const s = await serve(() => current);
    const rec = recordingFetch();
    const client = createSentinelClient({ stateUrl: `${s.url}/state`, nodes: configured, env: {}, ttlMs: 2_000, now: () => t, fetch: rec.fetch, reports: false });

    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false, source: 'http' });
    t += 1_000;
    await client.getPreferredEndpoint();
    expect(rec.statuses).toEqual([200]);

    t += 1_500;
    // Past the TTL the cached document answers at once and the revalidation runs behind it.
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false });
    await waitFor('the background revalidation', () => rec.statuses.length === 2, 5_000);
    expect(rec.statuses).toEqual([200, 304]);
    expect(rec.sentEtags).toEqual([null, '"v1"']);

    current = { json: JSON.stringify(makeState([{ name: 'primary', url: A, status: 'down' }, { name: 'fallback', url: B }], { updatedAt: t })), etag: 'v2' };
    t += 2_000;
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'primary', stale: false });
    await waitFor('the background refresh', () => rec.statuses.length === 3, 5_000);
    expect(rec.statuses).toEqual([200, 304, 200]);
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false });
  });

  test('monitor gone: the last document is used until it is stale, then configured order', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    let t = t0;
    const doc = { json: JSON.stringify(makeState([{ name: 'primary', url: A, status: 'down' }, { name: 'fallback', url: B }], { updatedAt: t0, staleAfterMs: 30_000 })), etag: 'x' };
    const s = await serve(() => doc);
    const client = createSentinelClient({ stateUrl: `${s.url}/state`, nodes: configured, env: {}, ttlMs: 1_000, now: () => t, reports: false });
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false });
    await s.close();
    server = undefined;

    t += 5_000;
    // The refresh fails behind the scenes; reads go on with the last document and then say why.
    expect(await client.getPreferredEndpoint()).toMatchObject({ name: 'fallback', stale: false });
    let blip = await client.getPreferredEndpoint();
    await waitFor('the failed refresh', () => {
      void client.getPreferredEndpoint().then((p) => (blip = p));
      return blip.reason !== undefined;
    }, 5_000);
    expect(blip).toMatchObject({ name: 'fallback', stale: false });
    expect(blip.reason).toMatch(/last refresh failed: state URL unreachable \(ECONNREFUSED\)/);

    t += 30_000;
    const gone = await client.getPreferredEndpoint();
    expect(gone).toMatchObject({ name: 'primary', stale: true, source: 'config' });
  });

  test('no state yet (503) and a wrong token (401) fall back to configured order with the reason', async () => {
    const s = await serve(() => undefined, 'right-token');
    const wrong = createSentinelClient({ stateUrl: `${s.url}/state`, token: 'wrong-token', nodes: configured, env: {}, reports: false });
    const p = await wrong.getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', stale: true });
    expect(p.reason).toMatch(/HTTP 401 \(token missing or wrong\)/);
    const right = createSentinelClient({ stateUrl: `${s.url}/state`, token: 'right-token', nodes: configured, env: {}, reports: false });
    expect((await right.getPreferredEndpoint()).reason).toMatch(/HTTP 503/);
  });

  test('a state file written by hand with junk is reported, not thrown', async () => {
    const file = join(tmp.dir, 'state.json');
    writeFileSync(file, 'not json at all');
    const p = await createSentinelClient({ stateFile: file, nodes: configured, env: {}, reports: false }).getPreferredEndpoint();
    expect(p).toMatchObject({ name: 'primary', stale: true });
    expect(p.reason).toMatch(/state is not JSON/);
  });
});

describe('the client stays light', () => {
  test('src/client imports only node builtins, itself, the state contract and the reason table (no zod, pino, undici)', () => {
    const root = resolve(__dirname, '../..');
    const allowed = new Set(['src/state/types.ts', 'src/state/validate.ts', 'src/core/reasons.ts', 'src/core/cloudflare.ts', 'src/core/status.ts']);
    const seen = new Set<string>();
    const visit = (file: string): void => {
      const rel = relative(root, file);
      if (seen.has(rel)) return;
      seen.add(rel);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|require\('([^']+)'\)/gm)) {
        const spec = (m[1] ?? m[2]) as string;
        if (spec.startsWith('node:')) continue;
        expect([rel, spec.startsWith('.') ? 'relative' : spec]).toEqual([rel, 'relative']);
        const target = relative(root, resolve(dirname(file), `${spec}.ts`));
        const index = relative(root, resolve(dirname(file), spec, 'index.ts'));
        const next = [target, index].find((t) => t.startsWith('src/client/') || allowed.has(t));
        expect([rel, spec, next !== undefined]).toEqual([rel, spec, true]);
        visit(resolve(root, next as string));
      }
    };
    visit(resolve(root, 'src/client/index.ts'));
    expect(seen.size).toBeGreaterThan(4);
    expect([...seen].every((f) => f.startsWith('src/client/') || allowed.has(f))).toBe(true);
  });
});
