import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { capConnectionsPerAddress } from '../../src/http/conn-limit';
import { waitFor } from '../helpers/wait';

/*
 * The per-address connection cap on a real node:http server, with real sockets from two loopback addresses
 * (Linux routes all of 127/8 to lo). The end-to-end flood against the daemon is test/faults/http-flood.test.ts.
 */
let server: Server;
let port: number;
const sockets: Socket[] = [];
beforeEach(async () => {
  server = createServer((_req, res) => res.end('ok'));
  port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function open(localAddress: string): Promise<{ socket: Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed: () => closed }));
    socket.once('error', reject);
  });
}

test('past the cap an address’s new connections are closed at once; other addresses are untouched; one notice per burst', async () => {
  const notices: string[] = [];
  const cap = capConnectionsPerAddress(server, 3, (key) => notices.push(key));
  const flood: Array<{ socket: Socket; closed: () => boolean }> = [];
  for (let i = 0; i < 6; i++) flood.push(await open('127.0.0.2'));
  await waitFor('three of six flood sockets to be closed', () => flood.filter((f) => f.closed()).length === 3, 5_000);
  expect(flood.slice(0, 3).map((f) => f.closed())).toEqual([false, false, false]);
  expect(cap.openFrom('127.0.0.2')).toBe(3);
  expect(cap.refused).toBe(3);
  expect(notices).toEqual(['127.0.0.2']);

  // Another address still gets in, and is answered.
  const other = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  expect(other).toBe('ok');
  const good = await open('127.0.0.1');
  await new Promise((r) => setTimeout(r, 100));
  expect(good.closed()).toBe(false);

  // Once the address drops below the cap it is served again, and a new burst is noticed again.
  flood[0]?.socket.destroy();
  await waitFor('the count to drop when a socket closes', () => cap.openFrom('127.0.0.2') === 2, 5_000);
  const again = await open('127.0.0.2');
  await new Promise((r) => setTimeout(r, 100));
  expect(again.closed()).toBe(false);
  const over = await open('127.0.0.2');
  await waitFor('the connection over the cap to be closed', () => over.closed(), 5_000);
  expect(cap.refused).toBe(4);
  expect(notices).toEqual(['127.0.0.2']);
  for (const f of flood) f.socket.destroy();
  again.socket.destroy();
  await waitFor('every 127.0.0.2 socket to be counted closed', () => cap.openFrom('127.0.0.2') === 0, 5_000);
  await open('127.0.0.2');
  await open('127.0.0.2');
  await open('127.0.0.2');
  const burst2 = await open('127.0.0.2');
  await waitFor('the second burst to be cut', () => burst2.closed(), 5_000);
  expect(notices).toEqual(['127.0.0.2', '127.0.0.2']);
});
