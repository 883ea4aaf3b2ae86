import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { emailAlertsYaml, freePort, mailTitle, startSmtp, type ReceivedMail, type SmtpFixture } from '../helpers/smtp';
import { alertRows, writeFastConfig } from '../helpers/daemon-config';
import { sleep, waitFor } from '../helpers/wait';

jest.setTimeout(150_000);

/*
 * One voice under the faults two hosts really meet (issue 20): two real daemons, each reaching the other and
 * its SMTP server only through a loopback TCP fault proxy, so one direction of a link can die while the other
 * lives. `mac` ranks first and shares its host with `primary` (sharesHostWith); peer settings are compressed
 * (poll 1 s, silent after 5 s, takeoverAfter 3 s) so the scenarios run in seconds.
 */

const PASSWORD = 'smtp-peer-faults';
const TOKENS = { mac: 'tok-mac-51c2', oracle: 'tok-oracle-80e7' } as const;
type Name = keyof typeof TOKENS;

interface Monitor {
  name: Name;
  dir: string;
  config: string;
  stateFile: string;
  db: string;
  port: number;
  /** Its SMTP path. */
  smtp: FaultProxy;
  /** How the other monitor reaches this one's API. */
  inbound: FaultProxy;
  proc?: DaemonProcess;
}

interface Options {
  rank?: string;
  peers?: boolean;
  timeout?: string;
  silentAfter?: string;
  /** The peer's entry as this monitor lists it (misconfigurations): its name, URL and token. */
  peerName?: string;
  peerUrl?: string;
  peerToken?: string;
  /** The deploy guides' shape: one `peers.token` both monitors share (opens /peer only), no token per peer. */
  sharedPeerToken?: string;
}

function writeConfig(m: Monitor, other: Monitor, primary: string, fallback: string, o: Options = {}): void {
  const shares = m.name === 'oracle' ? ', sharesHostWith: primary' : '';
  const peers =
    o.peers === false
      ? ''
      : `peers:
  interval: 1s
  silentAfter: ${o.silentAfter ?? '5s'}
  timeout: ${o.timeout ?? '2s'}
  takeoverAfter: 3s
  rank: ${o.rank ?? '[mac, oracle]'}
${o.sharedPeerToken ? `  token: "${o.sharedPeerToken}"
` : ''}  monitors:
    - { name: ${o.peerName ?? other.name}, url: "${o.peerUrl ?? other.inbound.url}"${o.sharedPeerToken ? '' : `, token: "${o.peerToken ?? TOKENS[other.name]}"`}${shares} }
`;
  writeFastConfig(m.dir, primary, fallback, `http: { listen: "127.0.0.1:${m.port}", token: "${TOKENS[m.name]}" }
${peers}${emailAlertsYaml(m.smtp.port, PASSWORD)}`, { instance: m.name });
}

const kind = (m: ReceivedMail) => m.headers.get('x-llm-sentinel-kind') ?? '?';
const by = (m: ReceivedMail) => m.headers.get('x-llm-sentinel-instance') ?? '?';
const count = (mails: ReceivedMail[], k: string) => mails.filter((m) => kind(m) === k).length;

