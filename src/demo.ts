import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { relative, resolve } from 'node:path';
import { run as reportCommand } from './cli/report';
import { run as statusCommand } from './cli/status';
import { readState, spawnDaemon, statusOf } from './demo/harness';
import { startMailbox, type Mailbox, type ReceivedMail } from './demo/mailbox';
import { startSimulator, type Fault } from './simulator';
import type { PublishedState } from './state/types';

/**
 * `npm run demo`: two simulated Ollama nodes, the real daemon with fast intervals, a scripted outage of the
 * primary (Cloudflare tunnel down, then a hang) and its recovery. Alert mails go through the daemon's real
 * outbox to an SMTP server in this process. Loopback only. Leaves demo-data/ to look at.
 *
 * One loop reads the state file and the mailbox and prints what changed, and each step waits in that loop
 * until its whole consequence is visible, so every line appears under the step that caused it.
 */

const MAIL_TO = 'ops@example.test';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function describe(s: PublishedState): string {
  const nodes = s.nodes.map((n) => `${n.name}=${n.status}${n.status !== 'up' && n.statusReason !== 'starting' ? `(${n.statusReason})` : ''}`).join(' ');
  return `preferred=${s.preferred.name}${s.allDown ? ' ALL DOWN' : ''}  ${nodes}`;
}

function configText(primary: string, fallback: string, httpPort: number, smtpPort: number | undefined): string {
  const mail =
    smtpPort === undefined
      ? ''
      : `alerts:
  statusPageUrl: http://127.0.0.1:${httpPort}/
  retry: { initial: 1s, max: 5s }
  email: { host: 127.0.0.1, port: ${smtpPort}, secure: false, from: "llm-sentinel <sentinel@demo.test>", to: [${MAIL_TO}], timeout: 2s }
`;
  return `# Written by npm run demo: fast intervals so a whole outage fits in a minute. Loopback only.
instance: demo
nodes:
  - name: primary
    url: ${primary}
    model: qwen3:4b
  - name: fallback
    url: ${fallback}
    model: qwen3:1.7b
probes:
  liveness: { interval: 1s, timeout: 500ms }
  canary: { interval: 3s, timeout: 2s }
decision: { fall: 3, rise: 2, fastInterval: 300ms, failbackHold: 5s }
state: { heartbeat: 1s, staleAfter: 5s }
http: { listen: "127.0.0.1:${httpPort}" }
stateFile: state.json
database: sentinel.db
log: { level: warn }
${mail}`;
}

