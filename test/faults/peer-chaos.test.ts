import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startSimulator, type Simulator } from '../../src/simulator';
import { mulberry32 } from '../../src/util/random';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { emailAlertsYaml, freePort, startSmtp, type SmtpFixture } from '../helpers/smtp';
import { judgeChaos, type ChaosOutage } from '../helpers/chaos-judge';
import { writeFastConfig } from '../helpers/daemon-config';
import { sleep, waitFor } from '../helpers/wait';

/*
 * Chaos between two monitors (issue 20): real daemons, a loopback TCP fault proxy between them (each
 * direction on its own) and in front of each one's SMTP server, and a seeded random schedule of events:
 * one-way and two-way partitions, kill -9 and restart, SMTP refusing on either side, a wall-clock step of
 * ±2 min (test/helpers/clock-offset.js), primary outages and recoveries. At most one monitor is dead at a
 * time (an outage nobody watches cannot be mailed), and an outage lasts long enough to be confirmed.
 *
 * Invariant: every outage's DOWN (its thread's first mail) and RECOVERED reach the sink at least once, within
 * BOUND_MS of the end of the schedule's last fault; a mail arrives more than once only with the same
 * Message-ID, except where docs/alerts.md ("What a partition costs") says an outage is named by time: in a two-way
 * partition, by a monitor that restarted and has not heard its peer since. A failure prints the seed: CHAOS_SEED=<seed> reruns it.
 * CHAOS_EVENTS sets the schedule's length (CI: 20; `npm run bench -- chaos` runs a long one), CHAOS_REPORT
 * a file for the figures.
 */

const EVENTS = Number(process.env.CHAOS_EVENTS ?? 20);
/** CI runs a fixed seed (a reproducible schedule); CHAOS_SEED=random draws one, printed with the figures. */
const SEED = process.env.CHAOS_SEED === 'random' ? Date.now() % 100_000 : Number(process.env.CHAOS_SEED ?? 23);
/** From healing everything to the last outage's mails: detection, takeoverAfter, restarts, SMTP retries. */
const BOUND_MS = 60_000;
jest.setTimeout(60_000 + EVENTS * 9_000 + BOUND_MS);

const PASSWORD = 'chaos-smtp';
const TOKENS = { mac: 'tok-chaos-mac', oracle: 'tok-chaos-oracle' } as const;
type Name = keyof typeof TOKENS;
const PRELOAD = join(__dirname, '..', 'helpers', 'clock-offset.js');

interface Monitor {
  name: Name;
  dir: string;
  config: string;
  stateFile: string;
  clockFile: string;
  port: number;
  smtp: FaultProxy;
  inbound: FaultProxy;
  proc?: DaemonProcess;
  dead: boolean;
  /** Runs started so far (CHAOS_KEEP names each run's log after it). */
  runs: number;
  /** When it was last (re)started or killed (true time). */
  changedAt: number;
  /** It restarted and has not heard its peer since: it names outages by time (it may have missed some). */
  behind: boolean;
  /** Its wall-clock offset over time, for the judge. */
  offsets: Array<{ from: number; offset: number }>;
}

function writeConfig(m: Monitor, other: Monitor, primary: string, fallback: string): void {
  writeFastConfig(
    m.dir,
    primary,
    fallback,
    `http: { listen: "127.0.0.1:${m.port}", token: "${TOKENS[m.name]}" }
peers:
  interval: 1s
  silentAfter: 5s
  timeout: 2s
  takeoverAfter: 3s
  rank: [mac, oracle]
  monitors:
    - { name: ${other.name}, url: "${other.inbound.url}", token: "${TOKENS[other.name]}"${m.name === 'oracle' ? ', sharesHostWith: primary' : ''} }
${emailAlertsYaml(m.smtp.port, PASSWORD).replace('  retry: { initial: 200ms, max: 1s }', '  retry: { initial: 500ms, max: 2s, giveUpAfter: 1h }\n  flapping: { transitions: 0 }')}`,
    { instance: m.name, failbackHold: '1s' },
  );
}

/** excused: named by time by a monitor that restarted apart (docs/alerts.md "What a partition costs"). */
type Outage = ChaosOutage & { excused: boolean };

export interface ChaosFigures {
  seed: number;
  events: number;
  outages: number;
  exactlyOnce: number;
  duplicatesSameId: number;
  duplicatesOtherId: number;
  lost: number;
  worstDelayMs: number;
  log: string[];
}

