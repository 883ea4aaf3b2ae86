import { CF_BLOCK_CODES, CF_RATE_LIMIT_CODES, cloudflareErrorCode, cloudflareProtection, retryAfterMs, type CloudflareProtection } from '../core/cloudflare';
import { reasonForCodes } from '../core/reasons';
import type { ProbeResult, Reason } from './types';

/**
 * Pure judgement of what a node answered. Probes collect facts (status, headers, a bounded body prefix,
 * error codes); these functions turn them into exactly one Reason plus a short detail. Nothing here does
 * I/O, so every rule is unit-tested with plain objects (test/unit/classify.test.ts).
 *
 * Rules come from /work/shared/reference/ollama-cloudflare.md: Cloudflare is recognised by status plus its
 * headers (`server: cloudflare` / `cf-ray`), never by body text alone; bodies only refine the detail. Its
 * protections (challenge, block, rate limit) by the documented signals in src/core/cloudflare.ts.
 */

export type CloudflareInfo = NonNullable<ProbeResult['cloudflare']>;

export interface HttpFacts {
  status: number;
  /** Response headers as undici gives them (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** What a 2xx reply must be: one JSON document, an Ollama NDJSON stream or an SSE stream. */
  expect: 'json' | 'ndjson' | 'sse';
  /** Body text read so far (bounded). Undefined when not read, e.g. a 2xx stream about to be parsed. */
  body?: string;
  /** Request path, for the detail text. */
  path?: string;
  /** Wall-clock now (epoch ms), to read a `Retry-After` given as an HTTP-date. */
  now?: number;
}

export interface Verdict {
  reason: Reason;
  detail: string;
  cloudflare?: CloudflareInfo;
  /** Cloudflare's rate limit: how long it asks us to wait (`Retry-After`), in ms. */
  retryAfterMs?: number;
}

const MAX_DETAIL = 300;

/** Cloudflare 1xxx codes a tunnelled Ollama node can realistically hit, in words for the detail text. */
const CF_CODES: Readonly<Record<number, string>> = {
  ...CF_BLOCK_CODES,
  ...CF_RATE_LIMIT_CODES,
  1016: 'origin DNS error: tunnel or its DNS record missing',
  1033: 'tunnel not connected',
};

/** Statuses Cloudflare itself generates when it cannot get an answer from the origin. */
const CF_ORIGIN_UNREACHABLE = new Set([502, 520, 521, 522, 523, 525, 526]);

export function clip(text: string, max = MAX_DETAIL): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

