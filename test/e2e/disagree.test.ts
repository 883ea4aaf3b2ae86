import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSentinelClient } from '../../src/client';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { emailAlertsYaml, freePort, mailTitle, startSmtp, type SmtpFixture } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

jest.setTimeout(300_000);

/*
 * Issue 22 "Show": two real daemons that disagree about the primary for 60 s, and an app reading both every
 * 250 ms. Probes, decision, state and peer polling are at their defaults (liveness every 10 s, fall 3, poll
 * every 10 s); only peers.disagreeAfter is 20s instead of 2m so the alert comes within the minute (the default
 * is covered by the unit table). The path problem: from `oracle` the primary answers Cloudflare's 530, from
 * `mac` it is healthy. Each monitor reaches "the primary" through its own simulator, as two hosts reach one
 * node through different networks; the app reaches it as mac does.
 */
const TOKEN = 'tok-disagree-51d2';
const PASSWORD = 'smtp-disagree-pass';

interface Mon {
  name: 'mac' | 'oracle';
  dir: string;
  stateFile: string;
  port: number;
  proc?: DaemonProcess;
}

function config(m: Mon, other: Mon, primary: string, fallback: string, smtpPort: number): string {
  const file = join(m.dir, 'config.yaml');
  writeFileSync(
    file,
    `instance: ${m.name}
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback}", model: llama3.2 }
stateFile: state.json
database: sentinel.db
http: { listen: "127.0.0.1:${m.port}", token: "${TOKEN}" }
peers:
  disagreeAfter: 20s
  monitors:
    - { name: ${other.name}, url: "http://127.0.0.1:${other.port}", token: "${TOKEN}" }
${emailAlertsYaml(smtpPort, PASSWORD)}`,
  );
  return file;
}

