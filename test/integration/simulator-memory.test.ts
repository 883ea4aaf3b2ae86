import { Agent, request } from 'undici';
import { startSimulator, type Simulator } from '../../src/simulator';
import { makeRoom, parseBytes } from '../../src/simulator/residency';

// Memory and eviction in the simulator. Shapes follow the shared reference (ollama-cloudflare.md A.4 /api/ps:
// name, model, size, digest, details, expires_at, size_vram, context_length, always present; A.3 /api/tags size).
const agent = new Agent({ keepAliveTimeout: 10, connections: 8 });
afterAll(() => agent.destroy());

const GB = 1e9;

async function json(base: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await request(`${base}${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent });
  const text = await res.body.text();
  expect(res.statusCode).toBe(200);
  return JSON.parse(text.trim().split('\n').pop() as string) as Record<string, unknown>;
}

const ask = (base: string, model: string) => json(base, '/api/generate', { model, prompt: 'Say PONG', stream: false });
const load = (base: string, model: string) => json(base, '/api/generate', { model, keep_alive: '5m' });
const psModels = async (base: string) => (await json(base, '/api/ps')).models as Array<Record<string, unknown>>;

describe('makeRoom (pure): Ollama evicts idle runners, least recently used first', () => {
  const r = (name: string, size: number, lastUsed: number, refs = 0) => ({ name, size, refs, lastUsed });
  test.each([
    ['unlimited memory never evicts', [r('a', 5, 1)], 5, undefined, { ok: true, evict: [] }],
    ['fits beside', [r('a', 4, 1)], 4, 10, { ok: true, evict: [] }],
    ['least recently used goes first', [r('a', 4, 2), r('b', 4, 1)], 4, 10, { ok: true, evict: ['b'] }],
    ['as many as needed', [r('a', 4, 2), r('b', 4, 1)], 9, 10, { ok: true, evict: ['b', 'a'] }],
    ['a busy runner is waited for, never dropped', [r('a', 4, 1, 1)], 8, 10, { ok: false, wait: true }],
    ['too big for the whole memory: loads alone', [r('a', 4, 1)], 20, 10, { ok: true, evict: ['a'] }],
  ])('%s', (_what, resident, size, capacity, want) => {
    expect(makeRoom(resident, size, capacity)).toEqual(want);
  });

  test('parseBytes', () => {
    expect(parseBytes('8g')).toBe(8e9);
    expect(parseBytes('2.5GB')).toBe(2.5e9);
    expect(parseBytes('800m')).toBe(8e8);
    expect(parseBytes('12345')).toBe(12345);
    expect(parseBytes('lots')).toBeUndefined();
    expect(parseBytes('0')).toBeUndefined();
  });
});

describe('simulator with room for one model', () => {
  let sim: Simulator;
  beforeEach(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen3:8b', 'gemma3:1b'], memoryBytes: 6 * GB, modelSizes: { 'llama3.2': 4 * GB, 'qwen3:8b': 5 * GB, 'gemma3:1b': 1 * GB }, loadMs: 150 });
  });
  afterEach(() => sim.close());

  test('/api/tags shows the configured sizes', async () => {
    const tags = (await json(sim.url, '/api/tags')).models as Array<{ name: string; size: number }>;
    expect(Object.fromEntries(tags.map((t) => [t.name, t.size]))).toEqual({ 'llama3.2:latest': 4 * GB, 'qwen3:8b': 5 * GB, 'gemma3:1b': 1 * GB });
  });

  test('a model that does not fit evicts the resident one and pays the load time; /api/ps shows the truth', async () => {
    const first = await ask(sim.url, 'llama3.2');
    expect(first.load_duration as number).toBeGreaterThanOrEqual(140e6);
    const warm = await ask(sim.url, 'llama3.2');
    expect(warm.load_duration as number).toBeLessThan(100e6);
    const switched = await ask(sim.url, 'qwen3:8b');
    expect(switched.load_duration as number).toBeGreaterThanOrEqual(140e6);
    const ps = await psModels(sim.url);
    expect(ps.map((m) => m.name)).toEqual(['qwen3:8b']);
    expect(ps[0]).toEqual(expect.objectContaining({ size: 5 * GB, size_vram: 5 * GB, context_length: 4096, expires_at: expect.any(String) }));
    expect(sim.modelLoads.map((l) => [l.model, l.evicted])).toEqual([
      ['llama3.2:latest', []],
      ['qwen3:8b', ['llama3.2:latest']],
    ]);
  });

  test('a small model fits beside; the least recently used idle model is evicted first', async () => {
    await load(sim.url, 'llama3.2');
    await load(sim.url, 'gemma3:1b'); // 4 + 1 ≤ 6: both resident
    expect(sim.loaded().sort()).toEqual(['gemma3:1b', 'llama3.2:latest']);
    await ask(sim.url, 'llama3.2'); // gemma is now the least recently used
    await load(sim.url, 'gemma3:1b'); // already resident: no load
    await ask(sim.url, 'llama3.2');
    await load(sim.url, 'qwen3:8b'); // 5 GB needs both gone
    expect(sim.loaded()).toEqual(['qwen3:8b']);
    expect(sim.modelLoads.at(-1)).toEqual(expect.objectContaining({ model: 'qwen3:8b', evicted: ['gemma3:1b', 'llama3.2:latest'] }));
  });
});
