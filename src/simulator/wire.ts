import type { ServerResponse } from 'node:http';
import { wait } from './time';

export type Chunk = string | Buffer;

/**
 * What a route answers, as a value. Handlers build one; faults may replace it or change how it is delivered.
 * A `stream` reply sends its headers together with the first chunk, like Ollama, which writes nothing until the
 * first token exists.
 */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Chunk;
  stream?: AsyncIterable<Chunk>;
}

/** How the bytes of a reply reach the client. Everything but `normal` is a fault. */
export type Delivery =
  | { kind: 'normal' }
  | { kind: 'slowloris'; byteIntervalMs: number }
  | { kind: 'stall' }
  | { kind: 'truncate' };

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const NDJSON_TYPE = 'application/x-ndjson';
export const SSE_TYPE = 'text/event-stream';

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

export function textReply(status: number, text: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': TEXT_TYPE, ...headers }, body: text };
}

/** Ollama's native error shape. */
export function errorReply(status: number, message: string): Reply {
  return jsonReply(status, { error: message });
}

export function streamReply(contentType: string, stream: AsyncIterable<Chunk>): Reply {
  return { status: 200, headers: { 'content-type': contentType }, stream };
}

/** Writes one chunk, waiting for the socket to drain when it is full. False when the client is gone. */
export function writeChunk(res: ServerResponse, chunk: Chunk): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function endResponse(res: ServerResponse): void {
  if (!res.destroyed && !res.writableEnded) res.end();
}

async function closeIterator(it: AsyncIterator<Chunk>): Promise<void> {
  // Runs the generator's finally blocks (e.g. releasing the simulated model) when we stop reading early.
  try {
    await it.return?.();
  } catch {
    // the generator failing while being closed changes nothing for the client
  }
}

async function sendStream(res: ServerResponse, reply: Reply, stream: AsyncIterable<Chunk>, signal: AbortSignal): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  let headersSent = false;
  try {
    for (;;) {
      const r = await it.next();
      if (signal.aborted) return;
      if (r.done) break;
      if (!headersSent) {
        res.writeHead(reply.status, reply.headers);
        headersSent = true;
      }
      if (!(await writeChunk(res, r.value))) return;
    }
    if (!headersSent) res.writeHead(reply.status, reply.headers);
    endResponse(res);
  } finally {
    await closeIterator(it);
  }
}

/** Collects a whole reply body (a stream is read to its end, token delays included). */
async function collect(reply: Reply, signal: AbortSignal): Promise<Buffer | undefined> {
  if (reply.body !== undefined) return Buffer.from(reply.body);
  const parts: Buffer[] = [];
  for await (const chunk of reply.stream ?? []) {
    if (signal.aborted) return undefined;
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

function withoutLength(headers: Record<string, string>): Record<string, string> {
  const copy = { ...headers };
  delete copy['content-length'];
  return copy;
}

async function sendSlowly(res: ServerResponse, reply: Reply, intervalMs: number, signal: AbortSignal): Promise<void> {
  const body = await collect(reply, signal);
  if (body === undefined || signal.aborted) return;
  // Headers go out at once: the point is a body that keeps trickling, so per-read idle timeouts never fire
  // and only an overall deadline catches it.
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  for (let i = 0; i < body.length; i++) {
    if (!(await writeChunk(res, body.subarray(i, i + 1)))) return;
    if (i + 1 < body.length) await wait(intervalMs, signal);
    if (signal.aborted) return;
  }
  endResponse(res);
}

async function sendPartial(res: ServerResponse, reply: Reply, then: 'stall' | 'truncate', signal: AbortSignal): Promise<void> {
  const headers = withoutLength(reply.headers);
  const finish = (): void => {
    // 'stall' leaves the socket open and silent until the client or close() gives up.
    if (then === 'truncate') endResponse(res);
  };
  if (reply.body !== undefined) {
    const body = Buffer.from(reply.body);
    res.writeHead(reply.status, headers);
    await writeChunk(res, body.subarray(0, Math.ceil(body.length / 2)));
    finish();
    return;
  }
  const stream: AsyncIterable<Chunk> = reply.stream ?? (async function* () {})();
  const it = stream[Symbol.asyncIterator]();
  try {
    const first = await it.next();
    if (signal.aborted) return;
    res.writeHead(reply.status, headers);
    if (!first.done) {
      if (!(await writeChunk(res, first.value))) return;
      if (then === 'truncate') {
        const second = await it.next();
        if (signal.aborted) return;
        if (!second.done) {
          const bytes = Buffer.from(second.value);
          await writeChunk(res, bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))));
        }
      }
    }
    finish();
  } finally {
    await closeIterator(it);
  }
}

/** Sends a reply the way `delivery` says. Resolves when done, when the client left, or when `signal` aborts. */
export async function sendReply(res: ServerResponse, reply: Reply, delivery: Delivery, signal: AbortSignal): Promise<void> {
  if (signal.aborted || res.destroyed) return;
  switch (delivery.kind) {
    case 'slowloris':
      return sendSlowly(res, reply, delivery.byteIntervalMs, signal);
    case 'stall':
    case 'truncate':
      return sendPartial(res, reply, delivery.kind, signal);
    case 'normal':
      break;
  }
  if (reply.stream) return sendStream(res, reply, reply.stream, signal);
  const body = reply.body === undefined ? Buffer.alloc(0) : Buffer.from(reply.body);
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  res.end(body);
}
