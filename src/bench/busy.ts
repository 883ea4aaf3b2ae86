/**
 * `npm run bench -- busy` (issue 19): a primary with one generation slot (Ollama's default) serving apps that
 * stream 20 s drafts back to back, watched by the real daemon at the DEFAULT cadence with a real SMTP sink.
 * Measures the share of time the primary keeps its traffic (one and two apps), the alerts sent (all false:
 * nothing is wrong), the delay probing adds to an app's draft, and how long a stalled runner takes to be judged.
 * Real time, no compression: each scenario runs BENCH_BUSY_SECONDS (default 300).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../demo/harness';
import { startLoad, startSimulator, type DraftRecord } from '../simulator';

const DRAFT_MS = 20_000;

async function smtpSink(onMail: (subject: string) => void): Promise<{ port: number; close(): Promise<void> }> {
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, _session, cb) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        onMail(/^Subject: (.*)$/im.exec(raw)?.[1] ?? '');
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The defaults for everything but the nodes, the files and the mail sink. */
function config(dir: string, primary: string, fallback: string, smtpPort: number): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `instance: bench-busy
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback}", model: llama3.2 }
stateFile: state.json
database: sentinel.db
log: { level: warn }
alerts:
  email: { host: 127.0.0.1, port: ${smtpPort}, secure: false, from: "sentinel@example.com", to: [ops@example.com], timeout: 5s }
`,
  );
  return file;
}

export interface BusyResult {
  apps: number;
  seconds: number;
  /** Share of state samples (every 250 ms) with the primary preferred. */
  primaryShare: number;
  /** Share of samples with the primary `up`. */
  upShare: number;
  mails: string[];
  /** Largest queue wait the state published. */
  maxWaitMs: number;
  drafts: number;
  /** One app only: the largest delay to a draft's first token beyond the median (the canary ahead of it). */
  addedDelayMs?: number;
  /** Largest silence inside a draft. */
  maxGapMs: number;
}

async function stack<T>(run: (ctx: { primary: Awaited<ReturnType<typeof startSimulator>>; stateFile: string; mails: string[]; start: () => DaemonProcess }) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-busy-'));
  const primary = await startSimulator({ parallel: 1 });
  const fallback = await startSimulator();
  const mails: string[] = [];
  const smtp = await smtpSink((s) => mails.push(s));
  let daemon: DaemonProcess | undefined;
  try {
    return await run({ primary, stateFile: join(dir, 'state.json'), mails, start: () => (daemon = spawnDaemon(['run', '--config', config(dir, primary.url, fallback.url, smtp.port)])) });
  } finally {
    await daemon?.stop();
    await smtp.close();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** `apps` apps streaming 20 s drafts back to back for `seconds`, the daemon at the default cadence. */
export function busyScenario(apps: number, seconds: number): Promise<BusyResult> {
  return stack(async ({ primary, stateFile, mails, start }) => {
    const load = startLoad({ url: primary.url, model: 'llama3.2', draftMs: DRAFT_MS, concurrency: apps });
    start();
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up', 60_000, 250);
    let samples = 0;
    let onPrimary = 0;
    let up = 0;
    let maxWaitMs = 0;
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const s = readState(stateFile);
      if (s) {
        samples++;
        if (s.preferred.name === 'primary') onPrimary++;
        if (statusOf(s, 'primary') === 'up') up++;
        maxWaitMs = Math.max(maxWaitMs, s.nodes.find((n) => n.name === 'primary')?.queue?.waitMs ?? 0);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const drafts: DraftRecord[] = (await load.stop()).filter((d) => d.ok);
    const firsts = drafts.map((d) => d.firstTokenMs ?? 0);
    return {
      apps,
      seconds,
      primaryShare: samples ? onPrimary / samples : 0,
      upShare: samples ? up / samples : 0,
      mails: [...mails],
      maxWaitMs,
      drafts: drafts.length,
      ...(apps === 1 && firsts.length ? { addedDelayMs: Math.max(...firsts) - median(firsts) } : {}),
      maxGapMs: Math.max(0, ...drafts.map((d) => d.maxGapMs)),
    };
  });
}

/** Milliseconds from a runner stalling mid-draft (liveness still passing) to the primary judged `stalled`. */
export function stalledDetection(): Promise<{ ms: number; reason: string }> {
  return stack(async ({ primary, stateFile, start }) => {
    start();
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up', 60_000, 250);
    const load = startLoad({ url: primary.url, model: 'llama3.2', draftMs: 3_600_000 });
    while (primary.slots.running === 0) await new Promise((r) => setTimeout(r, 50));
    primary.setRunnerStalled(true);
    const t0 = performance.now();
    const s = await waitForState(stateFile, (st) => statusOf(st, 'primary') === 'degraded' || statusOf(st, 'primary') === 'down', 600_000, 250);
    const ms = performance.now() - t0;
    primary.setRunnerStalled(false);
    await load.stop();
    return { ms, reason: s.nodes.find((n) => n.name === 'primary')?.statusReason ?? '?' };
  });
}
