import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { discover } from '../../src/init/discover';
import { startSimulator, type Simulator } from '../../src/simulator';
import { freePort } from '../helpers/smtp';

jest.setTimeout(30_000);

let sim: Simulator | undefined;
let server: Server | undefined;
afterEach(async () => {
  await sim?.close();
  if (server) await new Promise<void>((r) => server!.close(() => r()));
  sim = undefined;
  server = undefined;
});

/** A loopback server answering fixed routes (path → status, headers, body). */
async function serve(routes: Record<string, [number, Record<string, string>, string]>): Promise<string> {
  server = createServer((req, res) => {
    const [status, headers, body] = routes[req.url ?? ''] ?? [404, { 'content-type': 'text/plain' }, '404 page not found'];
    res.writeHead(status, headers).end(body);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('init: what a server is', () => {
  test('Ollama: version, installed models newest first, loaded ones from /api/ps', async () => {
    sim = await startSimulator({ models: ['qwen3:4b', 'llama3.2'], version: '0.32.15' });
    await fetch(`${sim.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'hi', stream: false }) }).then((r) => r.text());
    const d = await discover(`${sim.url}/`);
    expect(d).toEqual({ url: sim.url, api: 'ollama', version: '0.32.15', installed: ['qwen3:4b', 'llama3.2:latest'], loaded: ['llama3.2:latest'], cloudflare: false, access: false });
  });

  test('an OpenAI-compatible server (llama.cpp, vLLM): no /api/version, models from /v1/models', async () => {
    // GET /v1/models as OpenAI documents it: {"object":"list","data":[{"id":…,"object":"model",…}]}
    const url = await serve({ '/v1/models': [200, { 'content-type': 'application/json' }, JSON.stringify({ object: 'list', data: [{ id: 'Qwen/Qwen3-8B', object: 'model', created: 0, owned_by: 'vllm' }] })] });
    const d = await discover(url);
    expect(d).toMatchObject({ api: 'openai', installed: ['Qwen/Qwen3-8B'] });
    expect(d.problem).toBeUndefined();
  });

  test('behind Cloudflare: told by its headers on a working answer', async () => {
    const cf = { 'content-type': 'application/json; charset=utf-8', server: 'cloudflare', 'cf-ray': '8d1f2a3b4c5d6e7f-AMS' };
    const url = await serve({ '/api/version': [200, cf, '{"version":"0.12.6"}'], '/api/tags': [200, cf, '{"models":[]}'], '/api/ps': [200, cf, '{"models":[]}'] });
    expect(await discover(url)).toMatchObject({ api: 'ollama', version: '0.12.6', cloudflare: true, access: false, installed: [] });
  });

  test.each([
    ['cf_tunnel_down', 'cloudflare_tunnel_down', false],
    ['access_redirect', 'auth_required', true],
    ['access_401', 'auth_required', true],
    // Cloudflare's protections are not Access: init gives their own hint (the reason table's).
    ['cf_challenge', 'cloudflare_challenge', false],
    ['cf_waf_block', 'cloudflare_blocked', false],
    ['cf_rate_limit', 'cloudflare_rate_limited', false],
  ] as const)('%s is a problem named %s', async (fault, reason, access) => {
    sim = await startSimulator();
    await sim.setFault(fault);
    const d = await discover(sim.url);
    expect(d).toMatchObject({ api: 'unknown', cloudflare: true, access, problem: { reason } });
  });

  test('a refused URL is a problem, not an exception', async () => {
    const d = await discover(`http://127.0.0.1:${await freePort()}`);
    expect(d.problem?.reason).toBe('refused');
  });
});
