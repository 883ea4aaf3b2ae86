import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_REPORT_BYTES } from '../client/failure-report';
import type { Logger } from '../logging';
import { createReportIntake, type AcceptedReport } from '../intake/intake';
import { createRateLimiter, type RateLimiter } from '../intake/rate-limit';
import { systemClock, type Clock } from '../util/clock';
import type { Secret } from '../util/secret';
import { bearerCheck } from './auth';
import { capConnectionsPerAddress } from './conn-limit';
import type { Metrics } from './metrics';

export interface HttpServerOptions {
  host: string;
  port: number;
  token?: Secret;
  logger: Logger;
  nodeNames: string[];
  reportsPerMinute: number;
  clock?: Clock;
  /** The current published document and its ETag; undefined until the first state is written. */
  getState(): { json: string; etag: string } | undefined;
  health(): { ok: boolean; detail: string };
  metrics: Metrics;
  onReport(r: AcceptedReport): void;
  /** GET/POST /peer: what peer monitors poll (src/peers/report.ts). Absent: 404. Needs a token, from loopback too. */
  peerReport?(): unknown;
  /** peers.token: opens /peer only (http.token opens it too). */
  peerToken?: Secret;
  /** The report a peer POSTs with its poll (heard both ways); an error string when it is not one we accept. */
  onPeerReport?(body: string): { ok: true } | { ok: false; error: string };
  /** GET / (HTML). Absent: 404. */
  statusPage?(): string | Promise<string>;
  /** Share one limiter with the drop folder so a node gets reportsPerMinute in total, not per door. */
  limiter?: RateLimiter;
  /** Defaults: headers 5 s, whole request 10 s, idle keep-alive 5 s. */
  timeouts?: { headersMs?: number; requestMs?: number; keepAliveMs?: number };
  /** Open connections one address (IPv6: one /64) may hold; more are closed at once. Default 64. */
  maxConnectionsPerAddress?: number;
  /** Open connections in total; more are closed at once. Default 512. */
  maxConnections?: number;
}

export interface RunningHttpServer {
  url: string;
  port: number;
  /** Connections closed at once because their address was at maxConnectionsPerAddress. */
  readonly refusedConnections: number;
  close(): Promise<void>;
}

type Route = { methods: readonly string[]; open?: boolean; handle(req: IncomingMessage, res: ServerResponse): Promise<void> | void };

const JSON_TYPE = 'application/json; charset=utf-8';
/** Same bound as a poller reading our answer (peers/wire MAX_PEER_REPORT_BYTES). */
const MAX_PEER_BODY_BYTES = 256 * 1024;

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | number> = {}): void {
  send(res, status, JSON.stringify(value), { 'cache-control': 'no-store', ...headers });
}

/** ETags are sent quoted; the daemon may hand over a bare hash. */
function quoteEtag(tag: string): string {
  return /^(W\/)?"[^"]*"$/.test(tag) ? tag : `"${tag.replace(/"/g, '')}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"x" matches "x". */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === bare;
  });
}

type BodyRead = { ok: true; text: string } | { ok: false; why: 'too_large' | 'aborted' };

