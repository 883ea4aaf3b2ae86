import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMetrics } from '../../src/http/metrics';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server';
import { buildStatusModel, renderStatusPage } from '../../src/http/status-page';
import { DAY_MS, HOUR_MS } from '../../src/history/intervals';
import { silentLogger } from '../../src/logging';
import type { PublishedState } from '../../src/state/types';
import { openStorage, type Storage } from '../../src/storage';
import { FakeClock } from '../../src/util/clock';
import { Secret } from '../../src/util/secret';
import { insertProbes } from '../helpers/history-data';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(__dirname, '../../docs/status-page.png');
const MIN = 60_000;
const NOW = Date.UTC(2026, 3, 10, 13, 20);
const EVIL = '<script>alert("x")</script>';
const iso = (t: number) => new Date(t).toISOString();

let tmp: string;
let storage: Storage;
let server: RunningHttpServer | undefined;

/**
 * 100 days of history: watched for 40 days, off for 10 (grey bars), watched again for the last 50 with an
 * 8-hour sleep; primary had a 3-hour tunnel outage, a slow spell and a short outage whose recorded reason is
 * hostile HTML; fallback is down right now. Plus 24 hours of probes for the latency chart.
 */
function writeHistory(s: Storage): void {
  const a = NOW - 100 * DAY_MS;
  s.startRun({ instance: 'mini', pid: 1, version: '0.1.0', at: a });
  for (const node of ['primary', 'fallback']) s.insertTransition({ node, from: 'unknown', to: 'up', reason: 'ok', at: a + 5_000 });
  s.insertPreferredChange({ from: null, to: 'primary', reason: 'start', allDown: false, at: a + 5_000 });
  const outage = (node: string, at: number, ms: number, to: 'down' | 'degraded', reason: string, failover: boolean) => {
    s.insertTransition({ node, from: 'up', to, reason, at });
    if (failover) s.insertPreferredChange({ from: 'primary', to: 'fallback', reason, allDown: false, at });
    if (ms > 0) {
      s.insertTransition({ node, from: to, to: 'up', reason: 'ok', at: at + ms });
      if (failover) s.insertPreferredChange({ from: 'fallback', to: 'primary', reason: 'failback', allDown: false, at: at + ms });
    }
  };
  outage('primary', NOW - 80 * DAY_MS, 3 * HOUR_MS, 'down', 'cloudflare_tunnel_down', true);
  const first = s.db.prepare('SELECT max(id) AS id FROM runs').get() as { id: number };
  s.touchRun(first.id, NOW - 60 * DAY_MS);
  s.endRun(first.id, NOW - 60 * DAY_MS, 'signal');
  const second = s.startRun({ instance: 'mini', pid: 2, version: '0.1.0', at: NOW - 50 * DAY_MS }).runId;
  outage('primary', NOW - 20 * DAY_MS, 30 * MIN, 'degraded', 'slow', false);
  s.insertGap({ runId: second, kind: 'sleep', from: NOW - 10 * DAY_MS, to: NOW - 10 * DAY_MS + 8 * HOUR_MS });
  outage('primary', NOW - 3 * DAY_MS, 20 * MIN, 'down', EVIL, true);
  outage('fallback', NOW - 40 * MIN, 0, 'down', 'refused', false);
  s.touchRun(second, NOW - 5_000);
  insertProbes(s, ['primary', 'fallback'], NOW - DAY_MS, NOW, 5);
}

