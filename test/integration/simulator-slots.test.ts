/**
 * The simulator's generation slots (`--parallel`), checked against Ollama's semantics as written in
 * ../shared/reference/ollama-cloudflare.md section D (llm/llama_server.go semaphore, server/routes.go durations):
 * FIFO wait inside the server, the wait in total_duration but not in load/prompt_eval/eval durations, no
 * header before the first token, a client that disconnects leaves the queue.
 */
import { Agent, request } from 'undici';
import { startLoad, startSimulator, type Simulator } from '../../src/simulator';
import { waitFor } from '../helpers/wait';

// A fresh agent per test: a socket the last test's simulator closed is never reused.
let agent: Agent;
let sim: Simulator | undefined;
beforeEach(() => {
  agent = new Agent({ keepAliveTimeout: 10, connections: 16 });
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  await agent.destroy();
});

/** What a request that was aborted rejects with (undici: a DOMException named AbortError). */
const aborted = (e: unknown): boolean => e instanceof Error || (e as { name?: string } | undefined)?.name === 'AbortError';

interface Timed {
  headersMs: number;
  final: Record<string, unknown>;
  order: number;
}

let finished = 0;
async function chat(base: string, draftMs?: number, signal?: AbortSignal): Promise<Timed> {
  const t0 = performance.now();
  const res = await request(`${base}/api/chat`, {
    method: 'POST',
    dispatcher: agent,
    signal,
    headers: { 'content-type': 'application/json', ...(draftMs !== undefined ? { 'x-simulator-draft-ms': String(draftMs) } : {}) },
    body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'Reply with PONG' }], stream: true }),
  });
  const headersMs = performance.now() - t0;
  const text = await res.body.text();
  const lines = text.split('\n').filter((l) => l !== '');
  return { headersMs, final: JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>, order: finished++ };
}

const ms = (ns: unknown): number => (typeof ns === 'number' ? ns / 1e6 : 0);

describe('simulator slots (--parallel)', () => {
  it('queues a second generation FIFO behind the first: the wait is in total_duration only, and no header comes before the first token', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    const draft = chat(s.url, 800);
    await waitFor('a draft in the slot', () => s.slots.running === 1);
    const canary = chat(s.url);
    await waitFor('one request queued', () => s.slots.queued === 1);
    const [d, c] = await Promise.all([draft, canary]);
    expect(d.order).toBeLessThan(c.order);
    // The canary waited for the draft (about 800 ms) before any header reached it.
    expect(c.headersMs).toBeGreaterThan(600);
    const total = ms(c.final['total_duration']);
    const work = ms(c.final['load_duration']) + ms(c.final['prompt_eval_duration']) + ms(c.final['eval_duration']);
    expect(total).toBeGreaterThan(600);
    expect(work).toBeLessThan(300);
    expect(total - work).toBeGreaterThan(500);
  });

  it('a client that disconnects while queued leaves the queue, and the next request moves up', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    const draft = chat(s.url, 600);
    await waitFor('a draft in the slot', () => s.slots.running === 1);
    const gone = new AbortController();
    const abandoned = chat(s.url, undefined, gone.signal).catch((e: unknown) => e);
    await waitFor('one request queued', () => s.slots.queued === 1);
    gone.abort();
    await waitFor('the queue empty', () => s.slots.queued === 0);
    expect(aborted(await abandoned)).toBe(true);
    await draft;
    // Nothing was left holding the slot.
    expect(s.slots.running).toBe(0);
    const after = await chat(s.url);
    expect(after.final['done']).toBe(true);
  });

  it('a stalled runner keeps its slot and sends nothing; liveness still answers', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    const load = startLoad({ url: s.url, model: 'llama3.2', draftMs: 60_000 });
    try {
      await waitFor('a draft in the slot', () => s.slots.running === 1);
      s.setRunnerStalled(true);
      const live = await request(`${s.url}/api/version`, { dispatcher: agent });
      expect(live.statusCode).toBe(200);
      await live.body.text();
      const queued = new AbortController();
      const canary = chat(s.url, undefined, queued.signal).catch((e: unknown) => e);
      await waitFor('one request queued', () => s.slots.queued === 1);
      queued.abort();
      expect(aborted(await canary)).toBe(true);
      expect(s.slots.running).toBe(1);
    } finally {
      s.setRunnerStalled(false);
      await load.stop();
    }
  });

  it('the load generator streams back-to-back drafts of the asked length with two apps', async () => {
    const s = (sim = await startSimulator({ parallel: 1, tokenDelayMs: 5 }));
    const load = startLoad({ url: s.url, model: 'llama3.2', draftMs: 300, concurrency: 2 });
    await waitFor('four drafts', () => load.drafts.length >= 4, 10_000);
    const drafts = await load.stop();
    const done = drafts.filter((d) => d.ok);
    expect(done.length).toBeGreaterThanOrEqual(4);
    for (const d of done) expect(ms(d.evalDurationNs)).toBeGreaterThanOrEqual(280);
    // With one slot, one app waits while the other writes: some draft waited about a whole draft.
    expect(Math.max(...done.map((d) => d.firstTokenMs ?? 0))).toBeGreaterThan(200);
  });

  it('refuses a bad --parallel value', async () => {
    await expect(startSimulator({ parallel: -1 })).rejects.toThrow(/parallel must be a whole number/);
  });
});
