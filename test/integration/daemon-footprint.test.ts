/**
 * What the daemon loads (issue 13's footprint). src/undici.ts loads only the undici modules the project
 * uses: these tests pin that it hands out undici's own objects (so an undici update that moves a file fails
 * here, not in production) and that its `request` behaves as `undici.request` does. The last one proves the
 * daemon's module graph, after parsing a default config, leaves out what only some configs use.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as undici from 'undici';
import { Agent, buildConnector, errors, request } from '../../src/undici';

/** The error a call ends with, whether it throws at once (undici checks the URL synchronously) or rejects. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

describe('the daemon loads only what it uses', () => {
  it('exports the very classes and functions undici exports', () => {
    expect(Agent).toBe(undici.Agent);
    expect(errors).toBe(undici.errors);
    expect(buildConnector).toBe(undici.buildConnector);
  });

  describe('request', () => {
    let server: Server;
    let base: string;
    const seen: Array<{ method?: string; url?: string; body: string; agent?: string }> = [];

    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, body, agent: req.headers['user-agent'] });
          res.writeHead(201, { 'content-type': 'application/json', 'x-echo': req.url ?? '' });
          res.end(JSON.stringify({ ok: true }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      // The Agent the no-dispatcher case created: undici's global one (this file's own global object).
      await undici.getGlobalDispatcher().close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('sends method, path, query, headers and body through the given dispatcher', async () => {
      const agent = new Agent({ keepAliveTimeout: 1000 });
      try {
        const res = await request(`${base}/api/generate?x=1&y=two`, { dispatcher: agent, method: 'POST', headers: { 'user-agent': 'sentinel-test' }, body: '{"a":1}' });
        expect(res.statusCode).toBe(201);
        expect(res.headers['x-echo']).toBe('/api/generate?x=1&y=two');
        expect(await res.body.json()).toEqual({ ok: true });
        expect(seen.at(-1)).toEqual({ method: 'POST', url: '/api/generate?x=1&y=two', body: '{"a":1}', agent: 'sentinel-test' });
      } finally {
        await agent.close();
      }
    });

    it('defaults the method as undici.request does (GET, or PUT with a body) and takes a URL object', async () => {
      const agent = new Agent();
      try {
        await (await request(new URL(`${base}/api/version`), { dispatcher: agent })).body.dump();
        expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/version' });
        await (await request(`${base}/upload`, { dispatcher: agent, body: 'x' })).body.dump();
        expect(seen.at(-1)).toMatchObject({ method: 'PUT', url: '/upload', body: 'x' });
      } finally {
        await agent.close();
      }
    });

    it("uses undici's global dispatcher when none is given", async () => {
      const res = await request(`${base}/no-dispatcher`, { headers: { connection: 'close' } });
      expect(res.statusCode).toBe(201);
      await res.body.dump();
      expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/no-dispatcher' });
    });

    it('refuses a URL that is not http(s) with the InvalidArgumentError undici.request throws', async () => {
      const ours = await failure(() => request('ftp://127.0.0.1/x'));
      const theirs = await failure(() => undici.request('ftp://127.0.0.1/x'));
      expect(ours).toBeInstanceOf(errors.InvalidArgumentError);
      expect((ours as Error).message).toBe((theirs as Error).message);
    });

    it('stops at an abort signal with the reason given', async () => {
      const agent = new Agent();
      try {
        const reason = new Error('deadline');
        expect(await failure(() => request(`${base}/slow`, { dispatcher: agent, signal: AbortSignal.abort(reason) }))).toBe(reason);
      } finally {
        await agent.close();
      }
    });
  });

  it("keeps undici's index (fetch, WebSocket, mocks, caches), nodemailer, prom-client and node-cron out of the daemon's module graph", () => {
    // The compiled daemon (npm test builds dist first), loaded as `llm-sentinel run` loads it, with a default
    // config parsed (its history schedule is a cron expression), in a fresh process.
    const root = join(__dirname, '..', '..');
    const script = `require(${JSON.stringify(join(root, 'dist/cli/run.js'))});
      require(${JSON.stringify(join(root, 'dist/config/index.js'))}).parseConfig({ nodes: [{ name: 'a', url: 'http://127.0.0.1:1', model: 'm' }, { name: 'b', url: 'http://127.0.0.1:2', model: 'm' }] });
      const files = Object.keys(require.cache).map((f) => f.split(require('node:path').sep).join('/'));
      console.log(JSON.stringify({
        undiciFiles: files.filter((f) => f.includes('/node_modules/undici/')).map((f) => f.replace(/.*\\/node_modules\\/undici\\//, '')),
        heavy: files.filter((f) => /\\/node_modules\\/(nodemailer|prom-client|node-cron)\\//.test(f)),
      }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { undiciFiles: string[]; heavy: string[] };
    expect(out.undiciFiles).toContain('lib/dispatcher/agent.js');
    expect(out.undiciFiles).not.toContain('index.js');
    expect(out.undiciFiles.filter((f) => /^lib\/(web|mock|cache|interceptor)\//.test(f))).toEqual([]);
    expect(out.undiciFiles.length).toBeLessThan(40);
    expect(out.heavy).toEqual([]);
  });
});
