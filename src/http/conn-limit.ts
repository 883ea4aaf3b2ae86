import { isIPv6 } from 'node:net';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The key a connection is counted under. IPv4 (and IPv4-mapped IPv6) by address; IPv6 by its /64, because
 * one host usually holds a whole /64 and could otherwise open its connections from 2^64 addresses.
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(remote)) return remote;
  const zoneless = remote.split('%')[0] as string;
  const [head = '', tail = ''] = zoneless.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = zoneless.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

export interface ConnectionCap {
  /** Open connections per address key right now (for tests and logs). */
  openFrom(remote: string): number;
  /** Connections closed at once because their address was at the cap, since start. */
  readonly refused: number;
}

/**
 * Closes a new connection at once when its address already holds `max` open ones, before the HTTP parser
 * sees a byte: one address opening thousands of idle or slow connections then holds `max` slots, not the
 * server's whole connection budget, and everyone else is still accepted. `onRefuse` is told once per burst
 * (the first refusal from an address while it stays at the cap), so a flood is one log line, not thousands.
 */
export function capConnectionsPerAddress(server: Server, max: number, onRefuse: (key: string) => void): ConnectionCap {
  const open = new Map<string, number>();
  const reported = new Set<string>();
  let refused = 0;
  // Prepended: runs before http's own connection listener, so a refused socket never gets a parser.
  server.prependListener('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress);
    const n = open.get(key) ?? 0;
    if (n >= max) {
      refused++;
      if (!reported.has(key)) {
        reported.add(key);
        onRefuse(key);
      }
      // destroy, not end: no FIN handshake or lingering state for a connection we never wanted.
      socket.destroy();
      return;
    }
    open.set(key, n + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) {
        open.delete(key);
        reported.delete(key);
      } else open.set(key, left);
    });
  });
  return {
    openFrom: (remote) => open.get(addressKey(remote)) ?? 0,
    get refused() {
      return refused;
    },
  };
}
