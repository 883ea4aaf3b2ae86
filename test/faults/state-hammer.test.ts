import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Agent, request } from 'undici';
import { initialState, type MonitorState } from '../../src/core/decide';
import { buildPublishedState } from '../../src/state/build';
import { parseState } from '../../src/state/validate';
import { logLines, startStateReader, type ReaderReport } from './support';
import { sleep, waitFor } from '../helpers/wait';
import { startStack, type Stack } from '../helpers/stack';

/*
 * Readers must never see a torn or unparseable state document. First in-process: a worker rewrites the file
 * 10,000 times with real documents of very different sizes while another worker reads it in a loop and
 * checks every read is byte-identical to one of the documents written (a control with a plain, non-atomic
 * writeFileSync shows the check does catch tearing). Then the real daemon with a 100 ms heartbeat for
 * ~20 s, read through the file and GET /state at the same time.
 */

jest.setTimeout(120_000);

/** Real state documents, 2 to 40 nodes with error texts of varying length: 1 KB to ~50 KB. */
function documents(count: number): string[] {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 2 + ((i * 7) % 39);
    const nodes = Array.from({ length: n }, (_, k) => ({ name: `node-${k}`, url: `http://10.0.${i % 250}.${k}:11434`, model: 'llama3.2', api: 'ollama' as const, priority: k }));
    const base = initialState(nodes, { wall: Date.UTC(2026, 0, 1) + i * 1000, mono: i });
    const state: MonitorState = {
      ...base,
      preferred: `node-${i % n}`,
      nodes: base.nodes.map((rt, k) => ({
        ...rt,
        status: k % 3 === 0 ? 'down' : 'up',
        lastCheckAt: Date.UTC(2026, 0, 1) + i * 1000 + k,
        lastError: k % 3 === 0 ? { reason: 'cloudflare_tunnel_down', message: `530 from Cloudflare (error 1033) ${'x'.repeat((i * 37 + k * 11) % 300)}`, at: Date.UTC(2026, 0, 1) + i } : null,
      })),
    };
    const doc = buildPublishedState(state, nodes, { instance: `hammer-${i}`, version: '0.1.0', pid: 4242, startedAt: Date.UTC(2026, 0, 1) }, Date.UTC(2026, 0, 1) + i * 1000, 30_000);
    docs.push(`${JSON.stringify(doc, null, 2)}\n`);
  }
  return docs;
}

/*
 * The writer worker: plain JavaScript that loads the BUILT writer (dist/), the code the daemon runs. `atomic`
 * false swaps in a plain writeFileSync to prove the reader's check can fail.
 */
