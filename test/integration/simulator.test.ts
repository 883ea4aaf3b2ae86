import { Ollama } from 'ollama';
import { Agent, request } from 'undici';
import { FAULTS, startSimulator, startSimulatorControl, type Simulator } from '../../src/simulator';

// One client agent for the file; each test destroys nothing it did not open, and afterAll closes the agent.
const agent = new Agent({ keepAliveTimeout: 10, connections: 16 });
afterAll(() => agent.destroy());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
  text: string;
}

async function call(
  base: string,
  path: string,
  init: { method?: string; json?: unknown; body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  const res = await request(`${base}${path}`, {
    method: (init.method ?? (body !== undefined ? 'POST' : 'GET')) as 'GET',
    body,
    headers: init.headers,
    signal: init.signal,
    dispatcher: agent,
  });
  const raw = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, raw, text: raw.toString('utf8') };
}

function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function sseEvents(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => {
      expect(e.startsWith('data: ')).toBe(true);
      return e.slice(6);
    });
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    // Node errors carry a string code (maybe on `cause`); DOMExceptions (AbortError, TimeoutError) a name.
    const e = err as { code?: unknown; name?: string; cause?: { code?: unknown } };
    const code = [e.cause?.code, e.code].find((c) => typeof c === 'string');
    return (code as string | undefined) ?? e.name ?? 'unknown';
  }
  throw new Error('expected the request to fail');
}

const chatBody = (model: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model,
  messages: [{ role: 'user', content: 'Reply with PONG' }],
  ...extra,
});