/** Reads at most `max` bytes; past that it stops reading, and the caller answers 413 and closes. */
function readBody(req: IncomingMessage, max: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (r: BodyRead): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (c: Buffer): void => {
      total += c.length;
      if (total > max) {
        req.pause();
        finish({ ok: false, why: 'too_large' });
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => finish({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
    req.on('aborted', () => finish({ ok: false, why: 'aborted' }));
    req.on('error', () => finish({ ok: false, why: 'aborted' }));
    req.on('close', () => finish({ ok: false, why: 'aborted' }));
  });
}

/**
 * The daemon's HTTP face: GET /state, /healthz, /metrics, POST /report, GET / (status page).
 * Plain node:http: five routes do not need a framework, and every byte read is bounded.
 */
export function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const log = opts.logger.child({ component: 'http' });
  const clock = opts.clock ?? systemClock;
  const check = bearerCheck(opts.token);
  const limiter = opts.limiter ?? createRateLimiter({ perMinute: opts.reportsPerMinute, clock });
  const intake = createReportIntake({ nodeNames: opts.nodeNames, limiter, logger: log, onReport: opts.onReport, metrics: opts.metrics });
  /*
   * Every client of this API (apps, peers, Prometheus, a browser) sends a few hundred bytes of headers; even
   * across the Internet they arrive in well under a second. 5 s leaves room for a slow mobile link while a
   * slowloris connection holds its slot for 5 s, not Node's default 60 s.
   */
  const headersMs = opts.timeouts?.headersMs ?? 5_000;
  // Bodies are failure reports of a few KiB at most (MAX_REPORT_BYTES).
  const requestMs = Math.max(opts.timeouts?.requestMs ?? 10_000, headersMs);

  const routes: Record<string, Route> = {
    '/state': {
      methods: ['GET', 'HEAD'],
      handle(req, res) {
        const s = opts.getState();
        if (!s) {
          sendJson(res, 503, { error: 'no state yet: the monitor has not finished its first checks' }, { 'retry-after': 2 });
          return;
        }
        const etag = quoteEtag(s.etag);
        const headers = { etag, 'cache-control': 'no-cache' };
        if (matchesEtag(req.headers['if-none-match'], etag)) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        send(res, 200, s.json, headers);
      },
    },
    '/healthz': {
      methods: ['GET', 'HEAD'],
      open: true,
      handle(_req, res) {
        const h = opts.health();
        sendJson(res, h.ok ? 200 : 503, { ok: h.ok, detail: h.detail });
      },
    },
    '/metrics': {
      methods: ['GET', 'HEAD'],
      async handle(_req, res) {
        const text = await opts.metrics.render();
        send(res, 200, text, { 'content-type': opts.metrics.contentType, 'cache-control': 'no-store' });
      },
    },
    '/report': {
      methods: ['POST'],
      async handle(req, res) {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        if (type !== 'application/json') {
          sendJson(res, 415, { error: `Content-Type must be application/json, got ${JSON.stringify((req.headers['content-type'] ?? '(none)').slice(0, 60))}` });
          return;
        }
        const tooLarge = (): void =>
          // Closing the connection is what "stop reading" means on HTTP/1.1: the rest of the body is never read.
          sendJson(res, 413, { error: `report body larger than ${MAX_REPORT_BYTES} bytes` }, { connection: 'close' });
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > MAX_REPORT_BYTES) return tooLarge();
        const body = await readBody(req, MAX_REPORT_BYTES);
        if (!body.ok) {
          if (body.why === 'too_large') tooLarge();
          return;
        }
        const r = intake.take(body.text, 'http');
        if (r.ok) sendJson(res, 202, { accepted: true, node: r.node });
        else if (r.kind === 'invalid') sendJson(res, 400, { error: r.error });
        else sendJson(res, 429, { error: r.error }, { 'retry-after': Math.max(1, Math.ceil(r.retryAfterMs / 1000)) });
      },
    },
  };
  const peerReport = opts.peerReport;
  if (peerReport) {
    const peerCheck = opts.peerToken ? bearerCheck(opts.peerToken) : undefined;
    routes['/peer'] = {
      methods: ['GET', 'POST'],
      // Its own check: http.token or peers.token (which opens nothing else).
      open: true,
      async handle(req, res) {
        // Peers are remote by nature: no token configured means no peer endpoint, loopback or not.
        const auth = req.headers.authorization;
        const allowed = (peerCheck !== undefined && peerCheck(auth) === undefined) || (opts.token !== undefined && check(auth) === undefined);
        if (!allowed) {
          sendJson(res, 401, { error: !opts.token && !peerCheck ? 'the peer endpoint needs http.token or peers.token' : 'wrong or missing peer token' }, { 'www-authenticate': 'Bearer realm="llm-sentinel"' });
          return;
        }
        if (req.method === 'POST') {
          const body = await readBody(req, MAX_PEER_BODY_BYTES);
          if (!body.ok) {
            if (body.why === 'too_large') sendJson(res, 413, { error: `peer report larger than ${MAX_PEER_BODY_BYTES} bytes` }, { connection: 'close' });
            return;
          }
          // A report we cannot take is logged there; we still answer ours (the poller learns from it).
          if (body.text.length > 0) opts.onPeerReport?.(body.text);
        }
        sendJson(res, 200, peerReport());
      },
    };
  }
  const statusPage = opts.statusPage;
  if (statusPage) {
    routes['/'] = {
      methods: ['GET', 'HEAD'],
      async handle(_req, res) {
        const html = await statusPage();
        send(res, 200, html, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      },
    };
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = clock.mono();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = Object.prototype.hasOwnProperty.call(routes, path) ? routes[path] : undefined;
    // Method, path and status only: headers (Authorization) are never logged.
    res.once('finish', () => log.debug({ method: req.method, path: path.slice(0, 100), status: res.statusCode, ms: Math.round(clock.mono() - started) }, 'http request'));
    try {
      // Everything but /healthz is behind the token, unknown paths included, so a probe learns nothing.
      if (!route?.open) {
        const denied = check(req.headers.authorization);
        if (denied) {
          // The page asks a browser for Basic credentials (token as the password); the API asks for a bearer token.
          const challenge =
            path === '/' ? 'Basic realm="llm-sentinel", charset="UTF-8"' : denied === 'invalid' ? 'Bearer realm="llm-sentinel", error="invalid_token"' : 'Bearer realm="llm-sentinel"';
          sendJson(res, 401, { error: denied === 'invalid' ? 'wrong bearer token' : 'missing Authorization: Bearer <token>' }, { 'www-authenticate': challenge });
          return;
        }
      }
      if (!route) {
        sendJson(res, 404, { error: `not found: ${path.slice(0, 100)}` });
        return;
      }
      const method = req.method ?? 'GET';
      if (!route.methods.includes(method)) {
        sendJson(res, 405, { error: `method ${method.slice(0, 20)} not allowed on ${path}; use ${route.methods.join(', ')}` }, { allow: route.methods.join(', ') });
        return;
      }
      await route.handle(req, res);
    } catch (e) {
      log.error({ err: e, path }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  };

  const server = createServer(
    {
      headersTimeout: headersMs,
      requestTimeout: requestMs,
      keepAliveTimeout: opts.timeouts?.keepAliveMs ?? 5_000,
      // How often Node checks the two timeouts above; its 30 s default would let a slow client sit that long.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersMs / 2))),
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => void handle(req, res),
  );
  server.maxConnections = opts.maxConnections ?? 512;
  const cap = capConnectionsPerAddress(server, opts.maxConnectionsPerAddress ?? 64, (key) =>
    log.warn({ address: key, max: opts.maxConnectionsPerAddress ?? 64 }, 'connection cap reached for one address; closing its extra connections'),
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ code: err.code }, 'bad or timed-out HTTP client');
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });

  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (e) => log.error({ err: e }, 'http server error'));
      const port = (server.address() as AddressInfo).port;
      const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
      log.info({ host: opts.host, port, auth: opts.token ? 'bearer' : 'none' }, 'http server listening');
      resolve({
        url: `http://${host}:${port}`,
        port,
        get refusedConnections() {
          return cap.refused;
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
