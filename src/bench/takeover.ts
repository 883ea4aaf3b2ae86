import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../demo/harness';
import { startSimulator } from '../simulator';

/**
 * Two monitors, one voice: from the sending monitor's death (SIGKILL) to the survivor's first mail ("monitor
 * mac is silent"), on two real daemons at the DEFAULT peer settings (poll every 10 s, silent after 60 s,
 * heartbeat 10 s), with a real SMTP server on loopback. No time compression: each trial takes about a minute.
 * The kill lands at a random phase of the poll cycle. Bounds: silence is counted from the last good answer
 * (0–10 s before the death) and judged by the poll that crosses silentAfter (the alert step runs at once):
 * between 50 s and 60 s plus one poll's deadline (5 s) and the send.
 */

export const TAKEOVER_DEFAULTS = { interval: 10_000, silentAfter: 60_000, timeout: 15_000 };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A minimal SMTP server (smtp-server, a dev dependency: loaded only when this benchmark runs). */
async function smtpSink(onMail: (subject: string, kind: string) => void): Promise<{ port: number; close(): Promise<void> }> {
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
        onMail(/^Subject: (.*)$/im.exec(raw)?.[1] ?? '', /^X-LLM-Sentinel-Kind: (.*)$/im.exec(raw)?.[1]?.trim() ?? '?');
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function config(name: string, port: number, other: { name: string; port: number }, primary: string, fallback: string, smtpPort: number, sharesHost = false): string {
  return `instance: ${name}
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback}", model: llama3.2 }
stateFile: state.json
database: sentinel.db
log: { level: warn }
http: { listen: "127.0.0.1:${port}", token: "bench-${name}" }
peers:
  rank: [mac, oracle]
  monitors:
    - { name: ${other.name}, url: "http://127.0.0.1:${other.port}", token: "bench-${other.name}"${sharesHost ? ', sharesHostWith: primary' : ''} }
alerts:
  email: { host: 127.0.0.1, port: ${smtpPort}, secure: false, from: "sentinel@example.com", to: [ops@example.com], timeout: 5s }
`;
}

/**
 * Milliseconds from SIGKILL of the sender to the survivor's first mail, `trials` times (fresh daemons each).
 * `power-loss`: the Mac loses power, so its monitor dies with the primary (its tunnel answers 530 at once);
 * the survivor knows them to share a host (sharesHostWith) and its first mail is "mac host looks down".
 */
export async function measureTakeover(trials: number, mode: 'sender' | 'power-loss' = 'sender'): Promise<Array<{ ms: number; subject: string; kinds: string[] }>> {
  const out: Array<{ ms: number; subject: string; kinds: string[] }> = [];
  for (let i = 0; i < trials; i++) {
    const root = mkdtempSync(join(tmpdir(), 'sentinel-bench-peers-'));
    const primary = await startSimulator();
    const fallback = await startSimulator();
    let firstMailAt: number | undefined;
    let firstSubject = '';
    const kinds: Array<{ at: number; kind: string }> = [];
    const smtp = await smtpSink((subject, kind) => {
      kinds.push({ at: performance.now(), kind });
      if (firstMailAt !== undefined) return;
      firstMailAt = performance.now();
      firstSubject = subject;
    });
    const procs: DaemonProcess[] = [];
    try {
      const ports = { mac: await freePort(), oracle: await freePort() };
      const files: Record<string, string> = {};
      for (const [name, other] of [['mac', 'oracle'], ['oracle', 'mac']] as const) {
        const dir = join(root, name);
        mkdirSync(dir);
        files[name] = join(dir, 'config.yaml');
        writeFileSync(files[name], config(name, ports[name], { name: other, port: ports[other] }, primary.url, fallback.url, smtp.port, mode === 'power-loss' && name === 'oracle'));
      }
      const mac = spawnDaemon(['run', '--config', files.mac as string]);
      const oracle = spawnDaemon(['run', '--config', files.oracle as string]);
      procs.push(mac, oracle);
      for (const name of ['mac', 'oracle']) {
        await waitForState(join(root, name, 'state.json'), (s) => statusOf(s, 'primary') === 'up' && s.peers?.[0]?.lastSeen != null, 120_000, 100);
      }
      // Land the death at a random phase of the 10 s poll cycle.
      await new Promise((r) => setTimeout(r, Math.random() * TAKEOVER_DEFAULTS.interval));
      firstMailAt = undefined;
      const t0 = performance.now();
      await Promise.all([mac.kill9(), mode === 'power-loss' ? primary.setFault('cf_tunnel_down') : undefined]);
      const deadline = t0 + 150_000;
      while (firstMailAt === undefined && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (firstMailAt === undefined) throw new Error(`no mail from the survivor within 150 s; its output:\n${oracle.output().slice(-2000)}`);
      // What else arrives in the next 15 s (one voice: nothing else about the same loss).
      await new Promise((r) => setTimeout(r, 15_000));
      const after = kinds.filter((k) => k.at >= t0).map((k) => k.kind);
      out.push({ ms: firstMailAt - t0, subject: firstSubject, kinds: after });
    } finally {
      await Promise.all(procs.map((p) => p.kill9()));
      await smtp.close();
      await primary.close();
      await fallback.close();
      rmSync(root, { recursive: true, force: true });
    }
  }
  return out;
}
