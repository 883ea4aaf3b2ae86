/**
 * Busy is not down (issue 19), end to end: the real daemon at the DEFAULT cadence (liveness 10 s, canary 60 s,
 * fall 3, slowTtft 5 s) against a simulated primary with Ollama's default of one generation slot
 * (OLLAMA_NUM_PARALLEL=1; ../shared/reference/ollama-cloudflare.md section D), a real SMTP server, and the
 * load generator streaming an app's drafts. The full five minutes run in `npm run bench -- busy`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { startLoad, startSimulator, type LoadGenerator, type Simulator } from '../../src/simulator';
import type { PublishedState } from '../../src/state/types';
import { emailAlertsYaml, freePort, mailTitle, startSmtp, type SmtpFixture } from '../helpers/smtp';
import { sleep, waitFor } from '../helpers/wait';

const PASSWORD = 'smtp-busy-Pa55-distinctive';

/** The defaults but for the nodes, the files and the mail server (nothing in probes/decision is set). */
function defaultConfig(dir: string, primary: string, fallback: string, smtpPort: number, extra = ''): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `instance: e2e
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback}", model: llama3.2 }
${extra}stateFile: state.json
database: sentinel.db
log: { level: info }
${emailAlertsYaml(smtpPort, PASSWORD)}`,
  );
  return file;
}

describe('busy is not down (real daemon, default cadence)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let smtp: SmtpFixture;
  let daemon: DaemonProcess | undefined;
  let load: LoadGenerator | undefined;
  let smtpPort: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-busy-'));
    primary = await startSimulator({ parallel: 1 });
    fallback = await startSimulator();
    smtpPort = await freePort();
    smtp = await startSmtp({ user: 'sentinel', password: PASSWORD, port: smtpPort });
  });
  afterEach(async () => {
    await load?.stop();
    load = undefined;
    await daemon?.kill9();
    daemon = undefined;
    await smtp.close();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one slot and an app streaming back-to-back 20 s drafts: primary stays preferred and up, no alert, the state shows busy and the wait', async () => {
    load = startLoad({ url: primary.url, model: 'llama3.2', draftMs: 20_000 });
    await waitFor('the first draft generating', () => primary.slots.running === 1);
    const stateFile = join(dir, 'state.json');
    daemon = spawnDaemon(['run', '--config', defaultConfig(dir, primary.url, fallback.url, smtpPort)]);
    // Start-up: the primary is judged as soon as liveness rises (the first canary may still be queued).
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up', 30_000);
    const seen: PublishedState[] = [];
    const until = performance.now() + 90_000;
    while (performance.now() < until) {
      const s = readState(stateFile);
      if (s) seen.push(s);
      await sleep(500);
    }
    // The primary kept its traffic the whole time, and was never anything but up.
    expect(seen.length).toBeGreaterThan(100);
    expect(seen.filter((s) => s.preferred.name !== 'primary')).toEqual([]);
    expect(seen.filter((s) => statusOf(s, 'primary') !== 'up').map((s) => statusOf(s, 'primary'))).toEqual([]);
    // At least one canary queued behind a draft, and the state says so with the measured wait.
    const busy = seen.map((s) => s.nodes.find((n) => n.name === 'primary')?.queue).filter((q) => q?.busy);
    expect(busy.length).toBeGreaterThan(0);
    expect(Math.max(...busy.map((q) => q?.waitMs ?? 0))).toBeGreaterThan(1_000);
    // The apps really were writing: drafts finished meanwhile.
    expect(load.drafts.filter((d) => d.ok).length).toBeGreaterThanOrEqual(3);
    // No alert of any kind.
    expect(smtp.mails.map((m) => mailTitle(m))).toEqual([]);
  }, 180_000);

  test('control: no traffic, a first token that really takes 8 s → degraded (slow), exactly one SLOW mail', async () => {
    // 4 s of prompt evaluation + 4 s to the first token, all of it work (no queue): total ~12 s, first token ~8 s.
    primary.setTokenDelay(4_000);
    const stateFile = join(dir, 'state.json');
    daemon = spawnDaemon(['run', '--config', defaultConfig(dir, primary.url, fallback.url, smtpPort)]);
    const s = await waitForState(stateFile, (st) => statusOf(st, 'primary') === 'degraded', 150_000, 500);
    expect(s.nodes.find((n) => n.name === 'primary')).toMatchObject({ statusReason: 'slow', queue: { busy: false } });
    expect(s.preferred.name).toBe('fallback');
    await waitFor('the SLOW mail', () => smtp.mails.length >= 1, 20_000);
    await sleep(3_000);
    expect(smtp.mails.map((m) => mailTitle(m))).toEqual([expect.stringMatching(/primary SLOW — first token [\d.]+ ?s > 5(\.0)? ?s/)]);
  }, 240_000);

  test('a stalled runner (a draft stops producing tokens while liveness passes) is judged `stalled` within the stated bound', async () => {
    // A shorter cadence than the default, so the bound is seconds, not minutes: the bound is
    //   canary.interval + fall × (canary.timeout + fastInterval) (+ jitter), here 5 + 3 × (3 + 2) = 20 s (+10 %).
    const extra = `probes:
  canary: { interval: 5s, timeout: 3s, queueAllowance: 2s }
decision: { fastInterval: 2s }
`;
    const stateFile = join(dir, 'state.json');
    daemon = spawnDaemon(['run', '--config', defaultConfig(dir, primary.url, fallback.url, smtpPort, extra)]);
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up', 30_000);
    load = startLoad({ url: primary.url, model: 'llama3.2', draftMs: 600_000 });
    await waitFor('a draft generating', () => primary.slots.running === 1);
    primary.setRunnerStalled(true);
    const t0 = performance.now();
    const s = await waitForState(stateFile, (st) => statusOf(st, 'primary') === 'degraded', 60_000, 200);
    const detectedMs = performance.now() - t0;
    expect(s.nodes.find((n) => n.name === 'primary')).toMatchObject({ statusReason: 'stalled', lastError: { reason: 'stalled' } });
    expect(s.preferred.name).toBe('fallback');
    // Liveness kept passing the whole time: it is the runner, not the server.
    expect(s.nodes.find((n) => n.name === 'primary')?.lastLiveness).toMatchObject({ ok: true });
    expect(detectedMs).toBeLessThanOrEqual((5_000 + 3 * (3_000 + 2_000)) * 1.1 + 3_000);
    primary.setRunnerStalled(false);
  }, 120_000);
});
