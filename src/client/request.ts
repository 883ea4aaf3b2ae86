/** Pure pieces of a request to a node or a monitor: URLs, credentials, bodies (fetch-only, no node:*). */
import { base64 } from './platform';
import type { Endpoint } from './types';

/** GET /state → POST /report next to it (keeps a reverse-proxy path prefix); otherwise origin + /report. */
export function reportUrlFor(stateUrl: string): string {
  const u = new URL(stateUrl);
  u.search = '';
  u.hash = '';
  u.pathname = /\/state\/?$/.test(u.pathname) ? u.pathname.replace(/\/state\/?$/, '/report') : '/report';
  return u.toString();
}

/** The DOM lib is not loaded (Node types only), so the body and header types are taken from fetch's own. */
export type BodyInit = NonNullable<RequestInit['body']>;
export type HeadersInit = ConstructorParameters<typeof Headers>[0];
export type EncodedBody = { body?: BodyInit; contentType?: string };

export function encodeBody(body: unknown): EncodedBody {
  if (body === undefined || body === null) return {};
  if (typeof body === 'string') return { body, contentType: 'application/json' };
  if (body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob || body instanceof URLSearchParams || body instanceof FormData) {
    return { body: body as BodyInit };
  }
  return { body: JSON.stringify(body), contentType: 'application/json' };
}

/**
 * The URL and headers for one node. Credentials in a node URL become a Basic header (fetch refuses URLs with
 * userinfo). With `keepPrefix`, a request path that already starts with the node's path prefix is not
 * prefixed again (an SDK whose baseURL ends in /v1 talking to a node configured as https://host/v1).
 */
export function target(ep: Endpoint, pathAndQuery: string, keepPrefix: boolean): { url: string; basic?: string } {
  const base = new URL(ep.url);
  const basic = base.username || base.password ? base64(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`) : undefined;
  const prefix = base.pathname.replace(/\/+$/, '');
  const path = pathAndQuery.startsWith('/') ? pathAndQuery : `/${pathAndQuery}`;
  const full = keepPrefix && prefix !== '' && (path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`)) ? path : `${prefix}${path}`;
  return { url: `${base.protocol}//${base.host}${full}`, ...(basic ? { basic } : {}) };
}
