import type { Socket } from 'node:net';
import { Agent, buildConnector, errors, request, type Dispatcher } from '../undici';
import type { Config, NodeConfig } from '../config';
import { systemClock, type Clock } from '../util/clock';
import { classifyHttp, classifyNetworkError, clip, type Verdict } from './classify';
import { Deadline } from './deadline';
import { decodeUtf8 } from './stream';
import type { ProbeKind, ProbeResult } from './types';

/** The HTTP layer every probe shares: one Agent, one deadline per probe, bounded body reads. */

export type ProbeSettings = Config['probes'];

export interface ProbeContext {
  /** The daemon aborts in-flight probes on shutdown; the result is then `aborted`. */
  signal?: AbortSignal;
  /** startedAt comes from clock.now(), every duration from clock.mono(). Default: the system clock. */
  clock?: Clock;
  /** Usually the daemon's createProbeAgent(); without one the probe makes its own Agent and destroys it. */
  dispatcher?: Dispatcher;
}

/** Everything a probe result may carry besides the fields runProbe fills in itself. */
export type Outcome = Verdict &
  Partial<Pick<ProbeResult, 'httpStatus' | 'ttfbMs' | 'ttftMs' | 'totalMs' | 'tokensPerSec' | 'loadMs' | 'evalCount' | 'durations' | 'busySignal' | 'lastTokenMs' | 'answer' | 'server' | 'model' | 'installed' | 'thinking'>>;

export function isFailure(x: object): x is Outcome {
  return 'reason' in x;
}

/** What a probe body works with; t0 is the monotonic start, so `since()` gives ms since the probe began. */
export interface ProbeRun {
  node: NodeConfig;
  settings: ProbeSettings;
  dispatcher: Dispatcher;
  deadline: Deadline;
  clock: Clock;
  since(): number;
}

const USER_AGENT = 'llm-sentinel (health probe)';
/** Enough of an error body to find Cloudflare's 1xxx code or Ollama's error text; the rest is discarded. */
const ERROR_BODY_BYTES = 32 * 1024;
/** Many servers (Node's default among them) drop idle keep-alive sockets after 5 s; staying under it avoids reusing a dying one. */
const KEEP_ALIVE_MS = 4_000;

/**
 * undici's connector with an exact connect deadline. undici's own connect timeout runs on its coarse timer
 * wheel (up to ~0.5 s late); this one is a plain setTimeout and fails with undici's ConnectTimeoutError
 * (code UND_ERR_CONNECT_TIMEOUT), so it is reported as connect_timeout. For https the deadline covers the
 * TLS handshake too, as undici's does.
 */
function exactTimeoutConnector(timeoutMs: number): ReturnType<typeof buildConnector> {
  const base = buildConnector({ timeout: 0 }); // 0 switches undici's coarse timer off; ours replaces it
  return (opts, callback) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      const err = new errors.ConnectTimeoutError(`connect timed out after ${timeoutMs} ms`);
      // Where it was connecting, for the detail text (classifyNetworkError reads address/port like Node's errors).
      callback(Object.assign(err, { address: opts.hostname, ...(opts.port ? { port: Number(opts.port) } : {}) }), null);
    }, timeoutMs);
    // A connect abandoned by a destroyed Agent must not keep the process alive until the timer runs out.
    timer.unref();
    // The typings say void, but undici's connector returns the socket it is connecting.
    const socket = base(opts, (...args) => {
      if (settled) {
        args[1]?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      callback(...args);
    }) as unknown as Socket | undefined;
  };
}

/**
 * The Agent the daemon shares across probes and closes at shutdown. Redirects are never followed (undici's
 * default): a 302 to Cloudflare Access must be seen, not turned into a 200 login page. undici's own
 * header/body timeouts sit just past the longest probe deadline, as a backstop only; probes enforce exact
 * deadlines themselves.
 */
export function createProbeAgent(settings: ProbeSettings): Agent {
  const backstop = Math.max(settings.liveness.timeout, settings.canary.timeout) + 5_000;
  return new Agent({
    connect: exactTimeoutConnector(settings.connectTimeout),
    keepAliveTimeout: KEEP_ALIVE_MS,
    headersTimeout: backstop,
    bodyTimeout: backstop,
  });
}