describe('two monitors that disagree (real daemons at defaults)', () => {
  let root: string;
  let seenByMac: Simulator;
  let seenByOracle: Simulator;
  let fallback: Simulator;
  let smtp: SmtpFixture;
  const mons: Mon[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sentinel-disagree-'));
    seenByMac = await startSimulator();
    seenByOracle = await startSimulator();
    fallback = await startSimulator();
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD });
  });
  afterAll(async () => {
    await Promise.all(mons.map((m) => m.proc?.kill9()));
    await smtp?.close();
    await Promise.all([seenByMac?.close(), seenByOracle?.close(), fallback?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  test('the app changes endpoint at most once in 60 s of disagreement; one alert and one recovery; a shared outage still moves it at once', async () => {
    const mk = async (name: Mon['name']): Promise<Mon> => {
      const dir = join(root, name);
      mkdirSync(dir);
      const m: Mon = { name, dir, stateFile: join(dir, 'state.json'), port: await freePort() };
      mons.push(m);
      return m;
    };
    const mac = await mk('mac');
    const oracle = await mk('oracle');
    const macConfig = config(mac, oracle, seenByMac.url, fallback.url, smtp.port);
    const oracleConfig = config(oracle, mac, seenByOracle.url, fallback.url, smtp.port);
    mac.proc = spawnDaemon(['run', '--config', macConfig]);
    oracle.proc = spawnDaemon(['run', '--config', oracleConfig]);
    const healthy = (s: Parameters<typeof statusOf>[0]) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up';
    await Promise.all([waitForState(mac.stateFile, healthy, 60_000), waitForState(oracle.stateFile, healthy, 60_000)]);
    for (const [m, o] of [
      [mac, oracle],
      [oracle, mac],
    ] as const) {
      await waitFor(`${m.name} hearing from ${o.name}`, () => m.proc?.output().includes(`peer ${o.name} answers`) ?? false, 30_000);
    }

    // Two apps reading both monitors every 250 ms from before the path problem begins: `reader` only asks
    // for the endpoint (the app); `worker` also sends a real request every second through the client.
    const make = () =>
      createSentinelClient({
        nodes: [
          { name: 'primary', url: seenByMac.url },
          { name: 'fallback', url: fallback.url },
        ],
        stateUrls: [`http://127.0.0.1:${mac.port}/state`, `http://127.0.0.1:${oracle.port}/state`],
        token: TOKEN,
        env: {},
        reports: false,
      });
    const apps = { reader: make(), worker: make() };
    const reads: Record<keyof typeof apps, Array<{ at: number; name: string; settled: boolean }>> = { reader: [], worker: [] };
    const served: string[] = [];
    let reading = true;
    const loops = (Object.keys(apps) as Array<keyof typeof apps>).map(async (k) => {
      let n = 0;
      while (reading) {
        const p = await apps[k].getPreferredEndpoint();
        reads[k].push({ at: Date.now(), name: p.name, settled: p.disagreement !== undefined });
        if (k === 'worker' && n++ % 4 === 0) {
          const res = await apps.worker.fetchWithFallback('/api/generate', { model: 'llama3.2', prompt: 'Reply with PONG', stream: false });
          served.push(res.url.startsWith(seenByMac.url) ? 'primary' : 'fallback');
          await res.body?.cancel();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    });
    const changes = (k: keyof typeof apps, from: number, to = Number.POSITIVE_INFINITY) => {
      const w = reads[k].filter((r) => r.at >= from && r.at <= to);
      return w.slice(1).filter((r, i) => r.name !== w[i]?.name).length;
    };

    try {
      await seenByOracle.setFault('cf_tunnel_down');
      await waitForState(oracle.stateFile, (s) => statusOf(s, 'primary') === 'down' && s.preferred.name === 'fallback', 60_000);
      const disagreeFrom = Date.now();
      // 60 s in which no monitor's own view changes: mac sees up, oracle sees down.
      await new Promise((r) => setTimeout(r, 60_000));
      const disagreeTo = Date.now();
      for (const k of ['reader', 'worker'] as const) {
        // From one state read (ttlMs 2 s) after oracle published its view, every answer settles the disagreement.
        const during = reads[k].filter((r) => r.at >= disagreeFrom + 3_000 && r.at <= disagreeTo);
        expect(during.length).toBeGreaterThan(100);
        expect(during.every((r) => r.settled)).toBe(true);
        // The freshest-document rule alternated here (16 changes in the minute). Over the whole run so
        // far, from before the disagreement began: at most one change.
        expect(changes(k, 0, disagreeTo)).toBeLessThanOrEqual(1);
      }
      // The reader has no evidence of its own: bad news (oracle saw the primary go down) moved it once, to the
      // fallback. The worker's own requests to the primary succeed: it stayed on the primary all along.
      expect(new Set(reads.reader.filter((r) => r.at >= disagreeFrom + 3_000 && r.at <= disagreeTo).map((r) => r.name))).toEqual(new Set(['fallback']));
      expect(new Set(reads.worker.filter((r) => r.at <= disagreeTo).map((r) => r.name))).toEqual(new Set(['primary']));
      expect(served.length).toBeGreaterThan(20);
      expect(new Set(served)).toEqual(new Set(['primary']));

      // The disagreement, reported by the monitors: one alert through the voice (mac ranks first), /metrics on each.
      await waitFor('the disagreement mail', () => smtp.mails.some((m) => /monitors disagree about primary/.test(mailTitle(m))), 30_000);
      const mail = smtp.mails.find((m) => /monitors disagree about primary/.test(mailTitle(m)));
      expect(mailTitle(mail)).toBe('[llm-sentinel] monitors disagree about primary: mac sees up, oracle sees down (Cloudflare tunnel down)');
      for (const [m, own, theirs, peer] of [
        [mac, 'up', 'down', 'oracle'],
        [oracle, 'down', 'up', 'mac'],
      ] as const) {
        const res = await fetch(`http://127.0.0.1:${m.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const text = await res.text();
        expect(text).toContain(`llm_sentinel_peer_node_disagree{peer="${peer}",node="primary",own="${own}",theirs="${theirs}"} 1`);
        expect(text).toContain(`llm_sentinel_peer_node_disagree{peer="${peer}",node="fallback",own="up",theirs="up"} 0`);
      }

      // Control: the outage reaches mac's path too. Once both monitors see it, the app is on the fallback
      // within one state read (ttlMs 2 s + the 250 ms loop), as with one monitor.
      await seenByMac.setFault('cf_tunnel_down');
      await waitForState(mac.stateFile, (s) => statusOf(s, 'primary') === 'down' && s.preferred.name === 'fallback', 60_000, 20);
      const bothAt = Date.now();
      for (const k of ['reader', 'worker'] as const) {
        await waitFor(`${k} on the fallback`, () => reads[k].some((r) => r.at >= bothAt && r.name === 'fallback'), 10_000);
        const onFallback = reads[k].find((r) => r.at >= bothAt && r.name === 'fallback')?.at ?? Number.NaN;
        expect(onFallback - bothAt).toBeLessThan(4_000);
      }

      // They agree again: one recovery mail, and only one disagreement mail in all.
      await waitFor('the agreement mail', () => smtp.mails.some((m) => /monitors agree again about primary/.test(mailTitle(m))), 40_000);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(smtp.mails.filter((m) => /monitors disagree about primary/.test(mailTitle(m)))).toHaveLength(1);
      const agree = smtp.mails.filter((m) => /monitors agree again about primary/.test(mailTitle(m)));
      expect(agree).toHaveLength(1);
      expect(mailTitle(agree[0])).toMatch(/^\[llm-sentinel\] monitors agree again about primary after [\dhms.]+: mac sees down \(Cloudflare tunnel down\), oracle sees down \(Cloudflare tunnel down\)$/);
    } finally {
      reading = false;
      await Promise.all(loops);
    }
  });
});