function publishedState(): PublishedState {
  const node = (name: string, priority: number, status: 'up' | 'down', since: number, reason: string) => ({
    name,
    url: `http://10.0.0.${priority + 1}:11434`,
    model: 'llama3.2',
    api: 'ollama' as const,
    priority,
    status,
    since: iso(since),
    statusReason: reason,
    lastCheckAt: iso(NOW - 3_000),
    lastOkAt: status === 'up' ? iso(NOW - 3_000) : iso(NOW - 41 * MIN),
    consecutiveFailures: status === 'up' ? 0 : 12,
    consecutiveSuccesses: status === 'up' ? 40 : 0,
    lastError: null,
    latency: null,
  });
  return {
    schemaVersion: 1,
    updatedAt: iso(NOW - 2_000),
    staleAfterMs: 30_000,
    monitor: { instance: 'mini', version: '0.1.0', pid: 2, startedAt: iso(NOW - 50 * DAY_MS) },
    preferred: { name: 'primary', url: 'http://10.0.0.1:11434', model: 'llama3.2', api: 'ollama' },
    allDown: false,
    nodes: [node('primary', 0, 'up', NOW - 3 * DAY_MS + 20 * MIN, 'ok'), node('fallback', 1, 'down', NOW - 40 * MIN, 'refused')],
  };
}

function page(): string {
  return renderStatusPage(buildStatusModel(storage.history, publishedState(), NOW));
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }));
  });
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-status-page-'));
  storage = openStorage(path.join(tmp, 'sentinel.db'), { clock: new FakeClock(NOW) });
  writeHistory(storage);
});

