/**
 * Decides, per request, what the active fault does to it: a fault, its options and the request go in; a plan
 * comes out, which server.ts carries out (no I/O here). Connection-level `refuse` is handled by server.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { accessRedirect, accessUnauthorized, challengePage, cloudflareError } from './cloudflare';
import type { GenerationMode } from './generation';
import { RUNNER_STOPPED } from './generation';
import { openAiError } from './openai-api';
import type { Fault, FaultOptions } from './types';
import { errorReply, JSON_TYPE, type Chunk, type Delivery, type Reply } from './wire';

export type RouteClass = 'liveness' | 'generation' | 'other';

export interface RouteInfo {
  class: RouteClass;
  /** /v1/… routes wrap errors in the OpenAI envelope. */
  openai: boolean;
}

/** Handle the request normally, bent by these fields. */
export interface PassPlan {
  kind: 'pass';
  mode: GenerationMode;
  modelsHidden: boolean;
  delivery: Delivery;
  /** Wait before running the route (slow_first_token): it counts as load time, as on a real node. */
  delayMs: number;
}

export type FaultPlan =
  | PassPlan
  /** Answer with `reply` (after `delayMs`) instead of the route. */
  | { kind: 'replace'; delayMs: number; reply: Reply }
  | { kind: 'hang' }
  | { kind: 'reset' };

export const HUGE_BODY_BYTES = 50 * 1024 * 1024;
export const DEFAULT_SLOW_FIRST_TOKEN_MS = 10_000;
export const DEFAULT_SLOWLORIS_BYTE_MS = 1_000;
/** Ollama's ErrMaxQueue text, with its two spaces (server/sched.go). */
export const BUSY_MESSAGE = 'server busy, please try again.  maximum pending requests exceeded';

const PASS: PassPlan = { kind: 'pass', mode: 'normal', modelsHidden: false, delivery: { kind: 'normal' }, delayMs: 0 };

export function inScope(opts: FaultOptions, route: RouteInfo): boolean {
  const scope = opts.scope ?? 'all';
  return scope === 'all' || scope === route.class;
}

async function* hugeBody(): AsyncGenerator<Chunk> {
  const piece = Buffer.alloc(64 * 1024, 'a');
  yield '{"padding":"';
  for (let sent = 0; sent < HUGE_BODY_BYTES; sent += piece.length) yield piece;
  yield '"}\n';
}

const LOGIN_PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <main class="login">
    <h1>Sign in to continue</h1>
    <form method="post" action="/login">
      <label>Email <input type="email" name="email" autocomplete="username"></label>
      <label>Password <input type="password" name="password" autocomplete="current-password"></label>
      <button type="submit">Sign in</button>
    </form>
  </main>
</body>
</html>
`;

function hostOf(headers: IncomingHttpHeaders): string {
  return (headers.host ?? 'localhost').replace(/:\d+$/, '');
}

function nativeOrOpenAi(route: RouteInfo, status: number, message: string): Reply {
  return route.openai ? openAiError(status, message) : errorReply(status, message);
}

/** The reply that replaces the route's for the "answer instead" faults; undefined for the others. */
function replacement(fault: Fault, route: RouteInfo, headers: IncomingHttpHeaders, url: string, opts: FaultOptions): Reply | undefined {
  // `format: 'html'`: the HTML page whatever Accept asks (a zone with a custom Error Page, or before 2026-03).
  const accept = opts.format === 'html' ? undefined : headers.accept;
  switch (fault) {
    case 'cf_challenge':
      return challengePage(hostOf(headers));
    case 'cf_waf_block':
      return cloudflareError(1020, accept, hostOf(headers));
    case 'cf_rate_limit':
      return cloudflareError(1015, accept, hostOf(headers));
    case 'cf_tunnel_down':
      return cloudflareError(1033, headers.accept, hostOf(headers));
    case 'cf_origin_unreachable':
      return cloudflareError(502, headers.accept, hostOf(headers));
    case 'cf_timeout':
      return cloudflareError(524, headers.accept, hostOf(headers));
    case 'access_redirect':
      return accessRedirect(hostOf(headers), url);
    case 'access_401':
      return accessUnauthorized();
    case 'forbidden_host':
      // gin's AbortWithStatus(403): no body, no content type, no Cloudflare headers.
      return { status: 403, headers: {} };
    case 'html_200':
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: LOGIN_PAGE };
    case 'redirect_loop':
      return { status: 302, headers: { location: url } };
    case 'server_error':
      return nativeOrOpenAi(route, 500, RUNNER_STOPPED);
    case 'busy':
      return nativeOrOpenAi(route, 503, BUSY_MESSAGE);
    case 'bad_json':
      return { status: 200, headers: { 'content-type': JSON_TYPE }, body: '{not json' };
    case 'huge_body':
      return { status: 200, headers: { 'content-type': JSON_TYPE }, stream: hugeBody() };
    default:
      return undefined;
  }
}

const GENERATION_MODES: Partial<Record<Fault, GenerationMode>> = {
  wrong_answer: 'wrong_answer',
  empty_answer: 'empty_answer',
  endless_stream: 'endless',
  mid_stream_error: 'mid_stream_error',
  invalid_utf8: 'invalid_utf8',
};

/** What `fault` does to one request on `route`. */
export function planFault(fault: Fault, opts: FaultOptions, route: RouteInfo, headers: IncomingHttpHeaders, url: string): FaultPlan {
  if (fault === 'none' || fault === 'refuse' || !inScope(opts, route)) return PASS;
  switch (fault) {
    case 'hang':
      return { kind: 'hang' };
    case 'reset':
      return { kind: 'reset' };
    case 'model_missing':
      return { ...PASS, modelsHidden: true };
    case 'slowloris':
      return { ...PASS, delivery: { kind: 'slowloris', byteIntervalMs: opts.delayMs ?? DEFAULT_SLOWLORIS_BYTE_MS } };
    case 'stall_mid_stream':
      return { ...PASS, delivery: { kind: 'stall' } };
    case 'truncated_json':
      return { ...PASS, delivery: { kind: 'truncate' } };
    case 'slow_first_token':
      // A slow load or prompt eval delays generation only; /api/tags and friends stay quick, as on a real node.
      return route.class === 'generation' ? { ...PASS, delayMs: opts.delayMs ?? DEFAULT_SLOW_FIRST_TOKEN_MS } : PASS;
    default:
      break;
  }
  const mode = GENERATION_MODES[fault];
  if (mode) return route.class === 'generation' ? { ...PASS, mode } : PASS;
  const reply = replacement(fault, route, headers, url, opts);
  if (!reply) return PASS;
  return { kind: 'replace', delayMs: fault === 'cf_timeout' ? (opts.delayMs ?? 0) : 0, reply };
}
