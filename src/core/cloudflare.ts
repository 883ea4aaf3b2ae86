/**
 * Cloudflare's own protections (challenge, block, rate limit), told apart from everything else by the signals
 * Cloudflare documents, never by page text alone. Pure and import-free: the probes (src/probes/classify.ts)
 * and the client (src/client/classify.ts) both judge through it, so a probe and an app name a refusal alike.
 *
 * The signals, and the document each comes from:
 *   - `cf-mitigated: challenge`: set on every Challenge Page response, whatever the challenge type, and the
 *     only valid value (developers.cloudflare.com/cloudflare-challenges/challenge-types/challenge-pages/detect-response).
 *     Challenge pages are HTML whatever the Accept header asks: this header is how an API client tells.
 *   - the 1xxx code of a Cloudflare-generated error:
 *       `cf-error-type` header, "present only on Cloudflare-generated error pages"
 *         (support/troubleshooting/http-status-codes/cloudflare-error-headers);
 *       RFC 9457 JSON with `error_code` and `cloudflare_error: true` for `Accept: application/json`
 *         (changelog 2026-03-11 "JSON responses and RFC 9457 support for Cloudflare 1xxx errors");
 *       "Error 1020" / "error code: 1020" in the HTML or text page, counted only when the response carries
 *         Cloudflare's headers (`server: cloudflare` or `cf-ray`), since any page may mention Cloudflare.
 *   - `Retry-After` on retryable 1xxx errors, 1015 giving 30 s, or the rate limiting rule's own value, which
 *     takes precedence (changelog 2026-03-12 "Retry-After HTTP header for retryable 1xxx errors").
 *
 * `cf-ray` and `server: cloudflare` alone prove nothing here: Cloudflare adds them to every proxied response,
 * Ollama's own 403 and 429 included.
 */

export type CloudflareProtection = 'cloudflare_challenge' | 'cloudflare_blocked' | 'cloudflare_rate_limited';

const PROTECTIONS: ReadonlySet<string> = new Set<CloudflareProtection>(['cloudflare_challenge', 'cloudflare_blocked', 'cloudflare_rate_limited']);

/** The reason names one of Cloudflare's protections: every request from here meets it, so ask no more now. */
export const isCloudflareProtection = (reason: string): reason is CloudflareProtection => PROTECTIONS.has(reason);

/** A header by lower-case name (undici's record and fetch's Headers both fit behind this). */
export type HeaderLookup = (name: string) => string | undefined;

/**
 * 1xxx codes that mean "the zone's security settings refused this client", with the setting that did it
 * (support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-<code>).
 */
export const CF_BLOCK_CODES: Readonly<Record<number, string>> = {
  1005: 'ASN banned by an IP Access rule',
  1006: 'IP banned',
  1007: 'IP banned',
  1008: 'IP banned',
  1106: 'IP banned',
  1009: 'country or region banned',
  1010: 'browser signature blocked (Browser Integrity Check)',
  1012: 'access denied',
  1020: 'blocked by a firewall rule',
};

/** 1015: "You are being rate limited" by the zone's rate limiting rules (error-1015). */
export const CF_RATE_LIMIT_CODES: Readonly<Record<number, string>> = { 1015: 'rate limited' };

/** Rate limit holds longer than this are cut: a wrong header must not stop the monitor for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

const is1xxx = (n: number): boolean => Number.isInteger(n) && n >= 1000 && n <= 1999;

function parseJson(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  const t = text.trimStart();
  if (!t.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The response carries the headers Cloudflare puts on everything it proxies (not proof it generated it). */
export function proxiedByCloudflare(get: HeaderLookup): boolean {
  return get('server')?.trim().toLowerCase() === 'cloudflare' || get('cf-ray') !== undefined;
}

export const isChallenge = (get: HeaderLookup): boolean => get('cf-mitigated')?.trim().toLowerCase() === 'challenge';

/**
 * The 1xxx code Cloudflare itself put on a response, from the `cf-error-type` header, the RFC 9457 JSON, or
 * the page (body text only with Cloudflare's headers present). Undefined when there is none.
 */
export function cloudflareErrorCode(get: HeaderLookup, body: string | undefined): number | undefined {
  const type = get('cf-error-type')?.trim();
  if (type && /^1\d{3}$/.test(type)) return Number(type);
  if (!proxiedByCloudflare(get) || body === undefined) return undefined;
  const json = parseJson(body);
  // Only 1xxx codes name a Cloudflare cause; the JSON for a 5xx repeats the status as error_code.
  if (json) return typeof json.error_code === 'number' && is1xxx(json.error_code) ? json.error_code : undefined;
  const m = /\bError (1\d{3})\b/.exec(body) ?? /\berror code:\s*(1\d{3})\b/i.exec(body);
  return m ? Number(m[1]) : undefined;
}

/** Cloudflare generated this error itself: its diagnostic header, or its RFC 9457 JSON (`cloudflare_error: true`). */
export function generatedByCloudflare(get: HeaderLookup, body: string | undefined): boolean {
  if (get('cf-error-type') !== undefined) return true;
  return proxiedByCloudflare(get) && parseJson(body)?.cloudflare_error === true;
}

/**
 * Which of Cloudflare's protections answered, if any:
 *
 *   signal                                                     | protection
 *   -----------------------------------------------------------+-------------------------
 *   cf-mitigated: challenge (any status)                       | cloudflare_challenge
 *   a block code (1005-1012, 1020, 1106) from Cloudflare       | cloudflare_blocked
 *   1015 from Cloudflare                                       | cloudflare_rate_limited
 *   429 that Cloudflare generated (cf-error-type, JSON)        | cloudflare_rate_limited
 *   anything else (a 403 or 429 from Ollama, passed through)   | none
 */
export function cloudflareProtection(status: number, get: HeaderLookup, code: number | undefined, body?: string): CloudflareProtection | undefined {
  if (status >= 200 && status < 300) return undefined;
  if (isChallenge(get)) return 'cloudflare_challenge';
  if (code !== undefined && CF_BLOCK_CODES[code] !== undefined) return 'cloudflare_blocked';
  if (code !== undefined && CF_RATE_LIMIT_CODES[code] !== undefined) return 'cloudflare_rate_limited';
  if (status === 429 && generatedByCloudflare(get, body)) return 'cloudflare_rate_limited';
  return undefined;
}

/**
 * `Retry-After` in milliseconds (RFC 9110 10.2.3: delay-seconds or an HTTP-date), capped at
 * MAX_RETRY_AFTER_MS. An HTTP-date needs `nowMs`; without it (or unparseable) the answer is undefined.
 */
export function retryAfterMs(value: string | undefined, nowMs?: number): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  if (nowMs === undefined) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_MS);
}
