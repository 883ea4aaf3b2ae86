import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One loopback stand-in for ntfy, the Telegram Bot API, Discord and Slack webhooks. It checks each request
 * against the service's documented shape and answers the way the service does, so a channel test fails when
 * the payload drifts from the documentation:
 * - ntfy: docs.ntfy.sh/publish/#publish-as-json (POST to the root, topic in the body; priority 1-5; tags a list);
 *   errors are JSON `{code, http, error}`.
 * - Telegram: core.telegram.org/bots/api#making-requests and #sendmessage (POST /bot<token>/sendMessage, chat_id,
 *   text 1-4096 chars); answers `{ok, result}` or `{ok:false, error_code, description, parameters?}`.
 * - Discord: discord.com/developers/docs/resources/webhook#execute-webhook (content or embeds; embed title ≤ 256,
 *   description ≤ 4096, ≤ 10 embeds); 204 without ?wait; errors `{message, code}`, 429 `{message, retry_after, global}`.
 * - Slack: docs.slack.dev/messaging/sending-messages-using-incoming-webhooks (`text` required without blocks);
 *   answers the plain text `ok`, errors are plain text such as `invalid_payload`, `invalid_token`, `no_service`.
 */
export type PushService = 'ntfy' | 'telegram' | 'discord' | 'slack';

export interface PushHit {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** What the shape check found wrong (empty: the request was valid). */
  problems: string[];
  /** The status it was answered with. */
  status: number;
}

export interface PushAnswer {
  status: number;
  delayMs?: number;
  retryAfter?: string;
  /** Say the wait only in the JSON body (Telegram's `parameters.retry_after`, Discord's `retry_after`), not as a header. */
  waitInBodyOnly?: boolean;
}

export interface PushReceiver {
  service: PushService;
  /** The base URL (ntfy `url`, Telegram `apiUrl`) or the full webhook URL (Discord, Slack). */
  url: string;
  /** The credential the receiver expects (ntfy token, bot token, the webhook's secret path part). */
  secret: string;
  hits: PushHit[];
  /** Accepted, well-formed messages. */
  delivered(): PushHit[];
  /** Answers for the next requests, in order; when empty, a valid request gets its success answer. */
  answers: PushAnswer[];
  /** Requests being held (delayMs) right now. */
  holding(): number;
  close(): Promise<void>;
}

const str = (v: unknown) => typeof v === 'string';

function check(service: PushService, body: Record<string, unknown>): string[] {
  const p: string[] = [];
  if (service === 'ntfy') {
    const allowed = new Set(['topic', 'message', 'title', 'tags', 'priority', 'actions', 'click', 'attach', 'markdown', 'icon', 'filename', 'delay', 'email', 'call']);
    for (const k of Object.keys(body)) if (!allowed.has(k)) p.push(`unknown field ${k}`);
    if (!str(body.topic) || !/^[-_A-Za-z0-9]{1,64}$/.test(body.topic as string)) p.push('topic');
    if (!str(body.message) || Buffer.byteLength(body.message as string) > 4096) p.push('message');
    if (body.title !== undefined && !str(body.title)) p.push('title');
    if (body.priority !== undefined && !(Number.isInteger(body.priority) && (body.priority as number) >= 1 && (body.priority as number) <= 5)) p.push('priority');
    if (body.tags !== undefined && !(Array.isArray(body.tags) && body.tags.every(str))) p.push('tags');
  } else if (service === 'telegram') {
    if (!(str(body.chat_id) || Number.isInteger(body.chat_id))) p.push('chat_id');
    const len = str(body.text) ? [...(body.text as string)].length : 0;
    if (len < 1 || len > 4096) p.push('text');
    if (body.parse_mode !== undefined && !['HTML', 'Markdown', 'MarkdownV2'].includes(body.parse_mode as string)) p.push('parse_mode');
  } else if (service === 'discord') {
    const embeds = body.embeds;
    if (body.content === undefined && embeds === undefined) p.push('content or embeds required');
    if (body.content !== undefined && (!str(body.content) || (body.content as string).length > 2000)) p.push('content');
    if (embeds !== undefined) {
      if (!Array.isArray(embeds) || embeds.length > 10) p.push('embeds');
      else
        for (const e of embeds as Array<Record<string, unknown>>) {
          if (e.title !== undefined && (!str(e.title) || (e.title as string).length > 256)) p.push('embed.title');
          if (e.description !== undefined && (!str(e.description) || (e.description as string).length > 4096)) p.push('embed.description');
          if (e.color !== undefined && !(Number.isInteger(e.color) && (e.color as number) >= 0 && (e.color as number) <= 0xffffff)) p.push('embed.color');
        }
    }
  } else {
    if (body.blocks === undefined && (!str(body.text) || (body.text as string) === '')) p.push('text');
  }
  return p;
}