export function headerValue(headers: HttpFacts['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function viaCloudflare(headers: HttpFacts['headers']): boolean {
  return headerValue(headers, 'server')?.trim().toLowerCase() === 'cloudflare' || headerValue(headers, 'cf-ray') !== undefined;
}

function tryJson(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The error message of an Ollama (`{"error":"…"}`) or OpenAI-shaped (`{"error":{"message":"…"}}`) body. */
export function errorMessage(json: unknown): string | undefined {
  if (!isRecord(json)) return undefined;
  const e = json.error;
  if (typeof e === 'string') return e;
  if (isRecord(e) && typeof e.message === 'string') return e.message;
  return undefined;
}

const lookup = (headers: HttpFacts['headers']) => (name: string) => headerValue(headers, name);

/** cf-ray and the 1xxx code, from the RFC 9457 JSON body, the cf-error-type header or the HTML/text page. */
export function cloudflareInfo(headers: HttpFacts['headers'], body: string | undefined): CloudflareInfo {
  const info: CloudflareInfo = {};
  const json = tryJson(body);
  const ray = headerValue(headers, 'cf-ray') ?? (isRecord(json) && typeof json.ray_id === 'string' ? json.ray_id : undefined);
  if (ray) info.ray = clip(ray, 40);
  const code = cloudflareErrorCode(lookup(headers), body);
  if (code !== undefined) info.errorCode = code;
  return info;
}

function describeCloudflare(status: number, cf: CloudflareInfo): string {
  const code = cf.errorCode === undefined ? '' : ` (error ${cf.errorCode}${CF_CODES[cf.errorCode] ? `: ${CF_CODES[cf.errorCode]}` : ''})`;
  return `${status} from Cloudflare${code}${cf.ray ? `, ray ${cf.ray}` : ''}`;
}

/** A Location for the detail text: origin and path only, because Access puts a signed JWT in the query. */
function safeLocation(location: string, path: string | undefined): { text: string; access: boolean } {
  let u: URL;
  try {
    u = new URL(location, 'http://relative.invalid');
  } catch {
    return { text: clip(location.split('?')[0] ?? '', 120), access: false };
  }
  const access = u.hostname.endsWith('.cloudflareaccess.com') || u.pathname.includes('/cdn-cgi/access/');
  const shown = u.hostname === 'relative.invalid' ? u.pathname : `${u.origin}${u.pathname}`;
  return { text: clip(shown || path || '?', 120), access };
}

function where(facts: HttpFacts): string {
  return facts.path ? ` on ${facts.path}` : '';
}

function mediaType(headers: HttpFacts['headers']): string {
  return (headerValue(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function classifySuccess(facts: HttpFacts): Verdict {
  const type = mediaType(facts.headers);
  const shown = type || 'no content-type';
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    return { reason: 'not_ollama', detail: clip(`${facts.status} ${shown}${where(facts)}: a web page, not the API (login page, wrong URL or a different service)`) };
  }
  if (facts.expect === 'sse') {
    if (type === 'text/event-stream') return { reason: 'ok', detail: 'event stream' };
    return { reason: 'bad_response', detail: clip(`${facts.status} ${shown}${where(facts)}: expected text/event-stream`) };
  }
  if (facts.expect === 'ndjson') {
    if (type === '' || type.includes('ndjson') || type.includes('json')) return { reason: 'ok', detail: 'json stream' };
    return { reason: 'bad_response', detail: clip(`${facts.status} ${shown}${where(facts)}: expected application/x-ndjson`) };
  }
  if (facts.body === undefined) return { reason: 'ok', detail: `${facts.status}` };
  if (facts.body.trim() === '') return { reason: 'bad_response', detail: clip(`${facts.status} with an empty body${where(facts)}, expected JSON`) };
  if (tryJson(facts.body) !== undefined) return { reason: 'ok', detail: `${facts.status} JSON` };
  // Declared JSON but unparseable is a broken API; anything else is a different kind of server.
  if (type.includes('json')) return { reason: 'bad_response', detail: clip(`${facts.status}${where(facts)}: invalid JSON (${facts.body.length} chars)`) };
  return { reason: 'not_ollama', detail: clip(`${facts.status} ${shown}${where(facts)}: not JSON, so not the Ollama API`) };
}

function classifyRedirect(facts: HttpFacts, cf: CloudflareInfo | undefined): Verdict {
  const location = headerValue(facts.headers, 'location');
  if (!location) return { reason: 'bad_response', detail: clip(`${facts.status} redirect without a Location${where(facts)}`) };
  const loc = safeLocation(location, facts.path);
  if (loc.access) {
    return {
      reason: 'auth_required',
      detail: clip(`${facts.status} to Cloudflare Access login (${loc.text}): send a service token (CF-Access-Client-Id/-Secret headers) and give the app a Service Auth policy`),
      ...(cf ? { cloudflare: cf } : {}),
    };
  }
  return { reason: 'bad_response', detail: clip(`${facts.status} redirect to ${loc.text}, not followed (fix the node URL)`) };
}

function classifyAuth(facts: HttpFacts, cf: CloudflareInfo | undefined, message: string | undefined): Verdict {
  const body = facts.body ?? '';
  if (facts.status === 403 && body.trim() === '') {
    return {
      reason: 'auth_required',
      detail: '403 with empty body: Ollama refused the Host header — set cloudflared --http-host-header localhost:11434 (or OLLAMA_HOST=0.0.0.0)',
    };
  }
  if (cf && cf.errorCode !== undefined) {
    return { reason: 'auth_required', detail: clip(`${describeCloudflare(facts.status, cf)}`), cloudflare: cf };
  }
  const hint = facts.status === 401 ? 'credentials missing or rejected' : 'forbidden';
  const via = cf ? ' via Cloudflare (Access service token missing, expired or not allowed?)' : '';
  return {
    reason: 'auth_required',
    detail: clip(`${facts.status} ${hint}${where(facts)}${via}${message ? `: ${message}` : ''}; check the node's headers`),
    ...(cf ? { cloudflare: cf } : {}),
  };
}

/** Cloudflare's own protections, in words that name the setting to look at (the hints say the rest). */
function classifyProtection(facts: HttpFacts, reason: CloudflareProtection, cf: CloudflareInfo): Verdict {
  const at = `${facts.status} from Cloudflare${where(facts)}`;
  const code = cf.errorCode === undefined ? '' : ` (error ${cf.errorCode}${CF_CODES[cf.errorCode] ? `: ${CF_CODES[cf.errorCode]}` : ''})`;
  const ray = cf.ray ? `, ray ${cf.ray}` : '';
  switch (reason) {
    case 'cloudflare_challenge':
      return { reason, detail: clip(`${at}: a challenge page (cf-mitigated: challenge)${ray}: Bot Fight Mode, Browser Integrity Check or a rule's challenge; apps get it too`), cloudflare: cf };
    case 'cloudflare_blocked':
      return { reason, detail: clip(`${at}${code}${ray}: a security setting refuses this client; the Security Events log names it`), cloudflare: cf };
    case 'cloudflare_rate_limited': {
      const wait = retryAfterMs(headerValue(facts.headers, 'retry-after'), facts.now);
      const detail = clip(`${at}${code}${ray}: a rate limiting rule${wait === undefined ? '' : `; retry after ${Math.round(wait / 1000)} s`}`);
      return { reason, detail, cloudflare: cf, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
    }
  }
}

/**
 * Judges one HTTP exchange. For a 2xx it checks only that the reply has the shape the caller expects
 * (`ok` means "go on and read the content"); for everything else it names the failure.
 */
export function classifyHttp(facts: HttpFacts): Verdict {
  const { status } = facts;
  const json = tryJson(facts.body);
  const message = errorMessage(json);
  const fromCf = viaCloudflare(facts.headers);
  const cf = fromCf ? cloudflareInfo(facts.headers, facts.body) : undefined;
  const withMessage = (prefix: string) => clip(message ? `${prefix}: ${message}` : prefix);
  // Before any status rule: a challenge or a block looks like Access's 403, a rate limit like Ollama's queue.
  const protection = cloudflareProtection(status, lookup(facts.headers), cf?.errorCode ?? cloudflareErrorCode(lookup(facts.headers), facts.body), facts.body);
  if (protection) return classifyProtection(facts, protection, cf ?? cloudflareInfo(facts.headers, facts.body));

  if (status >= 200 && status < 300) return classifySuccess(facts);
  if (status >= 300 && status < 400) return classifyRedirect(facts, cf);
  if (status === 401 || status === 403) return classifyAuth(facts, cf, message);
  if (status === 404) {
    // Ollama: {"error":"model 'x' not found"}; its /v1 layer: {"error":{"message":"model 'x' not found",…}}.
    if (message && /not found/i.test(message) && /model/i.test(message)) {
      return { reason: 'model_missing', detail: clip(`404${where(facts)}: ${message} — pull it (ollama pull) or fix the model name`) };
    }
    return { reason: 'not_ollama', detail: withMessage(`404${where(facts)}: no such API at this URL (check the URL and api: setting)`) };
  }
  if (status === 405) return { reason: 'not_ollama', detail: clip(`405 method not allowed${where(facts)}: not the expected API`) };
  if (status === 429) {
    return { reason: 'overloaded', detail: clip(cf?.errorCode !== undefined ? describeCloudflare(status, cf) : withMessage(`429 rate limited${where(facts)}`)), ...(cf ? { cloudflare: cf } : {}) };
  }
  if (cf && status === 530) {
    return { reason: 'cloudflare_tunnel_down', detail: clip(`${describeCloudflare(status, cf)}: is cloudflared running and connected?`), cloudflare: cf };
  }
  if (cf && CF_ORIGIN_UNREACHABLE.has(status)) {
    // Ollama's own 502 (an unreachable cloud model) passes through the tunnel with Cloudflare's headers too.
    const ollamaError = typeof (json as { error?: unknown } | undefined)?.error === 'string' && !(isRecord(json) && json.cloudflare_error === true);
    if (!ollamaError) {
      return { reason: 'cloudflare_origin_unreachable', detail: clip(`${describeCloudflare(status, cf)}: tunnel up, but Ollama behind it is not answering`), cloudflare: cf };
    }
  }
  if (cf && status === 524) {
    return { reason: 'cloudflare_timeout', detail: clip(`${describeCloudflare(status, cf)}: origin sent no response within Cloudflare's ~100-125 s limit`), cloudflare: cf };
  }
  if (status === 503) return { reason: 'overloaded', detail: withMessage(`503${where(facts)}`) };
  if (status >= 500) return { reason: 'server_error', detail: withMessage(`${status}${where(facts)}`) };
  return { reason: 'bad_response', detail: withMessage(`unexpected HTTP ${status}${where(facts)}`) };
}

// ---------------------------------------------------------------------------------------------------------
// Network errors: judged by error code (Node's errno codes, undici's UND_ERR_* codes), never by message text.

interface ErrorFacts {
  code?: string;
  name?: string;
  message?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** Codes of an error, its causes and an AggregateError's members (Happy Eyeballs tries several addresses). */
function errorChain(err: unknown): ErrorFacts[] {
  const out: ErrorFacts[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (depth > 5 || e === null || typeof e !== 'object' || seen.has(e)) return;
    seen.add(e);
    const r = e as Record<string, unknown>;
    out.push({
      ...(typeof r.code === 'string' ? { code: r.code } : {}),
      ...(typeof r.name === 'string' ? { name: r.name } : {}),
      ...(typeof r.message === 'string' ? { message: r.message } : {}),
      ...(typeof r.address === 'string' ? { address: r.address } : {}),
      ...(typeof r.port === 'number' ? { port: r.port } : {}),
      ...(typeof r.hostname === 'string' ? { hostname: r.hostname } : {}),
    });
    visit(r.cause, depth + 1);
    if (Array.isArray(r.errors)) for (const inner of r.errors) visit(inner, depth + 1);
  };
  visit(err, 0);
  return out;
}

function target(f: ErrorFacts | undefined): string {
  if (!f) return '';
  if (f.hostname) return ` ${f.hostname}`;
  if (f.address) return ` ${f.address}${f.port === undefined ? '' : `:${f.port}`}`;
  return '';
}

/** Judges an error thrown while connecting, sending or reading. Pure: it looks at codes and classes only. */
export function classifyNetworkError(err: unknown): Verdict {
  const chain = errorChain(err);
  // Codes mean the same here as in the client: both map them through the reason table.
  const coded = reasonForCodes(chain.flatMap((f) => (f.code === undefined ? [] : [f.code])));
  const at = coded && chain.find((f) => f.code === coded.code);
  const code = coded?.code;
  // Our own deadline (an AbortSignal) carries no code; it ranks after every socket-level code but a parse error.
  const named = chain.find((f) => f.name === 'TimeoutError' || f.name === 'AbortError');
  if (named && (!coded || coded.reason === 'bad_response')) return { reason: 'timeout', detail: clip(`timed out (${named.name})`) };
  switch (coded?.reason) {
    case 'refused':
      return { reason: 'refused', detail: clip(`connection refused${target(at)} (ECONNREFUSED): nothing listening — is Ollama running?`) };
    case 'dns':
      return { reason: 'dns', detail: clip(`DNS lookup failed${target(at)} (${code})`) };
    case 'tls':
      return { reason: 'tls', detail: clip(`TLS failed (${code}${at?.message ? `: ${at.message}` : ''})`) };
    case 'connect_timeout': {
      const what = code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT' ? 'connect timed out' : 'host unreachable';
      return { reason: 'connect_timeout', detail: clip(`${what}${target(at)} (${code}): machine off, asleep or firewalled?`) };
    }
    case 'reset':
      return { reason: 'reset', detail: clip(`connection dropped by the other side (${code})`) };
    case 'timeout':
      return { reason: 'timeout', detail: clip(`timed out (${code})`) };
    case 'bad_response':
      if (code?.startsWith('HPE_')) return { reason: 'bad_response', detail: clip(`response is not valid HTTP (${code})`) };
      if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return { reason: 'bad_response', detail: 'response body shorter or longer than its Content-Length' };
      break;
    case undefined:
      break;
  }
  const first = chain[0];
  const label = first?.code ?? first?.name ?? typeof err;
  // An unknown socket-level code (E…) is most likely a dropped connection; anything else is a malformed exchange.
  const reason: Reason = /^E[A-Z]+$/.test(first?.code ?? '') ? 'reset' : 'bad_response';
  return { reason, detail: clip(`request failed (${label}${first?.message ? `: ${first.message}` : ''})`) };
}
