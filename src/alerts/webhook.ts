import { Agent, request } from '../undici';
import type { WebhookConfig } from '../config';
import { ChannelError, redactor, type AlertMessage, type Channel, type SendResult } from './channel';
import { retryAfterMs } from './http-post';

/** Most of an answer worth keeping; webhook endpoints sometimes reply with whole HTML pages. */
const RESPONSE_MAX = 300;

/** Statuses worth retrying: the receiver is busy or briefly broken. Other 4xx mean the request itself is wrong. */
const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

/** The JSON body: structured facts for programs, `title`/`text` for chat-style receivers. */
export function webhookPayload(msg: AlertMessage): Record<string, unknown> {
  return {
    source: 'llm-sentinel',
    id: msg.id,
    instance: msg.instance,
    kind: msg.kind,
    severity: msg.severity,
    node: msg.node,
    at: new Date(msg.at).toISOString(),
    title: msg.subject,
    text: msg.text,
    messageId: msg.messageId,
    ...(msg.inReplyTo ? { inReplyTo: msg.inReplyTo } : {}),
    ...(msg.facts ? { facts: msg.facts } : {}),
  };
}

/**
 * A generic JSON webhook: POST the payload, 2xx is success. Redirects are not followed (a moved endpoint is a
 * configuration error). Header values are secrets and never appear in errors.
 */
export function createWebhookChannel(cfg: WebhookConfig): Channel {
  const agent = new Agent({ connectTimeout: cfg.timeout, headersTimeout: cfg.timeout, bodyTimeout: cfg.timeout, keepAliveTimeout: 1000 });
  const scrub = redactor(Object.values(cfg.headers).map((s) => s.reveal()));
  const target = (() => {
    const u = new URL(cfg.url);
    return `${u.origin}${u.pathname}`; // the query may carry a token: keep it out of messages
  })();

  return {
    name: cfg.name,
    async send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult> {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'llm-sentinel' };
      for (const [k, v] of Object.entries(cfg.headers)) headers[k.toLowerCase()] = v.reveal();
      const timeout = AbortSignal.timeout(cfg.timeout);
      let status: number;
      let body: string;
      let retryAfter: string | undefined;
      try {
        const res = await request(cfg.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(webhookPayload(msg)),
          dispatcher: agent,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        status = res.statusCode;
        const ra = res.headers['retry-after'];
        retryAfter = Array.isArray(ra) ? ra[0] : ra;
        body = (await res.body.text()).slice(0, 4096);
      } catch (e) {
        const err = e as { code?: string; name?: string; message?: string };
        const code = err.code ?? err.name ?? 'ERROR';
        const what = timeout.aborted ? `timed out after ${cfg.timeout}ms` : signal?.aborted ? 'aborted (monitor stopping)' : `request failed (${code}${err.message ? `: ${scrub(err.message)}` : ''})`;
        throw new ChannelError(`webhook ${target}: ${what}`, false, undefined, code);
      }
      const answer = scrub(`HTTP ${status}${body.trim() ? ` ${body.trim().replace(/\s+/g, ' ').slice(0, RESPONSE_MAX)}` : ''}`);
      if (status >= 200 && status < 300) return { response: answer };
      const permanent = status < 500 && !RETRYABLE_4XX.has(status);
      const hint = status >= 300 && status < 400 ? ': redirects are not followed, fix the URL' : status === 401 || status === 403 ? ': check the webhook headers (token)' : '';
      const wait = status === 429 ? retryAfterMs(retryAfter, body, Date.now()) : undefined;
      throw new ChannelError(`webhook ${target} answered ${status}${hint}`, permanent, answer, `HTTP_${status}`, wait);
    },
    async close(): Promise<void> {
      await agent.close().catch(() => undefined);
    },
  };
}