describe('simulator routes', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen3:8b'], tokenDelayMs: 2 });
  });
  afterAll(() => sim.close());
  afterEach(() => sim.setAnswer('PONG'));

  test('GET and HEAD / answer "Ollama is running" as text', async () => {
    const get = await call(sim.url, '/');
    expect(get).toMatchObject({ status: 200, text: 'Ollama is running' });
    expect(get.headers['content-type']).toBe('text/plain; charset=utf-8');
    const head = await call(sim.url, '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.raw.length).toBe(0);
    expect(head.headers['content-length']).toBe('17');
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('/api/version, /api/tags and /v1/models have Ollama shapes', async () => {
    expect(JSON.parse((await call(sim.url, '/api/version')).text)).toEqual({ version: '0.12.6' });
    const tags = JSON.parse((await call(sim.url, '/api/tags')).text) as { models: Record<string, unknown>[] };
    expect(tags.models.map((m) => m['name'])).toEqual(['llama3.2:latest', 'qwen3:8b']);
    const first = tags.models[0] as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['name', 'model', 'modified_at', 'size', 'digest', 'details']);
    expect(first['digest']).toMatch(/^[0-9a-f]{64}$/);
    expect(first['details']).toMatchObject({ parent_model: '', format: 'gguf', quantization_level: 'Q4_K_M' });
    const v1 = JSON.parse((await call(sim.url, '/v1/models')).text) as { object: string; data: Record<string, unknown>[] };
    expect(v1.object).toBe('list');
    expect(v1.data[0]).toEqual({ id: 'llama3.2:latest', object: 'model', created: expect.any(Number), owned_by: 'library' });
    expect((await call(sim.url, '/v1/models/qwen3:8b')).status).toBe(200);
  });

  test('empty installs: /api/tags lists [] but /v1/models says null', async () => {
    const empty = await startSimulator({ models: [] });
    try {
      expect(JSON.parse((await call(empty.url, '/api/tags')).text)).toEqual({ models: [] });
      expect(JSON.parse((await call(empty.url, '/v1/models')).text)).toEqual({ object: 'list', data: null });
    } finally {
      await empty.close();
    }
  });

  test('/api/show answers details and capabilities, 404 for unknown models', async () => {
    const show = await call(sim.url, '/api/show', { json: { model: 'qwen3:8b' } });
    const body = JSON.parse(show.text) as Record<string, unknown>;
    expect(body['capabilities']).toEqual(['completion', 'thinking']);
    expect(body['model_info']).toHaveProperty(['general.architecture']);
    const missing = await call(sim.url, '/api/show', { json: { model: 'llama9' } });
    expect(missing.status).toBe(404);
    expect(missing.text).toBe(`{"error":"model 'llama9' not found"}`);
    expect((await call(sim.url, '/api/show', { body: '' , method: 'POST' })).text).toBe('{"error":"missing request body"}');
  });

  test('/api/generate streams NDJSON with metrics only on the final chunk', async () => {
    const res = await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'ping' } });
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['content-length']).toBeUndefined();
    const chunks = lines(res.text);
    const last = chunks[chunks.length - 1] as Record<string, unknown>;
    const tokens = chunks.slice(0, -1);
    expect(tokens.length).toBeGreaterThan(1);
    for (const c of tokens) expect(Object.keys(c)).toEqual(['model', 'created_at', 'response', 'done']);
    expect(tokens.map((c) => c['response']).join('')).toBe('PONG');
    expect(Object.keys(last)).toEqual([
      'model', 'created_at', 'response', 'done', 'done_reason', 'context',
      'total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration',
    ]);
    expect(last).toMatchObject({ model: 'llama3.2', response: '', done: true, done_reason: 'stop', eval_count: tokens.length });
    expect(last['created_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // 2 ms between tokens: eval_duration (ns) reflects that pacing (half of it, to leave room for timer slop).
    expect(last['eval_duration'] as number).toBeGreaterThanOrEqual(tokens.length * 1e6);
    expect(last['total_duration'] as number).toBeGreaterThanOrEqual(last['eval_duration'] as number);
  });

  test('stream:false gives one JSON object; num_predict cuts with done_reason "length"', async () => {
    const whole = JSON.parse((await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x', stream: false } })).text);
    expect(whole).toMatchObject({ response: 'PONG', done: true, done_reason: 'stop', eval_count: 2 });
    const cut = JSON.parse(
      (await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false, options: { num_predict: 1 } }) })).text,
    );
    expect(cut).toMatchObject({ message: { role: 'assistant', content: 'PO' }, done_reason: 'length', eval_count: 1 });
  });

  test('thinking models think first by default, and thinking eats num_predict; think:false stops it', async () => {
    const chunks = lines((await call(sim.url, '/api/chat', { json: chatBody('qwen3:8b') })).text);
    const msgs = chunks.slice(0, -1).map((c) => c['message'] as { content: string; thinking?: string });
    expect(msgs[0]).toEqual({ role: 'assistant', content: '', thinking: expect.any(String) });
    const firstContent = msgs.findIndex((m) => m.content !== '');
    expect(msgs.slice(firstContent).every((m) => m.thinking === undefined)).toBe(true);
    expect(msgs.map((m) => m.content).join('')).toBe('PONG');

    const starved = JSON.parse((await call(sim.url, '/api/chat', { json: chatBody('qwen3:8b', { stream: false, options: { num_predict: 4 } }) })).text);
    expect(starved).toMatchObject({ message: { content: '' }, done_reason: 'length', eval_count: 4 });
    expect(starved.message.thinking).not.toBe('');

    const plain = JSON.parse((await call(sim.url, '/api/generate', { json: { model: 'qwen3:8b', prompt: 'x', think: false, stream: false } })).text);
    expect(plain.response).toBe('PONG');
    expect(plain.thinking).toBeUndefined();
  });

  test('request errors use Ollama texts and statuses', async () => {
    const cases: [string, Record<string, unknown> | string, number, string][] = [
      ['/api/chat', chatBody('llama3.2', { think: true }), 400, '{"error":"\\"llama3.2\\" does not support thinking"}'],
      ['/api/chat', chatBody('llama3.2', { think: 'loud' }), 400, '{"error":"invalid think value: \\"loud\\" (must be \\"high\\", \\"medium\\", \\"low\\", \\"max\\", true, or false)"}'],
      ['/api/generate', { model: 'llama3.2', prompt: 'x', keep_alive: '-1' }, 400, '{"error":"time: missing unit in duration \\"-1\\""}'],
      ['/api/chat', chatBody('llama9'), 404, `{"error":"model 'llama9' not found"}`],
      ['/api/generate', '', 404, `{"error":"model '' not found"}`],
      ['/api/chat', '', 400, '{"error":"missing request body"}'],
      ['/api/chat', { messages: [] }, 400, '{"error":"model is required"}'],
    ];
    for (const [path, body, status, text] of cases) {
      const res = await call(sim.url, path, typeof body === 'string' ? { method: 'POST', body } : { json: body });
      expect([path, res.status, res.text]).toEqual([path, status, text]);
    }
    const wrongMethod = await call(sim.url, '/api/chat');
    expect([wrongMethod.status, wrongMethod.text, wrongMethod.headers['content-type']]).toEqual([405, '405 method not allowed', 'text/plain; charset=utf-8']);
    const unknown = await call(sim.url, '/api/nothing');
    expect([unknown.status, unknown.text]).toEqual([404, '404 page not found']);
  });

  test('empty prompt loads (done_reason load), keep_alive 0 unloads; /api/ps follows keep_alive', async () => {
    const load = JSON.parse((await call(sim.url, '/api/generate', { json: { model: 'llama3.2', keep_alive: -1 } })).text);
    expect(Object.keys(load)).toEqual(['model', 'created_at', 'response', 'done', 'done_reason']);
    expect(load).toMatchObject({ response: '', done: true, done_reason: 'load' });
    const ps = JSON.parse((await call(sim.url, '/api/ps')).text) as { models: Record<string, unknown>[] };
    const entry = ps.models.find((m) => m['name'] === 'llama3.2:latest') as Record<string, unknown>;
    expect(Object.keys(entry)).toEqual(['name', 'model', 'size', 'digest', 'details', 'expires_at', 'size_vram', 'context_length']);
    expect(Number((entry['expires_at'] as string).slice(0, 4))).toBeGreaterThan(2300);

    const unload = JSON.parse((await call(sim.url, '/api/chat', { json: { model: 'llama3.2', messages: [], keep_alive: 0 } })).text);
    expect(unload).toMatchObject({ message: { role: 'assistant', content: '' }, done_reason: 'unload' });
    const after = JSON.parse((await call(sim.url, '/api/ps')).text) as { models: { name: string }[] };
    expect(after.models.map((m) => m.name)).not.toContain('llama3.2:latest');
  });

  test('/v1/chat/completions: JSON by default, SSE with finish chunk, usage and [DONE]', async () => {
    const whole = JSON.parse((await call(sim.url, '/v1/chat/completions', { json: chatBody('llama3.2') })).text);
    expect(whole).toMatchObject({
      object: 'chat.completion',
      system_fingerprint: 'fp_ollama',
      choices: [{ index: 0, message: { role: 'assistant', content: 'PONG' }, finish_reason: 'stop' }],
      usage: { completion_tokens: 2 },
    });
    expect(whole.id).toMatch(/^chatcmpl-\d{1,3}$/);

    const res = await call(sim.url, '/v1/chat/completions', { json: chatBody('llama3.2', { stream: true, stream_options: { include_usage: true } }) });
    expect(res.headers['content-type']).toBe('text/event-stream');
    const events = sseEvents(res.text);
    expect(events[events.length - 1]).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: 'PO' });
    expect(chunks[1].choices[0].delta).toEqual({ content: 'NG' });
    expect(chunks[2].choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
    expect(chunks[3]).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number), completion_tokens: 2 } });
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);

    const missing = await call(sim.url, '/v1/chat/completions', { json: chatBody('llama9') });
    expect([missing.status, JSON.parse(missing.text)]).toEqual([404, { error: { message: "model 'llama9' not found", type: 'not_found_error', param: null, code: null } }]);
    const empty = await call(sim.url, '/v1/chat/completions', { json: { model: 'llama3.2', messages: [] } });
    expect([empty.status, JSON.parse(empty.text).error.type]).toEqual([400, 'invalid_request_error']);
  });

  test('setAnswer, request counters and last headers', async () => {
    sim.setAnswer('Hello there');
    const before = sim.requestsTo('/api/chat');
    const total = sim.requestCount;
    const res = JSON.parse((await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false }), headers: { 'x-probe': 'yes' } })).text);
    expect(res.message.content).toBe('Hello there');
    expect(sim.requestsTo('/api/chat')).toBe(before + 1);
    expect(sim.requestCount).toBe(total + 1);
    expect(sim.lastRequestHeaders()?.['x-probe']).toBe('yes');
  });
});