/** Timings are kept to 0.1 ms: finer digits are noise from the event loop, and they bloat every stored row. */
function toTenth(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Runs one probe: fixes its start time, sets up the deadline and dispatcher, and turns the body's outcome
 * into a ProbeResult. It cleans up (timers, listener, its own Agent) however the body ends.
 */
export async function runProbe(
  kind: ProbeKind,
  node: NodeConfig,
  settings: ProbeSettings,
  ctx: ProbeContext,
  totalMs: number,
  body: (run: ProbeRun) => Promise<Outcome>,
): Promise<ProbeResult> {
  const clock = ctx.clock ?? systemClock;
  const startedAt = clock.now();
  const t0 = clock.mono();
  const deadline = new Deadline(totalMs, ctx.signal);
  const own = ctx.dispatcher ? undefined : createProbeAgent(settings);
  const dispatcher = ctx.dispatcher ?? (own as Agent);
  let outcome: Outcome;
  try {
    outcome = deadline.verdict() ?? (await body({ node, settings, dispatcher, deadline, clock, since: () => toTenth(clock.mono() - t0) }));
  } finally {
    deadline.dispose();
    // destroy(), not close(): a hung server must not hold the probe open after its deadline.
    if (own) await own.destroy();
  }
  const { reason, detail, ...facts } = outcome;
  return withoutUndefined({
    node: node.name,
    kind,
    ok: reason === 'ok',
    reason,
    startedAt,
    durationMs: Math.max(0, toTenth(clock.mono() - t0)),
    ...facts,
    detail: clip(detail),
  });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  ttfbMs: number;
}

export interface SendOptions {
  method: 'GET' | 'POST';
  accept: string;
  json?: unknown;
}

/** Sends one request with the node's headers. Connection-level failures come back as an Outcome. */
export async function send(run: ProbeRun, path: string, opts: SendOptions): Promise<Reply | Outcome> {
  const headers: Record<string, string> = { accept: opts.accept, 'user-agent': USER_AGENT };
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  // The only place header secrets are revealed: straight into the request, never into text we keep.
  for (const [name, value] of Object.entries(run.node.headers)) headers[name.toLowerCase()] = value.reveal();
  try {
    const res = await request(`${run.node.url}${path}`, {
      dispatcher: run.dispatcher,
      method: opts.method,
      headers,
      ...(opts.json === undefined ? {} : { body: JSON.stringify(opts.json) }),
      signal: run.deadline.signal,
    });
    return { status: res.statusCode, headers: res.headers, body: res.body, ttfbMs: run.since() };
  } catch (err) {
    return run.deadline.verdict() ?? classifyNetworkError(err);
  }
}

/**
 * undici's body emits 'error' when destroyed before its end; with no listener that would be an uncaught
 * exception. Every path that may destroy a body (deadline, cap, early return) therefore guards it first.
 */
export function guard(body: Reply['body']): Reply['body'] {
  body.on('error', () => undefined);
  return body;
}

/** Drops a body we will not read, closing its connection. */
export function discard(body: Reply['body']): void {
  guard(body).destroy();
}

/**
 * Reads at most `limit` bytes. Past the limit it stops and destroys the body, so an endless or huge reply
 * cannot grow memory; `truncated` then says so. Read errors come back as an Outcome.
 */
export async function readCapped(run: ProbeRun, body: Reply['body'], limit: number): Promise<{ bytes: Buffer; truncated: boolean } | Outcome> {
  const chunks: Buffer[] = [];
  let total = 0;
  let truncated = false;
  guard(body);
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      if (total + buf.length > limit) {
        chunks.push(buf.subarray(0, limit - total));
        total = limit;
        truncated = true;
        break; // leaving the loop destroys the stream and the connection under it
      }
      chunks.push(buf);
      total += buf.length;
    }
  } catch (err) {
    return run.deadline.verdict() ?? classifyNetworkError(err);
  }
  return { bytes: Buffer.concat(chunks, total), truncated };
}

/** Judges a non-2xx reply from a bounded prefix of its body. */
export async function judgeError(run: ProbeRun, reply: Reply, path: string, expect: 'json' | 'ndjson' | 'sse'): Promise<Outcome> {
  const read = await readCapped(run, reply.body, Math.min(ERROR_BODY_BYTES, run.settings.maxResponseBytes));
  const base = { httpStatus: reply.status, ttfbMs: reply.ttfbMs };
  if (isFailure(read)) return { ...read, ...base };
  // Lenient decode: a prefix may end inside a multi-byte character, and this text only feeds the detail.
  const body = read.bytes.toString('utf8');
  return { ...classifyHttp({ status: reply.status, headers: reply.headers, expect, body, path, now: run.clock.now() }), ...base };
}

export interface JsonReply {
  status: number;
  ttfbMs: number;
  value: unknown;
  headers: Reply['headers'];
}

/** GET a JSON document: status, shape, size cap and UTF-8 are all checked before the value is returned. */
export async function getJson(run: ProbeRun, path: string): Promise<JsonReply | Outcome> {
  const reply = await send(run, path, { method: 'GET', accept: 'application/json' });
  if (isFailure(reply)) return reply;
  if (reply.status < 200 || reply.status >= 300) return judgeError(run, reply, path, 'json');
  const base = { httpStatus: reply.status, ttfbMs: reply.ttfbMs };
  const cap = run.settings.maxResponseBytes;
  const read = await readCapped(run, reply.body, cap);
  if (isFailure(read)) return { ...read, ...base };
  if (read.truncated) return { reason: 'too_large', detail: `reply to ${path} is larger than maxResponseBytes (${cap} bytes); stopped reading`, ...base };
  const text = decodeUtf8(read.bytes);
  if (text === undefined) return { reason: 'bad_response', detail: `reply to ${path} is not valid UTF-8`, ...base };
  const verdict = classifyHttp({ status: reply.status, headers: reply.headers, expect: 'json', body: text, path });
  if (verdict.reason !== 'ok') return { ...verdict, ...base };
  return { status: reply.status, ttfbMs: reply.ttfbMs, value: JSON.parse(text) as unknown, headers: reply.headers };
}