const WRITER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');
const { writeFileAtomic } = require(workerData.writer);
const write = workerData.atomic ? (p, d) => writeFileAtomic(p, d, 0o644) : (p, d) => writeFileSync(p, d);
const t0 = performance.now();
for (let i = 0; i < workerData.count; i++) write(workerData.file, workerData.docs[i % workerData.docs.length]);
parentPort.postMessage({ writes: workerData.count, ms: performance.now() - t0 });
`;

const BUILT_WRITER = join(__dirname, '..', '..', 'dist', 'state', 'writer.js');

async function hammer(dir: string, count: number, atomic: boolean): Promise<{ writes: number; ms: number; reader: ReaderReport }> {
  const docs = documents(64);
  const file = join(dir, 'state.json');
  // The first document is in place before reading starts, so every read has something to find.
  const seed = new Worker(WRITER_SOURCE, { eval: true, workerData: { file, docs, count: 1, atomic: true, writer: BUILT_WRITER } });
  await new Promise((r) => seed.once('exit', r));
  const reader = startStateReader(file, { pauseMs: 0, known: docs });
  const writer = new Worker(WRITER_SOURCE, { eval: true, workerData: { file, docs, count, atomic, writer: BUILT_WRITER } });
  try {
    const done = await new Promise<{ writes: number; ms: number }>((resolve, reject) => {
      writer.once('message', resolve);
      writer.once('error', reject);
    });
    return { ...done, reader: await reader.stop() };
  } finally {
    await writer.terminate();
    await reader.stop().catch(() => undefined);
  }
}

describe('state file hammer (in-process writer, 10,000 rewrites)', () => {
  let dirs: string[] = [];
  const temp = (base: string) => {
    const d = mkdtempSync(join(base, 'sentinel-faults-hammer-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });
  // tmpfs makes 10,000 fsync'd rewrites take well under a second instead of a minute; rename is atomic on
  // every local filesystem alike, and the disk run below covers the fsync path.
  const fast = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

  test(`10,000 atomic rewrites on ${fast === '/dev/shm' ? 'tmpfs' : 'the temp folder'}: 0 torn or unparseable reads`, async () => {
    const r = await hammer(temp(fast), 10_000, true);
    process.stdout.write(`hammer (${fast}): ${r.writes} writes in ${Math.round(r.ms)} ms, ${r.reader.reads} reads, ${r.reader.distinct} distinct documents seen, ${r.reader.torn} torn\n`);
    expect(r.writes).toBe(10_000);
    expect({ torn: r.reader.torn, examples: r.reader.examples, missing: r.reader.missingBeforeFirst + r.reader.missingAfterFirst, errors: r.reader.readErrors }).toEqual({ torn: 0, examples: [], missing: 0, errors: {} });
    // The reader really raced the writer: it saw many different documents, not one. (The writer takes about
    // a second; with another test worker on the second core the reader gets 900-1,200 reads in, so 500.)
    expect(r.reader.reads).toBeGreaterThan(500);
    expect(r.reader.distinct).toBeGreaterThan(32);
  });

  test('1,000 atomic rewrites on the disk temp folder (fsync path): 0 torn reads', async () => {
    const r = await hammer(temp(tmpdir()), 1_000, true);
    process.stdout.write(`hammer (${tmpdir()}): ${r.writes} writes in ${Math.round(r.ms)} ms, ${r.reader.reads} reads, ${r.reader.distinct} distinct, ${r.reader.torn} torn\n`);
    expect({ torn: r.reader.torn, examples: r.reader.examples }).toEqual({ torn: 0, examples: [] });
    expect(r.reader.distinct).toBeGreaterThan(16);
  });

  test('control: a plain writeFileSync in the same race IS caught tearing (the check can fail)', async () => {
    const r = await hammer(temp(fast), 10_000, false);
    process.stdout.write(`control (non-atomic): ${r.reader.reads} reads, ${r.reader.torn} torn\n`);
    expect(r.reader.torn).toBeGreaterThan(0);
  });
});

describe('state file and GET /state against the real daemon (100 ms heartbeat, ~20 s)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  test('0 torn or unparseable reads through the file and over HTTP while the daemon rewrites it', async () => {
    stack = await startStack('sentinel-faults-hammer-daemon-', { state: '{ heartbeat: 100ms, staleAfter: 2s }', extraYaml: 'http: { listen: "127.0.0.1:0" }\n' });
    const daemon = await stack.startHealthy();
    const line = await waitFor('the HTTP API to listen', () => logLines(daemon.output()).find((l) => l.msg === 'HTTP API listening'), 5_000);
    const url = String(line['url']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const reader = startStateReader(stack.stateFile, { pauseMs: 0.2 });
    let flip = 0;
    // Failovers and failbacks, so documents differ in content and length, not only in updatedAt.
    const toggler = setInterval(() => void stack?.primary.setFault(++flip % 2 === 1 ? 'cf_tunnel_down' : 'none'), 1500);
    const agent = new Agent({ keepAliveTimeout: 1000 });
    const http = { reads: 0, bad: [] as string[], distinct: new Set<string>() };
    const until = Date.now() + 20_000;
    try {
      while (Date.now() < until) {
        const res = await request(`${url}/state`, { dispatcher: agent });
        const body = await res.body.text();
        http.reads++;
        const parsed = parseState(body);
        // The ETag is the hash of exactly this body: body and tag come from the same document.
        const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
        if (res.statusCode !== 200 || !parsed.ok || res.headers['etag'] !== etag) {
          if (http.bad.length < 5) http.bad.push(`${res.statusCode} ${parsed.ok ? 'etag mismatch' : parsed.error}`);
          else http.bad.push('…');
        } else http.distinct.add(parsed.state.updatedAt);
        // About a thousand requests a second: a hammer, without starving the daemon of CPU on a 2-core runner.
        await sleep(1);
      }
    } finally {
      clearInterval(toggler);
      await agent.close();
      await reader.stop().catch(() => undefined);
    }
    const file = await reader.stop();
    process.stdout.write(
      `daemon hammer (20 s, heartbeat 100 ms): file ${file.reads} reads, ${file.distinct} distinct documents, ${file.torn} torn; ` +
        `HTTP ${http.reads} reads, ${http.distinct.size} distinct, ${http.bad.length} bad\n`,
    );
    expect(http.bad).toEqual([]);
    expect({ torn: file.torn, examples: file.examples, missingAfterFirst: file.missingAfterFirst, errors: file.readErrors }).toEqual({ torn: 0, examples: [], missingAfterFirst: 0, errors: {} });
    // ~200 rewrites in 20 s: both paths saw most of them.
    expect(file.distinct).toBeGreaterThan(150);
    expect(http.distinct.size).toBeGreaterThan(150);
    expect(await daemon.stop()).toBe(0);
  });
});