test('a cold model pays loadMs once (load_duration), then stays loaded for its keep_alive', async () => {
  const sim = await startSimulator({ loadMs: 150, tokenDelayMs: 0 });
  try {
    const gen = async (): Promise<number> =>
      JSON.parse((await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x', stream: false } })).text).load_duration;
    expect(await gen()).toBeGreaterThanOrEqual(140e6);
    expect(await gen()).toBeLessThan(100e6);
  } finally {
    await sim.close();
  }
});

describe('the official ollama npm client works against the simulator', () => {
  let sim: Simulator;
  let client: Ollama;
  beforeAll(async () => {
    sim = await startSimulator({ models: ['llama3.2', 'qwen3:8b'], tokenDelayMs: 1 });
    client = new Ollama({ host: sim.url });
  });
  afterAll(() => sim.close());

  test('list, version, ps, show', async () => {
    expect((await client.list()).models.map((m) => m.name)).toEqual(['llama3.2:latest', 'qwen3:8b']);
    expect((await client.version()).version).toBe('0.12.6');
    expect((await client.show({ model: 'qwen3:8b' })).capabilities).toContain('thinking');
    await client.generate({ model: 'llama3.2', prompt: '' });
    expect((await client.ps()).models.map((m) => m.name)).toContain('llama3.2:latest');
  });

  test('chat (streaming and not) and generate', async () => {
    const whole = await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(whole.message.content).toBe('PONG');
    let text = '';
    let thinking = '';
    for await (const part of await client.chat({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'hi' }], stream: true })) {
      text += part.message.content;
      thinking += part.message.thinking ?? '';
      if (part.done) expect(part.eval_count).toBeGreaterThan(2);
    }
    expect([text, thinking.length > 0]).toEqual(['PONG', true]);
    const gen = await client.generate({ model: 'llama3.2', prompt: 'hi' });
    expect([gen.response, gen.done_reason]).toEqual(['PONG', 'stop']);
    await expect(client.chat({ model: 'llama9', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status_code: 404 });
  });
});

describe('the control server', () => {
  test('switches faults and answers, and rejects unknown faults with a clear message', async () => {
    const sim = await startSimulator();
    const control = await startSimulatorControl(sim, 0);
    try {
      expect(JSON.parse((await call(control.url, '/fault')).text)).toEqual({ fault: 'none' });
      const set = await call(control.url, '/fault', { json: { fault: 'busy', scope: 'generation' } });
      expect([set.status, JSON.parse(set.text)]).toEqual([200, { fault: 'busy' }]);
      expect(sim.fault).toBe('busy');
      expect((await call(sim.url, '/api/chat', { json: chatBody('llama3.2') })).status).toBe(503);
      expect((await call(sim.url, '/api/tags')).status).toBe(200);
      const bad = await call(control.url, '/fault', { json: { fault: 'meltdown' } });
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.text).error).toMatch(/unknown fault "meltdown".*hang/);
      expect((await call(control.url, '/fault', { json: { fault: 'hang', scope: 'everything' } })).status).toBe(400);
      await call(control.url, '/answer', { json: { answer: 'OK' } });
      await call(control.url, '/fault', { json: { fault: 'none' } });
      expect(JSON.parse((await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x', stream: false } })).text).response).toBe('OK');
      expect(FAULTS).toContain('invalid_utf8');
    } finally {
      await control.close();
      await sim.close();
    }
  });
});


/** Opens a request and returns as soon as headers arrive, with a reader for the body's chunks. */
async function open(base: string, path: string, json: unknown | undefined, signal: AbortSignal) {
  const res = await request(`${base}${path}`, {
    method: json === undefined ? 'GET' : 'POST',
    body: json === undefined ? undefined : JSON.stringify(json),
    signal,
    dispatcher: agent,
  });
  const it = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return { res, next: async (): Promise<Buffer | undefined> => ((await it.next()).value as Buffer | undefined) };
}

describe('faults', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ tokenDelayMs: 1 });
  });
  afterAll(() => sim.close());
  afterEach(() => sim.setFault('none'));

  test('refuse closes the port (ECONNREFUSED) and clearing it listens again on the same port', async () => {
    const url = sim.url;
    await sim.setFault('refuse');
    expect(sim.fault).toBe('refuse');
    expect(await errorCode(call(url, '/api/version'))).toBe('ECONNREFUSED');
    await sim.setFault('none');
    expect(sim.url).toBe(url);
    expect((await call(url, '/api/version')).status).toBe(200);
  });

  test('reset accepts then resets the connection', async () => {
    await sim.setFault('reset');
    expect(await errorCode(call(sim.url, '/'))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
  });

  test('hang reads the request and never answers', async () => {
    await sim.setFault('hang');
    const before = sim.requestsTo('/api/tags');
    expect(await errorCode(call(sim.url, '/api/tags', { signal: AbortSignal.timeout(300) }))).toMatch(/Abort|Timeout/);
    expect(sim.requestsTo('/api/tags')).toBe(before + 1);
  });

  test('slow_first_token delays generation only', async () => {
    await sim.setFault('slow_first_token', { delayMs: 400 });
    expect((await call(sim.url, '/api/tags', { signal: AbortSignal.timeout(300) })).status).toBe(200);
    expect(await errorCode(call(sim.url, '/api/chat', { json: chatBody('llama3.2'), signal: AbortSignal.timeout(200) }))).toMatch(/Abort|Timeout/);
    const started = performance.now();
    const res = await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false }) });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect(JSON.parse(res.text).load_duration).toBeGreaterThanOrEqual(390e6);
  });

  test('stall_mid_stream sends headers and a first chunk, then nothing', async () => {
    await sim.setFault('stall_mid_stream');
    const signal = AbortSignal.timeout(400);
    const { res, next } = await open(sim.url, '/api/chat', chatBody('llama3.2'), signal);
    expect(res.statusCode).toBe(200);
    const first = lines(((await next()) as Buffer).toString());
    expect(first[0]).toMatchObject({ done: false });
    expect(await errorCode(next())).toMatch(/Abort|Timeout/);
  });

  test('slowloris sends the headers, then one byte at a time', async () => {
    await sim.setFault('slowloris', { delayMs: 40 });
    const { res, next } = await open(sim.url, '/', undefined, AbortSignal.timeout(5000));
    expect(res.headers['content-length']).toBe('17');
    const first = (await next()) as Buffer;
    expect(first.length).toBe(1);
    let text = first.toString();
    for (let b = await next(); b; b = await next()) text += b.toString();
    expect(text).toBe('Ollama is running');
  });

  test('endless_stream keeps streaming and never sends done', async () => {
    await sim.setFault('endless_stream');
    const signal = AbortSignal.timeout(5000);
    const { next } = await open(sim.url, '/api/chat', chatBody('llama3.2'), signal);
    let text = '';
    while (text.split('\n').length < 12) text += ((await next()) as Buffer).toString();
    const parsed = lines(text.slice(0, text.lastIndexOf('\n')));
    expect(parsed.length).toBeGreaterThanOrEqual(11);
    expect(parsed.some((c) => c['done'] === true)).toBe(false);
  });

  test('huge_body streams 50 MB of JSON-ish text', async () => {
    await sim.setFault('huge_body', { scope: 'liveness' });
    const res = await call(sim.url, '/api/tags');
    expect(res.status).toBe(200);
    expect(res.raw.length).toBeGreaterThanOrEqual(50 * 1024 * 1024);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  test('cf_tunnel_down: 530 with an HTML 1033 page, or RFC 9457 JSON when asked', async () => {
    await sim.setFault('cf_tunnel_down');
    const html = await call(sim.url, '/api/tags');
    expect(html.status).toBe(530);
    expect(html.headers['server']).toBe('cloudflare');
    expect(html.headers['cf-ray']).toMatch(/^[0-9a-f]{16}-[A-Z]{3}$/);
    expect(html.headers['cf-error-type']).toBe('1033');
    expect(html.headers['retry-after']).toBe('120');
    expect(html.text).toMatch(/<title>Error 1033 .*Cloudflare Tunnel error<\/title>/);
    expect(html.text).toMatch(/Ray ID: [0-9a-f]{16}/);
    const json = await call(sim.url, '/api/tags', { headers: { accept: 'application/json' } });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(json.text)).toMatchObject({ status: 530, error_code: 1033, error_name: 'tunnel_error', cloudflare_error: true, retry_after: 120 });
    const problem = await call(sim.url, '/', { headers: { accept: 'application/problem+json' } });
    expect(problem.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });

  test('cf_origin_unreachable is a Cloudflare 502; cf_timeout a 524 after delayMs', async () => {
    await sim.setFault('cf_origin_unreachable');
    const bad = await call(sim.url, '/');
    expect([bad.status, bad.headers['server'], /Bad gateway/.test(bad.text)]).toEqual([502, 'cloudflare', true]);
    await sim.setFault('cf_timeout', { delayMs: 200 });
    const started = performance.now();
    const slow = await call(sim.url, '/api/chat', { json: chatBody('llama3.2'), headers: { accept: 'application/json' } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect([slow.status, slow.headers['cf-error-type'], JSON.parse(slow.text).error_code]).toEqual([524, '52x', 524]);
  });

  test('Access: 302 to the team login, or 401; both from Cloudflare', async () => {
    await sim.setFault('access_redirect');
    const redirect = await call(sim.url, '/api/tags?x=1');
    expect(redirect.status).toBe(302);
    expect(redirect.headers['location']).toMatch(
      /^https:\/\/[a-z-]+\.cloudflareaccess\.com\/cdn-cgi\/access\/login\/127\.0\.0\.1\?kid=[0-9a-f]{64}&redirect_url=%2Fapi%2Ftags%3Fx%3D1&meta=/,
    );
    expect(redirect.headers['cf-ray']).toBeDefined();
    await sim.setFault('access_401');
    const denied = await call(sim.url, '/api/tags');
    expect([denied.status, denied.headers['server']]).toEqual([401, 'cloudflare']);
  });

  test('forbidden_host, html_200 and redirect_loop', async () => {
    await sim.setFault('forbidden_host');
    const forbidden = await call(sim.url, '/api/version');
    expect([forbidden.status, forbidden.text, forbidden.headers['server'], forbidden.headers['cf-ray']]).toEqual([403, '', undefined, undefined]);
    await sim.setFault('html_200');
    const html = await call(sim.url, '/api/tags');
    expect([html.status, html.headers['content-type'], /<form/.test(html.text)]).toEqual([200, 'text/html; charset=utf-8', true]);
    await sim.setFault('redirect_loop');
    const loop = await call(sim.url, '/api/tags');
    expect([loop.status, loop.headers['location']]).toEqual([302, '/api/tags']);
  });

  test('server_error and busy use Ollama texts, wrapped on /v1', async () => {
    await sim.setFault('server_error');
    const err = await call(sim.url, '/api/chat', { json: chatBody('llama3.2') });
    expect(err.status).toBe(500);
    expect(JSON.parse(err.text).error).toMatch(/^model runner has unexpectedly stopped, /);
    await sim.setFault('busy');
    const busy = await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x' } });
    expect([busy.status, busy.text]).toEqual([503, '{"error":"server busy, please try again.  maximum pending requests exceeded"}']);
    const v1 = await call(sim.url, '/v1/chat/completions', { json: chatBody('llama3.2') });
    expect([v1.status, JSON.parse(v1.text).error.type]).toEqual([503, 'api_error']);
  });

  test('mid_stream_error: chunks, then an error line, and no done (SSE: no [DONE])', async () => {
    sim.setAnswer('The quick brown fox');
    try {
      await sim.setFault('mid_stream_error');
      const chunks = lines((await call(sim.url, '/api/chat', { json: chatBody('llama3.2') })).text);
      expect(chunks.length).toBeGreaterThanOrEqual(2);
      expect(chunks[chunks.length - 1]).toEqual({ error: expect.stringMatching(/unexpectedly stopped/) });
      expect(chunks.some((c) => c['done'] === true)).toBe(false);
      const sse = sseEvents((await call(sim.url, '/v1/chat/completions', { json: chatBody('llama3.2', { stream: true }) })).text);
      expect(sse.length).toBeGreaterThanOrEqual(2);
      expect(sse).not.toContain('[DONE]');
      const whole = await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false }) });
      expect(whole.status).toBe(500);
    } finally {
      sim.setAnswer('PONG');
    }
  });

  test('wrong_answer and empty_answer complete normally with the wrong text', async () => {
    await sim.setFault('wrong_answer');
    const wrong = JSON.parse((await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false }) })).text);
    expect(wrong).toMatchObject({ message: { content: 'I cannot help with that.' }, done: true });
    await sim.setFault('empty_answer');
    const chunks = lines((await call(sim.url, '/api/chat', { json: chatBody('llama3.2') })).text);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ message: { content: '' }, done: true, done_reason: 'stop' });
  });

  test('model_missing hides the models everywhere', async () => {
    await sim.setFault('model_missing');
    expect(JSON.parse((await call(sim.url, '/api/tags')).text)).toEqual({ models: [] });
    expect(JSON.parse((await call(sim.url, '/v1/models')).text).data).toBeNull();
    const chat = await call(sim.url, '/api/chat', { json: chatBody('llama3.2') });
    expect([chat.status, chat.text]).toEqual([404, `{"error":"model 'llama3.2' not found"}`]);
  });

  test('bad_json, truncated_json and invalid_utf8 break the payload', async () => {
    await sim.setFault('bad_json');
    const bad = await call(sim.url, '/api/tags');
    expect([bad.status, bad.headers['content-type'], bad.text]).toEqual([200, 'application/json; charset=utf-8', '{not json']);

    await sim.setFault('truncated_json');
    const truncated = (await call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x' } })).text.split('\n');
    expect(JSON.parse(truncated[0] as string)).toMatchObject({ response: 'PO' });
    expect(() => JSON.parse(truncated[1] as string)).toThrow();
    expect(truncated).toHaveLength(2);

    await sim.setFault('invalid_utf8');
    const res = await call(sim.url, '/api/chat', { json: chatBody('llama3.2') });
    expect(res.raw.includes(0xff)).toBe(true);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(res.raw)).toThrow();
    const last = lines(res.text).pop();
    expect(last).toMatchObject({ done: true, done_reason: 'stop' });
  });

  test('scope limits a fault to generation or liveness routes', async () => {
    await sim.setFault('cf_tunnel_down', { scope: 'generation' });
    expect((await call(sim.url, '/api/tags')).status).toBe(200);
    expect((await call(sim.url, '/api/chat', { json: chatBody('llama3.2') })).status).toBe(530);
    await sim.setFault('server_error', { scope: 'liveness' });
    expect((await call(sim.url, '/')).status).toBe(500);
    expect((await call(sim.url, '/api/chat', { json: chatBody('llama3.2', { stream: false }) })).status).toBe(200);
    await sim.setFault('reset', { scope: 'generation' });
    expect((await call(sim.url, '/api/version')).status).toBe(200);
    expect(await errorCode(call(sim.url, '/api/generate', { json: { model: 'llama3.2', prompt: 'x' } }))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
  });
});

