import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { run as statusCommand } from './cli/status';
import { readState, spawnDaemon, statusOf, waitForState } from './demo/harness';
import { startSimulator, type Fault } from './simulator';
import type { PublishedState } from './state/types';

/**
 * `npm run demo`: two simulated Ollama nodes, the real daemon with fast intervals, a scripted outage of the
 * primary (Cloudflare tunnel down, then a hang) and its recovery. Leaves demo-data/ to look at.
 */
async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? 'demo-data');
  mkdirSync(dir, { recursive: true });
  const primary = await startSimulator({ models: ['qwen3:4b'], answer: 'PONG', tokenDelayMs: 5 });
  const fallback = await startSimulator({ models: ['qwen3:1.7b'], answer: 'Pong!', tokenDelayMs: 20 });
  const configPath = resolve(dir, 'config.yaml');
  writeFileSync(
    configPath,
    `# Written by npm run demo: fast intervals so a whole outage fits in a minute.
instance: demo
nodes:
  - name: primary
    url: ${primary.url}
    model: qwen3:4b
  - name: fallback
    url: ${fallback.url}
    model: qwen3:1.7b
probes:
  liveness: { interval: 1s, timeout: 500ms }
  canary: { interval: 3s, timeout: 2s }
decision: { fall: 3, rise: 2, fastInterval: 300ms, failbackHold: 5s }
state: { heartbeat: 1s, staleAfter: 5s }
stateFile: state.json
database: sentinel.db
log: { level: warn }
`,
  );
  const stateFile = resolve(dir, 'state.json');
  const t0 = performance.now();
  const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (msg: string) => process.stdout.write(`${stamp()} ${msg}\n`);

  say(`primary simulator ${primary.url}, fallback simulator ${fallback.url}`);
  say(`starting: llm-sentinel run --config ${configPath}`);
  const daemon = spawnDaemon(['run', '--config', configPath], { LLM_SENTINEL_PRETTY: '0' });

  // Print every change of the published view as it happens.
  let lastView = '';
  const watcher = setInterval(() => {
    const s = readState(stateFile);
    if (!s) return;
    const view = describe(s);
    if (view !== lastView) say(`state: ${view}`);
    lastView = view;
  }, 50);

  const phase = async (title: string, fault: Fault | undefined, until: (s: PublishedState) => boolean, timeoutMs: number) => {
    say(`--- ${title}`);
    const started = performance.now();
    if (fault !== undefined) await primary.setFault(fault);
    await waitForState(stateFile, until, timeoutMs);
    say(`    done in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  };

  try {
    await phase('both nodes healthy: waiting for the monitor to confirm', undefined, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up' && s.preferred.name === 'primary', 15_000);
    await phase('primary: Cloudflare tunnel down (530 / error 1033)', 'cf_tunnel_down', (s) => s.preferred.name === 'fallback', 15_000);
    await phase('primary: tunnel back', 'none', (s) => statusOf(s, 'primary') === 'up', 15_000);
    say('    (apps stay on the fallback until the primary has been up for failbackHold = 5s)');
    await phase('waiting for failback', undefined, (s) => s.preferred.name === 'primary', 15_000);
    await phase('primary: hangs (accepts connections, never answers)', 'hang', (s) => s.preferred.name === 'fallback', 15_000);
    await phase('primary: recovers', 'none', (s) => s.preferred.name === 'primary', 20_000);
  } finally {
    clearInterval(watcher);
    const code = await daemon.stop();
    say(`daemon stopped (exit ${code})`);
    await primary.close();
    await fallback.close();
  }
  process.stdout.write('\nFinal status (llm-sentinel status):\n');
  await statusCommand(['--state', stateFile], { stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.stdout.write(`\nLeft for you to inspect: ${configPath}, ${stateFile}, ${resolve(dir, 'sentinel.db')}\n`);
  process.stdout.write(`  sqlite3 ${resolve(dir, 'sentinel.db')} 'select * from transitions'\n`);
}

function describe(s: PublishedState): string {
  const nodes = s.nodes.map((n) => `${n.name}=${n.status}${n.status !== 'up' && n.statusReason !== 'starting' ? `(${n.statusReason})` : ''}`).join(' ');
  return `preferred=${s.preferred.name}${s.allDown ? ' ALL DOWN' : ''}  ${nodes}`;
}

main().then(
  () => (process.exitCode = 0),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