describe('chaos between two monitors (seeded)', () => {
  let root: string;
  let primary: Simulator;
  let fallback: Simulator;
  let sink: SmtpFixture;
  const mons: Monitor[] = [];
  const proxies: FaultProxy[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sentinel-chaos-'));
    primary = await startSimulator();
    fallback = await startSimulator();
    sink = await startSmtp({ user: 'sentinel', password: PASSWORD });
  });

  afterAll(async () => {
    await Promise.all(mons.map((m) => m.proc?.kill9()));
    // CHAOS_KEEP=1: keep the databases and every daemon run's log for a post-mortem.
    if (process.env.CHAOS_KEEP) {
      for (const m of mons) writeFileSync(join(m.dir, `daemon-${m.runs}.log`), m.proc?.output() ?? '');
      process.stderr.write(`chaos: kept ${root}\n`);
      return closeAll();
    }
    await closeAll();
    rmSync(root, { recursive: true, force: true });
  });
  const closeAll = async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await sink.close();
    await primary.close();
    await fallback.close();
  };

  test(`a seeded schedule of ${EVENTS} events: every outage's DOWN and RECOVERED arrive, none lost (seed printed on failure)`, async () => {
    const rnd = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const log: string[] = [];
    const t0 = Date.now();
    const say = (s: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`);

    for (const name of ['mac', 'oracle'] as const) {
      const dir = join(root, name);
      mkdirSync(dir);
      const port = await freePort();
      const smtp = await startFaultProxy(sink.port);
      const inbound = await startFaultProxy(port);
      proxies.push(smtp, inbound);
      mons.push({ name, dir, config: join(dir, 'config.yaml'), stateFile: join(dir, 'state.json'), clockFile: join(dir, 'clock-offset'), port, smtp, inbound, dead: false, runs: 0, changedAt: Date.now(), behind: false, offsets: [] });
    }
    const [mac, oracle] = mons as [Monitor, Monitor];
    writeConfig(mac, oracle, primary.url, fallback.url);
    writeConfig(oracle, mac, primary.url, fallback.url);
    const start = (m: Monitor) => {
      m.runs++;
      m.behind = m.runs > 1;
      m.proc = spawnDaemon(['run', '--config', m.config], { NODE_OPTIONS: `--require ${PRELOAD}`, SENTINEL_TEST_CLOCK_FILE: m.clockFile });
      m.dead = false;
      m.changedAt = Date.now();
    };
    start(mac);
    start(oracle);
    for (const m of mons) await waitForState(m.stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 30_000);
    // A pair in service has heard each other: they number outages in one chain (docs/alerts.md "Threads and
    // Message-IDs"). Two monitors started this second have not yet, and the schedule's first fault may come at once.
    const lastKey = async (m: Monitor) => {
      const r = (await (await fetch(`http://127.0.0.1:${m.port}/peer`, { headers: { authorization: `Bearer ${TOKENS[m.name]}` } })).json()) as { lastKeys?: Array<{ node: string; key: string }> };
      return r.lastKeys?.find((k) => k.node === 'primary')?.key;
    };
    await waitFor('one outage chain on both monitors', async () => {
      const [a, b] = await Promise.all(mons.map(lastKey));
      return a !== undefined && a === b;
    }, 20_000);

    const outages: Outage[] = [];
    const open = () => outages.find((o) => o.end === null);
    let twoWay = false;
    /** Both heard each other at the last look. */
    let synced = true;
    for (let i = 0; i < EVENTS; i++) {
      const kinds = ['outage', 'outage', 'partition', 'partition', 'kill', 'smtp', 'clock'] as const;
      const k = pick(kinds);
      let dwell = 1_500 + rnd() * 2_500;
      if (k === 'outage') {
        const o = open();
        if (o) {
          await primary.setFault('none');
          o.end = Date.now();
          say('primary recovers');
        } else {
          const fault = pick(['refuse', 'cf_tunnel_down'] as const);
          await primary.setFault(fault);
          outages.push({ start: Date.now(), end: null, twoWay, excused: !synced && mons.some((m) => m.behind) });
          say(`primary outage (${fault})`);
        }
        // Long enough to be confirmed (or confirmed over) by a live monitor.
        dwell = 5_000 + rnd() * 2_000;
      } else if (k === 'partition') {
        const shape = pick(['mac cannot reach oracle', 'oracle cannot reach mac', 'two-way', 'heal'] as const);
        mac.inbound.set(shape === 'oracle cannot reach mac' || shape === 'two-way' ? 'refuse' : 'pass');
        oracle.inbound.set(shape === 'mac cannot reach oracle' || shape === 'two-way' ? 'refuse' : 'pass');
        twoWay = shape === 'two-way';
        const o = open();
        if (o && twoWay) o.twoWay = true;
        say(`links: ${shape}`);
      } else if (k === 'kill') {
        const dead = mons.find((m) => m.dead);
        if (dead) {
          start(dead);
          const o = open();
          if (o && twoWay) o.excused = true;
          say(`${dead.name} restarts`);
        } else {
          const m = pick(mons);
          await m.proc?.kill9();
          if (process.env.CHAOS_KEEP) writeFileSync(join(m.dir, `daemon-${m.runs}.log`), m.proc?.output() ?? '');
          m.dead = true;
          m.changedAt = Date.now();
          say(`${m.name} kill -9`);
        }
      } else if (k === 'smtp') {
        const m = pick(mons);
        m.smtp.set(m.smtp.mode === 'pass' ? 'refuse' : 'pass');
        say(`${m.name} SMTP ${m.smtp.mode === 'pass' ? 'accepts' : 'refuses'}`);
      } else {
        const m = pick(mons);
        const step = pick([120_000, -120_000, 0]);
        writeFileSync(m.clockFile, String(step));
        m.offsets.push({ from: Date.now(), offset: step });
        say(`${m.name} wall clock ${step === 0 ? 'back to true time' : `stepped ${step > 0 ? '+' : '-'}2 min`}`);
      }
      await sleep(dwell);
      // Both running for a while with a link either way: they heard each other, and count alike again.
      synced = !twoWay && mons.every((m) => !m.dead && Date.now() - m.changedAt > 3_000);
      if (synced) for (const m of mons) m.behind = false;
    }
    // Heal everything, then give the monitors BOUND_MS to deliver what they owe.
    for (const m of mons) {
      m.inbound.set('pass');
      m.smtp.set('pass');
      if (m.dead) start(m);
    }
    const last = open();
    if (last) {
      await primary.setFault('none');
      last.end = Date.now();
    }
    const healedAt = Date.now();
    say('healed: links up, SMTP accepts, both running, primary up');

    // Mails are judged by the outage their identity names (test/helpers/chaos-judge.ts), not by arrival time.
    const judge = (): ChaosFigures => {
      const mails = sink.mails.map((m, i) => ({ messageId: m.messageId, outageKey: m.headers.get('x-llm-sentinel-outage'), at: sink.receivedAt[i] ?? 0 }));
      return { seed: SEED, events: EVENTS, ...judgeChaos(outages, mails, mons.map((m) => m.offsets), healedAt), log };
    };
    let figures = judge();
    try {
      await waitFor('every outage mailed (DOWN and RECOVERED)', () => (figures = judge()).lost === 0, BOUND_MS, 500);
    } catch {
      figures = judge();
    }
    await sleep(3_000);
    figures = judge();
    say(`after heal: ${((Date.now() - healedAt) / 1000).toFixed(1)} s`);
    if (process.env.CHAOS_REPORT) writeFileSync(process.env.CHAOS_REPORT, JSON.stringify(figures, null, 2));
    const why = `chaos seed ${SEED} (rerun: CHAOS_SEED=${SEED} CHAOS_EVENTS=${EVENTS}):\n${log.join('\n')}\nfigures: ${JSON.stringify({ ...figures, log: undefined })}\nmails: ${sink.mails.map((m) => `${m.headers.get('x-llm-sentinel-instance')}:${m.headers.get('x-llm-sentinel-kind')}:${m.messageId}`).join(', ')}`;
    // The whole schedule, not a diff of it, when the invariant fails.
    if (figures.lost > 0) process.stderr.write(`${why}\n`);
    expect([why, figures.lost]).toEqual([why, 0]);
    // A second mail is allowed inside a two-way partition, with the same Message-ID: two monitors that saw the same
    // outages number the next one alike. Another Message-ID only where docs/alerts.md says an outage is named by
    // time: by a monitor that restarted apart and has not heard its peer since.
    const excused = outages.filter((o) => o.twoWay && o.excused).length;
    expect([why, figures.duplicatesOtherId <= excused]).toEqual([why, true]);
  });
});