test('close() finishes promptly with hung and endless requests open', async () => {
  const sim = await startSimulator({ tokenDelayMs: 1 });
  await sim.setFault('hang', { scope: 'liveness' });
  const hung = call(sim.url, '/api/tags');
  while (sim.requestsTo('/api/tags') === 0) await new Promise((r) => setTimeout(r, 5));
  await sim.setFault('endless_stream');
  const endless = await open(sim.url, '/api/chat', chatBody('llama3.2'), AbortSignal.timeout(10_000));
  await endless.next();
  const started = performance.now();
  await sim.close();
  expect(performance.now() - started).toBeLessThan(2000);
  expect(await errorCode(hung)).toMatch(/UND_ERR_SOCKET|ECONNRESET|other side closed/i);
  await expect((async () => {
    for (let b = await endless.next(); b; b = await endless.next());
  })()).rejects.toThrow();
  await expect(sim.setFault('none')).rejects.toThrow(/closed/);
});

describe('flavours (docs/simulator.md "Flavours")', () => {
  const sims: Simulator[] = [];
  afterAll(() => Promise.all(sims.map((s) => s.close())));
  const start = async (opts: Parameters<typeof startSimulator>[0]) => {
    const s = await startSimulator({ tokenDelayMs: 1, ...opts });
    sims.push(s);
    return s;
  };
  const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'Reply PONG' }], ...extra });

  test('vllm: no /api/*, owned_by vllm, server: uvicorn, enable_thinking:false honoured, reasoning in `reasoning`', async () => {
    const s = await start({ flavor: 'vllm', models: ['qwen3:8b'] });
    expect((await call(s.url, '/api/version')).status).toBe(404);
    const models = await call(s.url, '/v1/models');
    expect(models.headers['server']).toBe('uvicorn');
    expect(JSON.parse(models.text).data[0]).toMatchObject({ id: 'qwen3:8b', owned_by: 'vllm' });
    const thinking = JSON.parse((await call(s.url, '/v1/chat/completions', { json: chat('qwen3:8b') })).text);
    expect(thinking.choices[0].message).toMatchObject({ content: 'PONG', reasoning: expect.any(String) });
    const off = JSON.parse((await call(s.url, '/v1/chat/completions', { json: chat('qwen3:8b', { chat_template_kwargs: { enable_thinking: false } }) })).text);
    expect(off.choices[0].message).toEqual({ role: 'assistant', content: 'PONG' });
  });

  test('vllm refusing the knob: its ErrorResponse with 400', async () => {
    const s = await start({ flavor: 'vllm', models: ['qwen3:8b'], rejectThinkingKnob: true });
    const r = await call(s.url, '/v1/chat/completions', { json: chat('qwen3:8b', { chat_template_kwargs: { enable_thinking: false } }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text)).toMatchObject({ object: 'error', type: 'BadRequestError', code: 400 });
  });

  test('llamacpp: server: llama.cpp, owned_by llamacpp, streamed reasoning in delta.reasoning_content', async () => {
    const s = await start({ flavor: 'llamacpp', models: ['qwen3:8b'] });
    const models = await call(s.url, '/v1/models');
    expect(models.headers['server']).toBe('llama.cpp');
    expect(JSON.parse(models.text).data[0].owned_by).toBe('llamacpp');
    const r = await call(s.url, '/v1/chat/completions', { json: chat('qwen3:8b', { stream: true }) });
    const deltas = sseEvents(r.text).filter((e) => e !== '[DONE]').map((e) => (JSON.parse(e) as { choices: Array<{ delta: Record<string, string> }> }).choices[0]?.delta ?? {});
    expect(deltas.some((d) => typeof d['reasoning_content'] === 'string' && d['reasoning_content'] !== '')).toBe(true);
    expect(deltas.some((d) => 'reasoning' in d)).toBe(false);
  });

  test('ollama-legacy: version 0.6.8, think ignored, thinking inline; /no_think gives an empty block', async () => {
    const s = await start({ flavor: 'ollama-legacy', models: ['qwen3:8b', 'llama3.2'] });
    expect(JSON.parse((await call(s.url, '/api/version')).text)).toEqual({ version: '0.6.8' });
    // think:true on a model without thinking is no error before 0.9: the field did not exist.
    expect((await call(s.url, '/api/chat', { json: chat('llama3.2', { think: true, stream: false }) })).status).toBe(200);
    const inline = JSON.parse((await call(s.url, '/api/chat', { json: chat('qwen3:8b', { think: false, stream: false }) })).text);
    expect(inline.message.content).toMatch(/^<think>.+<\/think>\n\nPONG$/s);
    expect(inline.message.thinking).toBeUndefined();
    const soft = JSON.parse((await call(s.url, '/api/chat', { json: { model: 'qwen3:8b', stream: false, messages: [{ role: 'user', content: 'Reply PONG /no_think' }] } })).text);
    expect(soft.message.content).toBe('<think>\n\n</think>\n\nPONG');
  });

  test('load requests, generations, unload behind the monitor’s back, and the control API', async () => {
    const s = await start({ models: ['qwen3:8b'] });
    await call(s.url, '/api/generate', { json: { model: 'qwen3:8b', keep_alive: '10m', options: { num_ctx: 4096 } } });
    expect(s.loads).toEqual([expect.objectContaining({ model: 'qwen3:8b', keepAlive: '10m', options: { num_ctx: 4096 } })]);
    expect(s.generations).toBe(0);
    const ps = JSON.parse((await call(s.url, '/api/ps')).text);
    expect(Date.parse(ps.models[0].expires_at) - Date.now()).toBeGreaterThan(9 * 60_000);
    const control = await startSimulatorControl(s, 0);
    try {
      const r = await call(control.url, '/unload', { json: { models: ['qwen3:8b'] } });
      expect(JSON.parse(r.text)).toEqual({ loaded: [] });
      expect(JSON.parse((await call(s.url, '/api/ps')).text)).toEqual({ models: [] });
      expect(JSON.parse((await call(control.url, '/stats')).text)).toMatchObject({ generations: 0, loads: 1, loaded: [] });
    } finally {
      await control.close();
    }
  });
});
