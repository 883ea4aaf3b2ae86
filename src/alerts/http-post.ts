import { Agent, request } from '../undici';
import type { ChatWebhookConfig } from '../config';
import { ChannelError, redactor, type AlertMessage, type Channel, type SendResult } from './channel';

/** Most of an answer worth keeping in the outbox and the logs. */
export const RESPONSE_MAX = 300;
/** Bytes of an answer read at all: a receiver replying with a huge page must not fill memory. */
const READ_MAX = 4096;
/** A Retry-After longer than this is treated as this (a day): the give-up limit still applies. */
const RETRY_AFTER_MAX_MS = 86_400_000;

export type HttpVerdict = 'ok' | 'transient' | 'permanent';

/**
 * 2xx delivered; 408 (request timeout) and 429 (rate limited) are worth retrying, as is every 5xx; any
 * other 4xx means the request or its credentials are wrong, and 3xx means the URL moved (redirects are not
 * followed, since they could carry a token elsewhere). Both need the config fixed, not a retry.
 */
export function judgeHttpStatus(status: number): HttpVerdict {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
}

/**
 * How long the server asked us to wait: the Retry-After header (seconds or an HTTP date, RFC 9110 §10.2.3), else
 * `retry_after` in a JSON body (Discord: seconds, fractional) or `parameters.retry_after` (Telegram Bot API).
 */
export function retryAfterMs(header: string | undefined, body: string, now: number): number | undefined {
  const clamp = (ms: number) => Math.min(RETRY_AFTER_MAX_MS, Math.max(0, Math.ceil(ms)));
  if (header !== undefined && header.trim() !== '') {
    const h = header.trim();
    if (/^\d+(\.\d+)?$/.test(h)) return clamp(Number(h) * 1000);
    const at = Date.parse(h);
    if (Number.isFinite(at)) return clamp(at - now);
  }
  try {
    const j = JSON.parse(body) as { retry_after?: unknown; parameters?: { retry_after?: unknown } };
    const s = typeof j.retry_after === 'number' ? j.retry_after : typeof j.parameters?.retry_after === 'number' ? j.parameters.retry_after : undefined;
    return s !== undefined && Number.isFinite(s) ? clamp(s * 1000) : undefined;
  } catch {
    return undefined;
  }
}

export interface HttpPost {
  /** Names the target in messages without any secret: `ntfy https://ntfy.sh`, `discord webhook`. */
  label: string;
  url: string;
  headers?: Record<string, string>;
  body: unknown;
  /** What to fix on 401/403/404 (e.g. "check alerts.ntfy[].token"). */
  authHint: string;
}

export interface JsonPoster {
  post(p: HttpPost, signal?: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}

async function readCapped(body: AsyncIterable<Buffer | Uint8Array> & { destroy?: () => void }): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = Buffer.from(c);
    chunks.push(b);
    n += b.length;
    if (n >= READ_MAX) break; // leaving the loop destroys the stream: the rest is never read
  }
  return Buffer.concat(chunks).subarray(0, READ_MAX).toString('utf8');
}

/**
 * POSTs JSON for the push channels and turns every outcome into a SendResult or a ChannelError: the answer
 * capped, every secret scrubbed (`scrub` knows them), 429's Retry-After carried to the sender.
 */
export function createJsonPoster(timeoutMs: number, scrub: (t: string) => string): JsonPoster {
  const agent = new Agent({ connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 1000 });
  return {
    async post(p: HttpPost, signal?: AbortSignal): Promise<SendResult> {
      const timeout = AbortSignal.timeout(timeoutMs);
      let status: number;
      let text: string;
      let retryHeader: string | undefined;
      try {
        const res = await request(p.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'llm-sentinel', ...p.headers },
          body: JSON.stringify(p.body),
          dispatcher: agent,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        status = res.statusCode;
        const ra = res.headers['retry-after'];
        retryHeader = Array.isArray(ra) ? ra[0] : ra;
        text = await readCapped(res.body);
      } catch (e) {
        const err = e as { code?: string; name?: string; message?: string };
        const code = err.code ?? err.name ?? 'ERROR';
        const what = timeout.aborted ? `timed out after ${timeoutMs}ms` : signal?.aborted ? 'aborted (monitor stopping)' : `request failed (${code}${err.message ? `: ${scrub(err.message)}` : ''})`;
        throw new ChannelError(`${p.label}: ${what}`, false, undefined, code);
      }
      const answer = scrub(`HTTP ${status}${text.trim() ? ` ${text.trim().replace(/\s+/g, ' ').slice(0, RESPONSE_MAX)}` : ''}`);
      const verdict = judgeHttpStatus(status);
      if (verdict === 'ok') return { response: answer };
      const hint = status >= 300 && status < 400 ? ': redirects are not followed, fix the URL' : status === 401 || status === 403 || status === 404 ? `: ${p.authHint}` : '';
      const wait = status === 429 ? retryAfterMs(retryHeader, text, Date.now()) : undefined;
      const said = wait !== undefined ? ` (retry after ${Math.round(wait / 1000)}s)` : '';
      throw new ChannelError(`${p.label} answered ${status}${said}${hint}`, verdict === 'permanent', answer, `HTTP_${status}`, wait);
    },
    async close(): Promise<void> {
      await agent.close().catch(() => undefined);
    },
  };
}

/** Cuts text to `max` characters (code points, so an emoji is never split), marking the cut. */
export function cap(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Cuts text to at most `maxBytes` of UTF-8 (whole code points), marking the cut: for limits counted in bytes. */
export function capBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let used = 3; // the ellipsis
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return `${out}…`;
}

/**
 * A channel whose webhook URL is its credential (Discord's `/api/webhooks/{id}/{token}`, Slack's
 * `hooks.slack.com/services/T…/B…/secret`): the URL and its last path segment are scrubbed from everything kept.
 */
export function createWebhookUrlChannel(cfg: ChatWebhookConfig, service: string, payload: (msg: AlertMessage) => unknown, authHint: string): Channel {
  const url = cfg.webhookUrl.reveal();
  const token = new URL(url).pathname.split('/').filter(Boolean).pop() ?? '';
  const poster = createJsonPoster(cfg.timeout, redactor([url, token]));
  return {
    name: cfg.name,
    send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult> {
      return poster.post({ label: `${service} webhook (${cfg.name})`, url, body: payload(msg), authHint }, signal);
    },
    close: () => poster.close(),
  };
}