afterAll(async () => {
  await server?.close();
  storage.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('status page HTML', () => {
  test('shows who is preferred, each node with 90 day bars (grey where not watched), the latency chart and incidents', () => {
    const html = page();
    const cards = html.split('<article class="node">').slice(1);
    expect(cards).toHaveLength(2);
    expect(cards[0]).toMatch(/<h2>primary <span class="tag">preferred<\/span><\/h2>/);
    expect(cards[1]).toMatch(/<h2>fallback<\/h2>\s*<span class="pill s-down">down<\/span>/);
    for (const card of cards) {
      expect(card.match(/<rect class="bar"/g)).toHaveLength(90);
      // The monitor was off from 60 to 50 days ago (13:20 to 13:20): nine whole UTC days without a verdict.
      expect((card.match(/<rect class="bar"[^>]*fill="#c5cad3"/g) ?? []).length).toBe(9);
    }
    // The day of the 3-hour outage is red on primary only.
    const outageDay = new Date(NOW - 80 * DAY_MS).toISOString().slice(0, 10);
    expect(cards[0]).toMatch(new RegExp(`fill="#d64545"><title>${outageDay}: uptime 87\\.50 %`));
    // The day the host slept 8 hours: still 100 % uptime, but a shorter bar over grey, and the tooltip says so.
    const sleepDay = new Date(NOW - 10 * DAY_MS).toISOString().slice(0, 10);
    expect(cards[1]).toMatch(new RegExp(`<rect class="bar-bg"[^>]*/><rect class="bar"[^>]*height="21" rx="1.5" fill="#2f9e5b"><title>${sleepDay}: uptime 100 %, watched 66.67 %`));
    expect(html).toContain('Apps are using <b>primary</b> (up). fallback is down.');
    expect(html).toMatch(/<svg class="chart"[^>]*>.*<path class="series" d="M[^"]+L/s);
    // Incidents of the last 30 days, newest first: the 80-day-old outage is only in its red bar.
    const causes = [...html.matchAll(/<span class="pill s-(?:down|degraded)">\w+<\/span><\/td><td>([^<]*)<\/td>/g)].map((m) => m[1]);
    expect(causes).toEqual(['refused', '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;', 'slow']);
    expect(html).toContain('<b>ongoing</b>');
    expect(html).toMatch(/<meta http-equiv="refresh" content="30">/);
  });

  test('is self-contained and escapes what it prints', () => {
    const html = page();
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(src|href|action|poster|srcset)\s*=\s*(?!["']?data:)/i);
    expect(html).not.toMatch(/url\(|@import|<script|<iframe|<object|<embed/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  test('without a published state it still draws every node the history knows; a stale state is flagged', () => {
    const history = storage.history;
    const bare = renderStatusPage(buildStatusModel(history, undefined, NOW));
    expect(bare).toContain('No preferred node yet');
    expect(bare.match(/<rect class="bar"/g)).toHaveLength(180);
    expect(bare).toMatch(/<span class="pill s-unknown">unknown<\/span>/);

    const stale = { ...publishedState(), updatedAt: iso(NOW - 10 * MIN) };
    expect(renderStatusPage(buildStatusModel(history, stale, NOW))).toMatch(/banner bad">The monitor has not written its state for 10m00s/);
    expect(page()).not.toContain('has not written its state');
    expect(renderStatusPage(buildStatusModel(history, { ...publishedState(), monitorOffline: true }, NOW))).toContain('own network is down');
    expect(page()).not.toContain('own network is down');
  });

  test('a busy node is up and says how long requests wait for a slot (issue 19)', () => {
    const st = publishedState();
    const busy = { ...st, nodes: st.nodes.map((n) => (n.name === 'primary' ? { ...n, queue: { busy: true, waitMs: 18_400, at: iso(NOW - 30_000) } } : n)) };
    const html = renderStatusPage(buildStatusModel(storage.history, busy, NOW));
    expect(html).toMatch(/<span class="pill s-up">up<\/span>.*busy: requests wait 18\.4s for a slot/);
    expect(page()).not.toContain('busy');
  });

  test('is served at GET / behind the same bearer token as the rest of the API', async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      token: new Secret('s3cret-token'),
      logger: silentLogger(),
      nodeNames: ['primary', 'fallback'],
      reportsPerMinute: 10,
      getState: () => undefined,
      health: () => ({ ok: true, detail: 'ok' }),
      metrics: createMetrics([], 'test', '0.0.0'),
      onReport: () => undefined,
      statusPage: page,
    });
    expect((await fetch(`${server.url}/`)).status).toBe(401);
    const res = await fetch(`${server.url}/`, { headers: { authorization: 'Bearer s3cret-token' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect((await res.text()).match(/<rect class="bar"/g)).toHaveLength(180);
  });
});

const haveChromium = fs.existsSync(CHROMIUM);
const screenshotTest = haveChromium ? test : test.skip;
describe('status page in a real browser', () => {
  screenshotTest(
    haveChromium ? 'renders in headless Chromium with no network request; screenshot saved to docs/status-page.png' : `screenshot SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`,
    async () => {
      const file = path.join(tmp, 'status.html');
      fs.writeFileSync(file, page());
      const shot = path.join(tmp, 'status.png');
      const netlog = path.join(tmp, 'net.json');
      const r = await run(CHROMIUM, [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // Belt and braces: no host name resolves, so nothing could leave the machine even if the page asked.
        '--host-resolver-rules=MAP * ~NOTFOUND',
        `--user-data-dir=${path.join(tmp, 'chromium')}`,
        `--log-net-log=${netlog}`,
        '--hide-scrollbars',
        '--window-size=960,1120',
        `--screenshot=${shot}`,
        `file://${file}`,
      ]);
      expect(r.code).toBe(0);
      const png = fs.readFileSync(shot);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // A blank page compresses to a few kB; bars, chart and text make it far larger.
      expect(png.length).toBeGreaterThan(30_000);
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      fs.copyFileSync(shot, SCREENSHOT);

      // Requests the page made carry its origin as initiator; the browser's own housekeeping says "not an origin".
      const log = JSON.parse(fs.readFileSync(netlog, 'utf8')) as { constants: { logEventTypes: Record<string, number> }; events: Array<{ type: number; params?: { url?: string; initiator?: string } }> };
      const startJob = log.constants.logEventTypes.URL_REQUEST_START_JOB;
      const fromPage = log.events.filter((e) => e.type === startJob && e.params?.url !== undefined && e.params.initiator !== 'not an origin').map((e) => e.params?.url);
      expect(fromPage).toEqual([]);
    },
  );
});
