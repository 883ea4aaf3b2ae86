import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * A one-address connection flood against an HTTP server, and a well-behaved client measured beside it.
 * Shared by the fault suite (test/faults/http-flood.test.ts) and `npm run bench -- flood`.
 *
 * Linux routes all of 127.0.0.0/8 to the loopback interface, so binding the flood's sockets to 127.0.0.2
 * makes them one distinct address while the measured client speaks from 127.0.0.1.
 */
export interface FloodOptions {
  host: string;
  port: number;
  /** Source address of every flood socket, e.g. 127.0.0.2. */
  localAddress: string;
  /** Sockets that connect and send nothing. */
  idle: number;
  /** Sockets that send a request line and then one header line every `dripMs`, never finishing (slowloris). */
  slowloris: number;
  dripMs?: number;
  /** Connections opened at once (the rest wait), so the flood itself cannot exhaust the test's file descriptors. */
  batch?: number;
  /** Give up opening after this long (the flood is whatever got opened by then). */
  openTimeoutMs?: number;
  /**
   * Keep the flood up, as an attacker would: a socket the server closes is replaced after this long. Off by
   * default. The delay bounds the reconnect rate (flood size / refillMs) so the flood cannot spin a core.
   */
  refillMs?: number;
}

export interface Flood {
  /** Sockets that connected. */
  readonly connected: number;
  /** Sockets the server closed (or reset), counted once each. */
  readonly closedByServer: number;
  /** Sockets still open now. */
  open(): number;
  /** Replacement sockets opened since the start (with refillMs). */
  readonly refilled: number;
  /** Stop replacing closed sockets (what is open stays open). */
  stopRefill(): void;
  close(): Promise<void>;
}

export async function openFlood(o: FloodOptions): Promise<Flood> {
  const sockets = new Set<Socket>();
  const drips = new Set<NodeJS.Timeout>();
  let connected = 0;
  let closedByServer = 0;
  let closing = false;
  let refilling = o.refillMs !== undefined;
  let refilled = 0;
  const refills = new Set<NodeJS.Timeout>();
  const total = o.idle + o.slowloris;
  const batch = Math.max(1, o.batch ?? 200);
  const deadline = performance.now() + (o.openTimeoutMs ?? 30_000);

  const openOne = (slow: boolean): Promise<void> =>
    new Promise((resolve) => {
      const s = connect({ host: o.host, port: o.port, localAddress: o.localAddress });
      sockets.add(s);
      let settled = false;
      const settle = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      s.setNoDelay(true);
      s.on('connect', () => {
        connected++;
        if (slow) {
          s.write(`GET /state HTTP/1.1\r\nHost: ${o.host}\r\n`);
          let n = 0;
          const t = setInterval(() => {
            if (s.writable) s.write(`X-Drip-${n++}: a\r\n`);
          }, o.dripMs ?? 1_000);
          t.unref();
          drips.add(t);
          s.once('close', () => {
            clearInterval(t);
            drips.delete(t);
          });
        }
        settle();
      });
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.once('close', () => {
        sockets.delete(s);
        if (!closing) closedByServer++;
        settle();
        if (refilling && !closing) {
          const t = setTimeout(() => {
            refills.delete(t);
            if (!refilling || closing) return;
            refilled++;
            void openOne(slow);
          }, o.refillMs);
          refills.add(t);
        }
      });
    });

  let made = 0;
  while (made < total && performance.now() < deadline) {
    const n = Math.min(batch, total - made);
    const wave: Promise<void>[] = [];
    for (let i = 0; i < n; i++) wave.push(openOne(made + i >= o.idle));
    made += n;
    await Promise.all(wave);
  }

  return {
    get connected() {
      return connected;
    },
    get closedByServer() {
      return closedByServer;
    },
    open: () => sockets.size,
    get refilled() {
      return refilled;
    },
    stopRefill: () => {
      refilling = false;
      for (const t of refills) clearTimeout(t);
      refills.clear();
    },
    close: async () => {
      closing = true;
      refilling = false;
      for (const t of refills) clearTimeout(t);
      refills.clear();
      for (const t of drips) clearInterval(t);
      drips.clear();
      const gone = [...sockets].map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.destroy()))));
      await Promise.all(gone);
    },
  };
}

export interface Probe {
  ok: boolean;
  status?: number;
  ms: number;
  error?: string;
}

/** One GET on a fresh connection (no keep-alive pool: every call pays accept, the part a flood attacks). */
export function getOnce(url: string, opts: { localAddress?: string; token?: string; timeoutMs: number }): Promise<Probe> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        agent: false,
        localAddress: opts.localAddress,
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        signal: AbortSignal.timeout(opts.timeoutMs),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode, ms: performance.now() - t0 }));
        res.on('error', (e) => resolve({ ok: false, status: res.statusCode, ms: performance.now() - t0, error: (e as NodeJS.ErrnoException).code ?? e.message }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - t0, error: e.name === 'AbortError' ? `no answer within ${opts.timeoutMs}ms` : (e.code ?? e.message) }));
    req.end();
  });
}

/** p-th percentile (0–100) of a sample, nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
