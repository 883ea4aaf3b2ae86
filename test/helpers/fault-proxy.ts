import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP fault proxy: put it between two monitors (or in front of SMTP) and cut the link the way
 * production does. Modes: `pass` (forward), `refuse` (every connection reset at once, open ones cut: a dead
 * tunnel, a refusing port), `blackhole` (accept, never answer: a partition that drops packets), and a
 * `delayMs` added before each chunk is forwarded in either direction (a slow peer).
 */
export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

export interface FaultProxy {
  readonly port: number;
  readonly url: string;
  mode: ProxyMode;
  delayMs: number;
  set(mode: ProxyMode, delayMs?: number): void;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const open = new Set<Socket>();
  const state = { mode: 'pass' as ProxyMode, delayMs: 0 };
  const cutAll = () => {
    for (const s of open) s.destroy();
    open.clear();
  };
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      if (state.delayMs <= 0) {
        to.write(chunk);
        return;
      }
      // Each chunk leaves delayMs after it arrived (same delay for all: order kept), like a long, slow path.
      const t = setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, state.delayMs);
      from.once('close', () => clearTimeout(t));
    });
  };
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (state.mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    if (state.mode === 'blackhole') return; // held open, never answered
    const upstream = connect(targetPort, targetHost);
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: ProxyMode) {
      state.mode = m;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    set(mode: ProxyMode, delayMs = 0) {
      state.mode = mode;
      state.delayMs = delayMs;
      // A changed link cuts what is open: pooled keep-alive connections must not outlive a partition.
      if (mode !== 'pass') cutAll();
    },
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
