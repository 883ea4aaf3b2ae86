import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSentinelClient } from '../../src/client';
import { startSimulator, type Simulator } from '../../src/simulator';
import type { PublishedLiveness, PublishedState } from '../../src/state/types';
import { makeState, tempDir } from '../helpers/state';
import { waitFor } from '../helpers/wait';

jest.setTimeout(30_000);

/**
 * The client's half of suspicion, with the monitor played by the test: it writes the state file (or serves
 * GET /state) by hand, so each case controls exactly what the client sees and when.
 */
describe('client suspicion (hand-written monitor state)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let primary: Simulator;
  let fallback: Simulator;
  let stateFile: string;
  let reportDir: string;
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false };
  const answerOf = async (res: Response): Promise<string> => ((await res.json()) as { message: { content: string } }).message.content;

  beforeEach(async () => {
    tmp = tempDir('sentinel-suspicion-');
    primary = await startSimulator({ answer: 'PONG from primary' });
    fallback = await startSimulator({ answer: 'PONG from fallback' });
    stateFile = join(tmp.dir, 'state.json');
    reportDir = join(tmp.dir, 'reports');
    mkdirSync(reportDir);
  });
  afterEach(async () => {
    await primary.close();
    await fallback.close();
    tmp.remove();
  });

  const state = (liveness: PublishedLiveness | null): PublishedState => {
    const s = makeState([
      { name: 'primary', url: primary.url },
      { name: 'fallback', url: fallback.url },
    ]);
    return { ...s, nodes: s.nodes.map((n) => (n.name === 'primary' ? { ...n, lastLiveness: liveness } : { ...n, lastLiveness: null })) };
  };
  /** Atomic like the daemon's writer, so the client never reads half a document. */
  const publish = (s: PublishedState): void => {
    writeFileSync(`${stateFile}.tmp`, JSON.stringify(s));
    renameSync(`${stateFile}.tmp`, stateFile);
  };
  const live = (ok: boolean, reason: string, attempts: number, at = Date.now()): PublishedLiveness => ({ ok, reason, at: new Date(at).toISOString(), attempts });
  const client = (extra: object = {}) =>
    createSentinelClient({
      stateFile,
      nodes: [
        { name: 'primary', url: primary.url },
        { name: 'fallback', url: fallback.url },
      ],
      env: {},
      timeoutMs: 15_000,
      suspectAfterMs: 300,
      ...extra,
    });
  const suspectReports = (): Array<{ node: string; reason: string }> =>
    readdirSync(reportDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(reportDir, f), 'utf8')) as { node: string; reason: string })
      .filter((r) => r.reason === 'suspect');

  test('silent node: a suspect report after suspectAfterMs; a retried no-answer probe newer than the request: the fallback answers', async () => {
    publish(state(live(true, 'ok', 1, Date.now() - 5_000)));
    await primary.setFault('hang');
    const t0 = performance.now();
    const pending = client().fetchWithFallback('/api/chat', body);
    await waitFor('a suspect report for primary', () => suspectReports().some((r) => r.node === 'primary'));
    publish(state(live(false, 'timeout', 3)));
    expect(await answerOf(await pending)).toBe('PONG from fallback');
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  test('a cadence probe that failed once (1 attempt) is not enough: the slow primary answers, no duplicate', async () => {
    publish(state(live(true, 'ok', 1, Date.now() - 5_000)));
    await primary.setFault('slow_first_token', { delayMs: 1_500, scope: 'generation' });
    const pending = client().fetchWithFallback('/api/chat', body);
    await new Promise((r) => setTimeout(r, 200));
    publish(state(live(false, 'timeout', 1)));
    expect(await answerOf(await pending)).toBe('PONG from primary');
    expect(fallback.requestsTo('/api/chat')).toBe(0);
  });

  test('a state file that disappears mid-request changes nothing', async () => {
    publish(state(live(true, 'ok', 1, Date.now() - 5_000)));
    await primary.setFault('slow_first_token', { delayMs: 1_500, scope: 'generation' });
    const pending = client().fetchWithFallback('/api/chat', body);
    await new Promise((r) => setTimeout(r, 200));
    unlinkSync(stateFile);
    expect(await answerOf(await pending)).toBe('PONG from primary');
    expect(fallback.requestsTo('/api/chat')).toBe(0);
  });

  test('an HTTP state that hangs mid-request changes nothing (and adds no wait)', async () => {
    let hang = false;
    const doc = JSON.stringify(state(live(true, 'ok', 1, Date.now() - 5_000)));
    const server: Server = createServer((req, res) => {
      if (hang) return; // read, never answered
      res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' });
      res.end(doc);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/state`;
      await primary.setFault('slow_first_token', { delayMs: 1_500, scope: 'generation' });
      const c = client({ stateFile: undefined, stateUrl: url, ttlMs: 100, stateTimeoutMs: 500, reportUrl: url.replace('/state', '/report') });
      await c.getPreferredEndpoint();
      hang = true;
      const t0 = performance.now();
      expect(await answerOf(await c.fetchWithFallback('/api/chat', body))).toBe('PONG from primary');
      expect(performance.now() - t0).toBeLessThan(4_000);
      expect(fallback.requestsTo('/api/chat')).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('a request the caller aborts stops watching: no suspect report afterwards', async () => {
    publish(state(live(true, 'ok', 1, Date.now() - 5_000)));
    await primary.setFault('hang');
    const ctl = new AbortController();
    const pending = client().fetchWithFallback('/api/chat', body, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 100);
    await expect(pending).rejects.toBeDefined();
    await new Promise((r) => setTimeout(r, 900));
    expect(suspectReports()).toEqual([]);
  });

  test('suspicion: false keeps the old behaviour (no suspect report)', async () => {
    publish(state(live(true, 'ok', 1, Date.now() - 5_000)));
    await primary.setFault('slow_first_token', { delayMs: 800, scope: 'generation' });
    expect(await answerOf(await client({ suspicion: false }).fetchWithFallback('/api/chat', body))).toBe('PONG from primary');
    expect(suspectReports()).toEqual([]);
  });
});