async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? 'demo-data');
  mkdirSync(dir, { recursive: true });
  for (const f of ['state.json', 'sentinel.db', 'sentinel.db-wal', 'sentinel.db-shm']) rmSync(resolve(dir, f), { force: true }); // a fresh story each run
  const primary = await startSimulator({ models: ['qwen3:4b'], answer: 'PONG', tokenDelayMs: 5 });
  const fallback = await startSimulator({ models: ['qwen3:1.7b'], answer: 'Pong!', tokenDelayMs: 20 });
  const box = await startMailbox();
  const mailbox: Mailbox | undefined = 'missing' in box ? undefined : box;
  const httpPort = await freePort();
  const configPath = resolve(dir, 'config.yaml');
  const rel = (p: string) => relative(process.cwd(), p) || p;
  const shown = rel(configPath);
  writeFileSync(configPath, configText(primary.url, fallback.url, httpPort, mailbox?.port));
  const stateFile = resolve(dir, 'state.json');
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (msg: string) => process.stdout.write(`${stamp()} ${msg}\n`);

  say(`primary simulator ${primary.url}, fallback simulator ${fallback.url}`);
  if (mailbox) say(`alert mails go to an SMTP server in this process, 127.0.0.1:${mailbox.port}`);
  else say(`note: no alert mails in this run: ${(box as { missing: string }).missing}`);
  say(`starting: llm-sentinel run --config ${shown}; status page at http://127.0.0.1:${httpPort}/ while it runs`);
  const daemon = spawnDaemon(['run', '--config', configPath], { LLM_SENTINEL_PRETTY: '0' });

  let lastView = '';
  let mailsShown = 0;
  let fullMailShown = false;
  const showMail = (m: ReceivedMail) => {
    // What the mail says (its body's first line); its Subject is the outage thread's, the same for every mail of it.
    say(`mail to ${m.to.join(', ')}: [llm-sentinel] ${(m.text.split('\n')[0] ?? '').replace(/^(CRITICAL|WARNING|INFO): /, '')}`);
    if (fullMailShown) return;
    fullMailShown = true; // the first one in full: what an operator reads
    const body = m.text.trimEnd().split('\n').map((l) => `      | ${l}`);
    process.stdout.write(`${body.join('\n')}\n`);
  };
  /** Prints every change of the published view and every mail that arrived, until `done` holds. */
  const watch = async (done: (s: PublishedState, mails: number) => boolean, timeoutMs: number) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = readState(stateFile);
      if (s) {
        const view = describe(s);
        if (view !== lastView) say(`state: ${view}`);
        lastView = view;
      }
      const mails = mailbox?.mails ?? [];
      while (mailsShown < mails.length) showMail(mails[mailsShown++] as ReceivedMail);
      if (s && done(s, mailbox ? mails.length : Number.POSITIVE_INFINITY)) return;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms; last seen: ${lastView || 'no state file'}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const step = async (title: string, fault: Fault | undefined, done: (s: PublishedState, mails: number) => boolean, timeoutMs = 20_000) => {
    say(`--- ${title}`);
    const started = performance.now();
    if (fault !== undefined) await primary.setFault(fault);
    await watch(done, timeoutMs);
    say(`    done in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  };
  const up = (s: PublishedState, n: string) => statusOf(s, n) === 'up';
  const down = (s: PublishedState, n: string) => statusOf(s, n) === 'down';

  try {
    await step('both nodes healthy: waiting for the monitor to confirm', undefined, (s) => up(s, 'primary') && up(s, 'fallback') && s.preferred.name === 'primary');
    await step('primary: Cloudflare tunnel down (530 / error 1033)', 'cf_tunnel_down', (s, mails) => down(s, 'primary') && s.preferred.name === 'fallback' && mails >= 1);
    await step('primary: tunnel back', 'none', (s, mails) => up(s, 'primary') && mails >= 2);
    say('    (apps stay on the fallback until the primary has been up for failbackHold = 5s)');
    await step('waiting for failback', undefined, (s) => s.preferred.name === 'primary');
    await step('primary: hangs (accepts connections, never answers)', 'hang', (s, mails) => down(s, 'primary') && s.preferred.name === 'fallback' && mails >= 3);
    await step('primary: recovers', 'none', (s, mails) => up(s, 'primary') && s.preferred.name === 'primary' && mails >= 4, 25_000);
  } finally {
    const code = await daemon.stop();
    say(`daemon stopped (exit ${code})`);
    await primary.close();
    await fallback.close();
    await mailbox?.close();
  }
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  process.stdout.write('\nFinal status (llm-sentinel status):\n');
  await statusCommand(['--state', stateFile], io);
  process.stdout.write(`\nWhat the demo recorded (llm-sentinel report --config ${shown} --from ${startedAt}):\n`);
  await reportCommand(['--config', configPath, '--from', startedAt], io);
  process.stdout.write(`\nThe status page was at http://127.0.0.1:${httpPort}/ while the daemon ran. To see it again:\n`);
  process.stdout.write(`  node dist/cli.js run --config ${shown}    (the nodes are gone now, so it shows them down)\n`);
  process.stdout.write(`Left for you to inspect: ${shown}, ${rel(stateFile)}, ${rel(resolve(dir, 'sentinel.db'))}\n`);
  process.stdout.write(`  sqlite3 ${rel(resolve(dir, 'sentinel.db'))} 'select * from transitions'\n`);
}

main().then(
  () => (process.exitCode = 0),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