describe('one voice under link faults (two real daemons, fault proxies)', () => {
  let root: string;
  let primary: Simulator;
  let fallback: Simulator;
  let sink: SmtpFixture;
  let mac: Monitor;
  let oracle: Monitor;
  const proxies: FaultProxy[] = [];

  const start = (m: Monitor) => {
    m.proc = spawnDaemon(['run', '--config', m.config]);
  };
  const ready = (m: Monitor) => waitForState(m.stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 20_000);
  const startBoth = async (peered = true) => {
    start(mac);
    start(oracle);
    await Promise.all([ready(mac), ready(oracle)]);
    if (!peered) return;
    for (const [m, o] of [[mac, oracle], [oracle, mac]] as const) {
      await waitFor(`${m.name} hearing from ${o.name}`, () => m.proc?.output().includes(`peer ${o.name} answers`) ?? false, 15_000);
    }
  };

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'sentinel-peer-faults-'));
    primary = await startSimulator();
    fallback = await startSimulator();
    sink = await startSmtp({ user: 'sentinel', password: PASSWORD });
    const mk = async (name: Name): Promise<Monitor> => {
      const dir = join(root, name);
      mkdirSync(dir);
      const port = await freePort();
      const smtp = await startFaultProxy(sink.port);
      const inbound = await startFaultProxy(port);
      proxies.push(smtp, inbound);
      return { name, dir, config: join(dir, 'config.yaml'), stateFile: join(dir, 'state.json'), db: join(dir, 'sentinel.db'), port, smtp, inbound };
    };
    mac = await mk('mac');
    oracle = await mk('oracle');
    writeConfig(mac, oracle, primary.url, fallback.url);
    writeConfig(oracle, mac, primary.url, fallback.url);
  });

  afterEach(async () => {
    await Promise.all([mac.proc?.kill9(), oracle.proc?.kill9()]);
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    await sink.close();
    await primary.close();
    await fallback.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('the tunnel outage: oracle cannot reach mac, mac still reaches oracle: 1 DOWN and 1 RECOVERED, nothing says the live Mac is silent or down', async () => {
    await startBoth();
    // The tunnel dies: the primary answers 530 and oracle's path to mac's monitor goes with it.
    await primary.setFault('cf_tunnel_down');
    mac.inbound.set('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 20_000);
    // Longer than silentAfter (5 s): mac's polls still reach oracle, so oracle hears it.
    await sleep(8_000);
    // /metrics and the status page say so: mac heard (through its own polls), mac speaks.
    const auth = { authorization: `Bearer ${TOKENS.oracle}` };
    const metrics = await (await fetch(`http://127.0.0.1:${oracle.port}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/^llm_sentinel_peer_heard\{monitor="mac"\} 1$/m);
    expect(metrics).toMatch(/^llm_sentinel_peer_speaks\{monitor="mac"\} 1$/m);
    expect(metrics).toMatch(/^llm_sentinel_peer_speaks\{monitor="oracle"\} 0$/m);
    const age = Number(/^llm_sentinel_peer_last_heard_age_seconds\{monitor="mac"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(age).toBeLessThan(5);
    const page = await (await fetch(`http://127.0.0.1:${oracle.port}/`, { headers: auth })).text();
    expect(page).toMatch(/<h2>Monitors<\/h2>/);
    expect(page).toMatch(/<td>mac<\/td><td>heard<\/td><td>[\d.]+ s ago<\/td><td>speaks<\/td>/);
    await primary.setFault('none');
    await waitFor('the RECOVERED mail', () => count(sink.mails, 'recovered') >= 1, 25_000);
    await waitFor("oracle's recovery row", () => alertRows(oracle.db).some((a) => a.kind === 'recovered'), 15_000);
    await sleep(4_000);
    mac.inbound.set('pass');

    expect(sink.mails.map((m) => `${by(m)}:${kind(m)}`)).toEqual(['mac:primaryDown', 'mac:recovered']);
    expect(sink.mails.some((m) => /silent|looks down/i.test(m.text))).toBe(false);
    expect(oracle.proc?.output()).not.toMatch(/peer mac is silent|host looks down/);
    // oracle kept its copies pending until mac's report showed them sent, then dropped them.
    expect(alertRows(oracle.db).filter((a) => a.kind === 'primaryDown' || a.kind === 'recovered').map((a) => [a.kind, a.suppressed, JSON.parse(a.facts).heldBy])).toEqual([
      ['primaryDown', 'peer', 'mac'],
      ['recovered', 'peer', 'mac'],
    ]);
  });

  test("the speaker is live but its SMTP server refuses: the outage is mailed once, by oracle, within takeoverAfter; mac's copy is dropped when its mail path is back", async () => {
    await startBoth();
    mac.smtp.set('refuse');
    const cut = Date.now();
    await primary.setFault('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 30_000);
    const delay = Date.now() - cut;
    const first = sink.mails[0] as ReceivedMail;
    expect(by(first)).toBe('oracle');
    // Detection (about 2 s here) + takeoverAfter (3 s) + mac's report of its failing delivery; generous for a loaded machine.
    expect(delay).toBeLessThan(15_000);
    mac.smtp.set('pass');
    await waitFor("mac's copy dropped", () => alertRows(mac.db).some((a) => a.kind === 'primaryDown' && a.suppressed === 'peer'), 30_000);
    await sleep(2_000);
    expect(count(sink.mails, 'primaryDown')).toBe(1);
    expect(JSON.parse(alertRows(mac.db).find((a) => a.kind === 'primaryDown')?.facts ?? '{}').heldBy).toBe('oracle');
  });

  test('both restarting mid-outage, the node recovering in their first seconds: exactly one RECOVERED', async () => {
    await startBoth();
    await primary.setFault('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 20_000);
    await waitFor("oracle's copy dropped", () => alertRows(oracle.db).some((a) => a.kind === 'primaryDown' && a.suppressed === 'peer'), 15_000);
    await Promise.all([mac.proc?.kill9(), oracle.proc?.kill9()]);
    await primary.setFault('none');
    start(mac);
    start(oracle);
    // Both decide the recovery before they have heard from each other: it waits behind the gate, not dropped.
    await waitFor('the RECOVERED mail', () => count(sink.mails, 'recovered') >= 1, 30_000);
    await waitFor('both recovery rows', () => [mac, oracle].every((m) => alertRows(m.db).some((a) => a.kind === 'recovered')), 15_000);
    await sleep(6_000);
    expect(sink.mails.map((m) => kind(m))).toEqual(['primaryDown', 'recovered']);
    const [down, rec] = sink.mails as [ReceivedMail, ReceivedMail];
    expect(rec.inReplyTo).toBe(down.messageId);
  });

  test('a two-way partition, both confirming the outage on their own: its first mail arrives at most twice, under ONE Message-ID; links back before the recovery: ONE RECOVERED, in that thread', async () => {
    // Peered as the deploy guides say: one shared peers.token, which opens /peer and nothing else.
    const shared = 'tok-shared-peer-3f1a';
    writeConfig(mac, oracle, primary.url, fallback.url, { sharedPeerToken: shared });
    writeConfig(oracle, mac, primary.url, fallback.url, { sharedPeerToken: shared });
    await startBoth();
    for (const m of [mac, oracle]) {
      expect((await fetch(`http://127.0.0.1:${m.port}/state`, { headers: { authorization: `Bearer ${shared}` } })).status).toBe(401);
    }
    // Before the partition they agree on the chain a new outage is numbered in (docs/alerts.md "Threads and Message-IDs").
    const lastKey = async (m: Monitor) => {
      const r = (await (await fetch(`http://127.0.0.1:${m.port}/peer`, { headers: { authorization: `Bearer ${shared}` } })).json()) as { lastKeys?: Array<{ node: string; key: string }> };
      return r.lastKeys?.find((k) => k.node === 'primary')?.key;
    };
    let keys: Array<string | undefined> = [];
    await waitFor('one chain on both', async () => {
      keys = await Promise.all([lastKey(mac), lastKey(oracle)]);
      return keys[0] !== undefined && keys[0] === keys[1];
    }, 15_000);
    mac.inbound.set('refuse');
    oracle.inbound.set('refuse');
    await primary.setFault('refuse');
    // mac mails it as the speaker; oracle, hearing nothing, takes over after takeoverAfter (its copy may be the
    // "host looks down" mail that replaces its start: mac and primary are gone from where it stands).
    const roots = () => sink.mails.filter((m) => /^<outage\./.test(m.messageId));
    await waitFor('both monitors mailing the start', () => new Set(roots().map(by)).size === 2, 30_000);
    expect(new Set(roots().map((m) => m.messageId)).size).toBe(1);
    expect(roots()).toHaveLength(2);
    // Each named it after its own confirmed-down time (the X-LLM-Sentinel-Outage header): only the thread is shared.
    expect(roots().map((m) => m.headers.get('x-llm-sentinel-outage')).every((k) => k?.startsWith(`${roots()[0]?.messageId.slice('<outage.'.length, -'@llm-sentinel>'.length)}.`))).toBe(true);
    mac.inbound.set('pass');
    oracle.inbound.set('pass');
    const hears = async (m: Monitor, other: Name) => {
      const metrics = await (await fetch(`http://127.0.0.1:${m.port}/metrics`, { headers: { authorization: `Bearer ${TOKENS[m.name]}` } })).text();
      return new RegExp(`^llm_sentinel_peer_heard\\{monitor="${other}"\\} 1$`, 'm').test(metrics);
    };
    await waitFor('both hearing each other again', async () => (await hears(mac, 'oracle')) && (await hears(oracle, 'mac')), 20_000);
    await sleep(3_000);
    await primary.setFault('none');
    await waitFor('the RECOVERED mail', () => count(sink.mails, 'recovered') >= 1, 30_000);
    await waitFor('both recovery rows', () => [mac, oracle].every((m) => alertRows(m.db).some((a) => a.kind === 'recovered')), 15_000);
    await sleep(6_000);
    const recs = sink.mails.filter((m) => kind(m) === 'recovered');
    expect(recs.map(by)).toEqual(['mac']);
    expect(recs[0]?.inReplyTo).toBe(roots()[0]?.messageId);
    // The follower's copy was held because mac's report showed it sent, not lost.
    expect(alertRows(oracle.db).filter((a) => a.kind === 'recovered').map((a) => [a.suppressed, JSON.parse(a.facts).heldBy])).toEqual([['peer', 'mac']]);
  });

  test('a peer answering in 8 s stays live: logged slow, never mailed silent', async () => {
    // Each direction adds 4 s: a poll's answer takes about 8 s, past the old 5 s deadline.
    writeConfig(mac, oracle, primary.url, fallback.url, { timeout: '12s', silentAfter: '20s' });
    writeConfig(oracle, mac, primary.url, fallback.url, { timeout: '12s', silentAfter: '20s' });
    mac.inbound.set('pass', 4_000);
    oracle.inbound.set('pass', 4_000);
    await startBoth(false);
    await waitFor('oracle logging mac slow', () => /peer mac is slow: answered in \d+ms/.test(oracle.proc?.output() ?? ''), 30_000);
    await sleep(25_000);
    expect(count(sink.mails, 'monitorSilent')).toBe(0);
    // Once it answered (a poll before mac's server listened may fail: that is start-up, not slowness), never
    // "not answering" again.
    const out = oracle.proc?.output() ?? '';
    expect(out).toContain('peer mac answers');
    expect(out.slice(out.indexOf('peer mac answers'))).not.toMatch(/peer mac is not answering/);
  });

  test('ranks that disagree: one "monitors disagree" mail, /healthz says it on both, and one voice still (one DOWN)', async () => {
    writeConfig(oracle, mac, primary.url, fallback.url, { rank: '[oracle, mac]' });
    await startBoth();
    await waitFor('the disagreement mail', () => count(sink.mails, 'peerMisconfigured') >= 1, 20_000);
    for (const m of [mac, oracle]) {
      const res = await fetch(`http://127.0.0.1:${m.port}/healthz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/monitors disagree: peer (mac|oracle) has a different peers.rank/);
    }
    await primary.setFault('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 20_000);
    await sleep(8_000);
    expect(count(sink.mails, 'peerMisconfigured')).toBe(1);
    expect(count(sink.mails, 'primaryDown')).toBe(1);
    expect(sink.mails.find((m) => kind(m) === 'peerMisconfigured')?.subject).toMatch(/monitors disagree: peer (mac|oracle) has a different peers\.rank/);
  });

  test('peers configured on one side only (/peer answers 404): one "monitors disagree" mail', async () => {
    writeConfig(oracle, mac, primary.url, fallback.url, { peers: false });
    await startBoth(false);
    await waitFor('the disagreement mail', () => count(sink.mails, 'peerMisconfigured') >= 1, 20_000);
    await sleep(3_000);
    expect(count(sink.mails, 'peerMisconfigured')).toBe(1);
    expect(sink.mails.find((m) => kind(m) === 'peerMisconfigured')?.subject).toMatch(/monitors disagree: peer oracle has no peers configured \(its \/peer answers 404\)/);
  });
  /** One misconfiguration on mac's side: exactly one "monitors disagree" mail naming it, /healthz 503 saying it, one DOWN. */
  const oneMisconfiguration = async (problem: RegExp, peered: boolean, alsoMailed: RegExp[] = []) => {
    await startBoth(false);
    if (peered) await waitFor('mac hearing from oracle', () => mac.proc?.output().includes('peer oracle answers') ?? false, 15_000);
    await waitFor('the disagreement mail', () => count(sink.mails, 'peerMisconfigured') >= 1, 20_000);
    const res = await fetch(`http://127.0.0.1:${mac.port}/healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { detail: string }).detail).toMatch(new RegExp(`monitors disagree: ${problem.source}`));
    await primary.setFault('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 20_000);
    await sleep(8_000);
    const mis = sink.mails.filter((m) => kind(m) === 'peerMisconfigured');
    const titles = mis.map((m) => mailTitle(m));
    expect(titles.filter((t) => problem.test(t))).toEqual([expect.stringMatching(new RegExp(`^\\[llm-sentinel\\] monitors disagree: ${problem.source}`))]);
    expect(mis.find((m) => problem.test(m.subject ?? ''))).toBeDefined();
    expect(titles.filter((t) => !problem.test(t))).toEqual(alsoMailed.map((r) => expect.stringMatching(r)));
    expect(count(sink.mails, 'primaryDown')).toBe(1);
    expect(count(sink.mails, 'monitorSilent')).toBe(0);
  };

  test('a peer listed under another name than its instance: one "monitors disagree" mail naming both names', async () => {
    // mac lists oracle as "oracle-vm" (a rename on one host only); oracle is "oracle" and lists mac rightly.
    writeConfig(mac, oracle, primary.url, fallback.url, { peerName: 'oracle-vm', rank: '[mac, oracle-vm]' });
    // oracle, for its part, truly sees a different peers.rank from mac (mac ranks "oracle-vm"): that is mailed
    // once too (a second, distinct problem, seen from the other side), never repeated.
    // mac never hears a monitor called "oracle-vm" (oracle's reports come in as "oracle", a stranger), but a live
    // monitor answers that URL: it is not also mailed "silent" (no monitorSilent, asserted in the helper).
    await oneMisconfiguration(/peer oracle-vm answers as instance "oracle"/, false, [/monitors disagree: peer mac has a different peers\.rank \(mac, oracle-vm; ours mac, oracle\)/]);
  });

  test('a peer refusing our token (401): one "monitors disagree" mail, /healthz 503 on the refused side', async () => {
    writeConfig(mac, oracle, primary.url, fallback.url, { peerToken: 'tok-oracle-wrong' });
    // mac never hears oracle's own answers, only the reports oracle POSTs to it (no "peer oracle answers" line).
    await oneMisconfiguration(/peer oracle refuses our token \(401\)/, false);
  });

  test('a 302 to a login page in front of /peer (Cloudflare Access): one "monitors disagree" mail naming the redirect', async () => {
    // Cloudflare Access answers an unauthenticated request with 302 to <team>.cloudflareaccess.com/cdn-cgi/access/login/<host>.
    const access: Server = createServer((req, res) => {
      res.writeHead(302, { location: 'https://team.cloudflareaccess.com/cdn-cgi/access/login/oracle.example.com?redirect_url=%2Fpeer' });
      res.end();
    });
    await new Promise<void>((r) => access.listen(0, '127.0.0.1', r));
    try {
      const port = (access.address() as { port: number }).port;
      writeConfig(mac, oracle, primary.url, fallback.url, { peerUrl: `http://127.0.0.1:${port}` });
      await oneMisconfiguration(/peer oracle answers redirect \(302 to https:\/\/team\.cloudflareaccess\.com\/cdn-cgi\/access\/login/, true);
    } finally {
      access.closeAllConnections();
      await new Promise((r) => access.close(r));
    }
  });
  test('the speaker (mac) listed under another name by the follower: its name problem and the rank consequence mailed once each, one DOWN', async () => {
    // oracle lists mac as "mac-mini": oracle never hears a monitor of that name, yet mac speaks alone.
    writeConfig(oracle, mac, primary.url, fallback.url, { peerName: 'mac-mini', rank: '[mac-mini, oracle]' });
    await startBoth(false);
    await waitFor('the disagreement mails', () => count(sink.mails, 'peerMisconfigured') >= 2, 20_000);
    const res = await fetch(`http://127.0.0.1:${oracle.port}/healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/monitors disagree: peer mac-mini answers as instance "mac"/);
    await primary.setFault('refuse');
    await waitFor('the DOWN mail', () => count(sink.mails, 'primaryDown') >= 1, 20_000);
    await sleep(8_000);
    expect(sink.mails.filter((m) => kind(m) === 'peerMisconfigured').map((m) => mailTitle(m)).sort()).toEqual([
      '[llm-sentinel] monitors disagree: peer mac-mini answers as instance "mac": names must match each monitor\'s instance',
      '[llm-sentinel] monitors disagree: peer oracle has a different peers.rank (mac-mini, oracle; ours mac, oracle)',
    ]);
    expect(sink.mails.filter((m) => kind(m) === 'primaryDown').map((m) => by(m))).toEqual(['mac']);
    expect(count(sink.mails, 'monitorSilent')).toBe(0);
  });
});
