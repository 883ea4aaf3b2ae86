import { cloudflareErrorCode, cloudflareProtection, proxiedByCloudflare, type HeaderLookup } from '../core/cloudflare';
import { REASON_INFO, reasonForCodes } from '../core/reasons';
import type { FailureReason } from './types';

export interface Failure {
  reason: FailureReason;
  status?: number;
  detail: string;
}

const lookup =
  (h: Headers): HeaderLookup =>
  (name) =>
    h.get(name) ?? undefined;

function fromCloudflare(h: Headers): boolean {
  return proxiedByCloudflare(lookup(h));
}

/** Cloudflare's own protections, judged by the table the probes use (src/core/cloudflare.ts). */
function protection(s: number, h: Headers, body?: string): Failure | undefined {
  const get = lookup(h);
  const code = cloudflareErrorCode(get, body);
  const reason = cloudflareProtection(s, get, code, body);
  if (!reason) return undefined;
  const ray = h.get('cf-ray');
  const retry = reason === 'cloudflare_rate_limited' ? h.get('retry-after') : null;
  const detail = `HTTP ${s}: ${REASON_INFO[reason].words}${code === undefined ? '' : ` (error ${code})`}${ray ? `, ray ${ray}` : ''}${retry ? `, Retry-After ${retry}` : ''}`;
  return { reason, status: s, detail };
}

/**
 * Judges a response by status and headers only (the body stays untouched for the caller).
 * Returns undefined when the caller should get this response; a Failure when another node should be tried.
 *
 *   status                 | verdict
 *   -----------------------+---------------------------------------------------------------------------
 *   2xx                    | usable
 *   cf-mitigated: challenge| failure (cloudflare_challenge): Bot Fight Mode, a rule's challenge
 *   Cloudflare 1xxx block  | failure (cloudflare_blocked): WAF rule 1020, IP Access 1005-1009, 1010, 1012
 *   Cloudflare 1015, or a  | failure (cloudflare_rate_limited): a rate limiting rule
 *     429 it generated     |   (the 1xxx code from cf-error-type here; from the page in settleFailure)
 *   3xx                    | failure: nothing in Ollama's API redirects; it is Cloudflare Access asking
 *                          |   for a login (Location *.cloudflareaccess.com) or a misrouted proxy
 *   401, 403               | failure: Access without a (valid) service token, Cloudflare's browser check
 *                          |   (1010), or Ollama's empty 403 for a Host it does not allow. None of these
 *                          |   depends on the request, so another node can do better
 *   429, 503               | failure (overloaded): Ollama's queue is full / runner rate limit
 *   530                    | failure: Cloudflare Tunnel has no connector (error 1033/1016)
 *   524                    | failure: origin too slow for Cloudflare's proxy read timeout
 *   502, 520-523 via CF    | failure: tunnel up, origin unreachable
 *   525, 526               | failure: TLS between Cloudflare and origin
 *   other 5xx              | failure (server_error)
 *   other 4xx              | usable: the request itself is wrong (unknown model, bad JSON) and every node
 *                          |   would say the same; the caller needs the message
 */
export function classifyResponse(res: Response): Failure | undefined {
  const s = res.status;
  const h = res.headers;
  const cf = fromCloudflare(h);
  const via = cf ? ' via Cloudflare' : '';
  if (s >= 200 && s < 300) return undefined;
  const guarded = protection(s, h);
  if (guarded) return guarded;
  if (s >= 300 && s < 400) {
    const location = h.get('location') ?? '';
    let host = '';
    try {
      host = new URL(location, 'http://x').hostname;
    } catch {
      host = '';
    }
    if (host.endsWith('.cloudflareaccess.com')) return { reason: 'auth_required', status: s, detail: `HTTP ${s}: Cloudflare Access login redirect (service token missing or not accepted)` };
    return { reason: 'bad_response', status: s, detail: `HTTP ${s} redirect to ${host || 'an unknown place'}` };
  }
  if (s === 401 || s === 403) {
    const empty = h.get('content-length') === '0';
    const hint = empty && s === 403 ? ' (empty body: Ollama refused the Host header; see --http-host-header)' : '';
    return { reason: 'auth_required', status: s, detail: `HTTP ${s}${via}${hint}` };
  }
  if (s === 429 || s === 503) return { reason: 'overloaded', status: s, detail: `HTTP ${s}${via}` };
  if (s === 530) return { reason: 'cloudflare_tunnel_down', status: s, detail: 'HTTP 530: Cloudflare Tunnel has no connected cloudflared' };
  if (s === 524) return { reason: 'cloudflare_timeout', status: s, detail: 'HTTP 524: origin did not answer within Cloudflare\'s proxy read timeout' };
  if (cf && (s === 502 || (s >= 520 && s <= 523))) return { reason: 'cloudflare_origin_unreachable', status: s, detail: `HTTP ${s}: Cloudflare could not reach the origin` };
  if (s === 525 || s === 526) return { reason: 'tls', status: s, detail: `HTTP ${s}: TLS between Cloudflare and the origin failed` };
  if (s >= 500) return { reason: 'server_error', status: s, detail: `HTTP ${s}${via}` };
  return undefined;
}

/** Bytes of a failed response's body read to find Cloudflare's 1xxx code: its pages put it near the top. */
const FAILURE_BODY_BYTES = 16 * 1024;

async function bodyPrefix(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    while (bytes < max) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

/**
 * A failed response's last word: the body is read no further than FAILURE_BODY_BYTES and then dropped (the
 * caller never gets a failed response). A 401/403/429 that came through Cloudflare may be one of its
 * protections whose 1xxx code is only in the page (a 1020 HTML page, the RFC 9457 JSON): the prefix names it.
 */
export async function settleFailure(res: Response, f: Failure): Promise<Failure> {
  const worthReading = (f.reason === 'auth_required' || f.reason === 'overloaded') && fromCloudflare(res.headers);
  if (!worthReading) {
    await res.body?.cancel().catch(() => undefined);
    return f;
  }
  const body = await bodyPrefix(res, FAILURE_BODY_BYTES).catch(() => undefined);
  return (body !== undefined && protection(res.status, res.headers, body)) || f;
}

/** Every error code in a fetch failure's chain (Node wraps the socket error as `cause`; Happy Eyeballs as `errors`). */
function codesOf(e: unknown): string[] {
  const out: string[] = [];
  const visit = (cur: unknown, depth: number): void => {
    if (depth > 5 || cur === null || typeof cur !== 'object') return;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
    visit((cur as { cause?: unknown }).cause, depth + 1);
    const errors = (cur as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
  };
  visit(e, 0);
  return out;
}

/** Judges a thrown fetch error by its code (never by message text). `timedOut` means our own deadline fired. */
export function classifyError(e: unknown, timedOut: boolean, timeoutMs: number): Failure {
  if (timedOut) return { reason: 'timeout', detail: `no response headers within ${timeoutMs}ms` };
  const codes = codesOf(e);
  // The same table the probes use (src/core/reasons.ts): an app's report and a probe name a failure alike.
  const coded = reasonForCodes(codes);
  if (coded) return { reason: coded.reason, detail: coded.code };
  return { reason: 'reset', detail: codes[0] ?? ((e as Error)?.name || 'network error') };
}