/** The service's own error answer for a status (what a channel sees from the real thing). */
function errorAnswer(service: PushService, status: number, retryAfter: string | undefined, path: string): { type: string; body: string } {
  const wait = retryAfter !== undefined ? Number(retryAfter) : 1;
  if (service === 'ntfy') return { type: 'application/json', body: JSON.stringify({ code: status * 100 + 1, http: status, error: status === 401 ? 'unauthorized' : status === 429 ? 'limit reached' : 'error' }) };
  if (service === 'telegram') {
    // Some proxies echo the request line in their errors: the bot token in the path must still be scrubbed.
    const description = status === 401 ? `Unauthorized (${path})` : status === 429 ? `Too Many Requests: retry after ${wait}` : status === 400 ? 'Bad Request: chat not found' : 'Internal Server Error';
    return { type: 'application/json', body: JSON.stringify({ ok: false, error_code: status, description, ...(status === 429 ? { parameters: { retry_after: wait } } : {}) }) };
  }
  if (service === 'discord') {
    if (status === 429) return { type: 'application/json', body: JSON.stringify({ message: 'You are being rate limited.', retry_after: wait, global: false }) };
    return { type: 'application/json', body: JSON.stringify({ message: status === 401 ? `Invalid Webhook Token for ${path}` : status === 404 ? 'Unknown Webhook' : 'error', code: status === 401 ? 50027 : 0 }) };
  }
  return { type: 'text/html', body: status === 403 ? `invalid_token ${path}` : status === 404 ? 'no_service' : status === 400 ? 'invalid_payload' : status === 429 ? 'rate_limited' : 'error' };
}

function successAnswer(service: PushService, body: Record<string, unknown>, n: number): { status: number; type: string; body: string } {
  if (service === 'ntfy') return { status: 200, type: 'application/json', body: JSON.stringify({ id: `m${n}`, time: 1767603604, event: 'message', topic: body.topic, title: body.title, message: body.message }) };
  if (service === 'telegram') return { status: 200, type: 'application/json', body: JSON.stringify({ ok: true, result: { message_id: n, chat: { id: body.chat_id, type: 'private' }, date: 1767603604, text: body.text } }) };
  if (service === 'discord') return { status: 204, type: '', body: '' };
  return { status: 200, type: 'text/html', body: 'ok' };
}

export async function startPushReceiver(service: PushService, secret = `${service}-Secret-7731xq`): Promise<PushReceiver> {
  const hits: PushHit[] = [];
  const answers: PushAnswer[] = [];
  let holding = 0;
  const expectedPath = service === 'ntfy' ? '/' : service === 'telegram' ? `/bot${secret}/sendMessage` : service === 'discord' ? `/api/webhooks/1200/${secret}` : `/services/T0001/B0001/${secret}`;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      const problems: string[] = [];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        problems.push('body is not JSON');
      }
      const path = req.url ?? '';
      if (req.method !== 'POST') problems.push(`method ${req.method}`);
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) problems.push('content-type');
      let authOk = path === expectedPath;
      if (service === 'ntfy') authOk = authOk && req.headers.authorization === `Bearer ${secret}`;
      if (problems.length === 0) problems.push(...check(service, body));
      const next = answers.shift();
      const planned = next ?? (authOk ? undefined : { status: service === 'slack' ? 403 : 401 });
      const success = successAnswer(service, body, hits.length + 1);
      const status = planned?.status ?? (problems.length > 0 ? 400 : success.status);
      hits.push({ path, headers: req.headers, body, problems, status });
      const answer = status >= 200 && status < 300 ? success : errorAnswer(service, status, planned?.retryAfter, path);
      const send = () => {
        holding--;
        const headers: Record<string, string> = answer.type ? { 'content-type': answer.type } : {};
        if (planned?.retryAfter !== undefined && !planned.waitInBodyOnly) headers['retry-after'] = planned.retryAfter;
        res.writeHead(status, headers).end(answer.body);
      };
      holding++;
      const t = setTimeout(send, planned?.delayMs ?? 0);
      res.on('close', () => {
        if (!res.writableEnded) {
          clearTimeout(t);
          holding--;
        }
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    service,
    url: service === 'ntfy' || service === 'telegram' ? base : `${base}${expectedPath}`,
    secret,
    hits,
    answers,
    delivered: () => hits.filter((h) => h.problems.length === 0 && h.status >= 200 && h.status < 300),
    holding: () => holding,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The `alerts` entry that points a channel of this service at the receiver. */
export function pushChannelConfig(r: Pick<PushReceiver, 'service' | 'url' | 'secret'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  switch (r.service) {
    case 'ntfy':
      return { url: r.url, topic: 'llm-alerts', token: r.secret, ...extra };
    case 'telegram':
      return { botToken: r.secret, chatId: '-100123456', apiUrl: r.url, ...extra };
    default:
      return { webhookUrl: r.url, ...extra };
  }
}

/** The text a person reads in a delivered message (the service's own field). */
export function pushWords(h: PushHit, service: PushService): string {
  if (service === 'ntfy') return `${String(h.body.title)}\n${String(h.body.message)}`;
  if (service === 'telegram') return String(h.body.text);
  if (service === 'discord') {
    const e = (h.body.embeds as Array<Record<string, unknown>>)[0] ?? {};
    return `${String(e.title)}\n${String(e.description)}`;
  }
  return String(h.body.text);
}
