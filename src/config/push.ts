import { z } from 'zod';
import type { Secret } from '../util/secret';
import { resolveSecret, type SecretIo } from './secrets';
import { duration, httpUrl, secretSource } from './schema-parts';

/**
 * Push channels (ntfy, Telegram, Discord, Slack): their config keys and resolved types. Every credential is a
 * secret source (string, `{ file }`, `{ env }`); webhook URLs count as credentials, since whoever has one can post.
 */

const channelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, . _ - (max 63)').optional();
const timeout = duration(100).prefault('10s');

/** ntfy names its priorities 1–5 (docs.ntfy.sh/publish/#message-priority); both forms are accepted. */
const NTFY_PRIORITY_NAMES: Readonly<Record<string, number>> = { min: 1, low: 2, default: 3, high: 4, max: 5, urgent: 5 };
const ntfyPriority = z.union([z.number().int().min(1).max(5), z.enum(['min', 'low', 'default', 'high', 'max', 'urgent'])]).transform((v) => (typeof v === 'number' ? v : (NTFY_PRIORITY_NAMES[v] as number)));

export const pushSchemas = {
  ntfy: z
    .object({
      name: channelName,
      /** The server's base URL (https://ntfy.sh or your own); the JSON is POSTed to it, the topic goes in the body. */
      url: httpUrl,
      topic: z.string().regex(/^[-_A-Za-z0-9]{1,64}$/, 'an ntfy topic: 1-64 letters, digits, - or _'),
      /** Access token (tk_…) sent as `Authorization: Bearer`. */
      token: secretSource.optional(),
      /** Priority of critical alerts (default 5 = max); warnings go one lower, info two lower. */
      priority: ntfyPriority.optional(),
      timeout,
    })
    .strict(),
  telegram: z
    .object({
      name: channelName,
      /** From @BotFather (`123456:ABC-…`); it is part of the request path, so it is redacted from every error. */
      botToken: secretSource,
      chatId: z.union([z.string().regex(/^(-?\d+|@[A-Za-z0-9_]{5,})$/, 'a numeric chat id or @channelusername'), z.number().int()]).transform(String),
      /** Default https://api.telegram.org (a local Bot API server or a test receiver otherwise). */
      apiUrl: httpUrl.prefault('https://api.telegram.org'),
      timeout,
    })
    .strict(),
  discord: z.object({ name: channelName, webhookUrl: secretSource, timeout }).strict(),
  slack: z.object({ name: channelName, webhookUrl: secretSource, timeout }).strict(),
};

export interface NtfyConfig {
  name: string;
  url: string;
  topic: string;
  token?: Secret;
  priority: number;
  timeout: number;
}
export interface TelegramConfig {
  name: string;
  botToken: Secret;
  chatId: string;
  apiUrl: string;
  timeout: number;
}
export interface ChatWebhookConfig {
  name: string;
  /** The whole URL is the credential. */
  webhookUrl: Secret;
  timeout: number;
}

export interface PushConfig {
  ntfy: NtfyConfig[];
  telegram: TelegramConfig[];
  discord: ChatWebhookConfig[];
  slack: ChatWebhookConfig[];
}

type PushInput = { [K in keyof typeof pushSchemas]: Array<z.output<(typeof pushSchemas)[K]>> };

export interface ResolveContext {
  env: NodeJS.ProcessEnv;
  io: SecretIo;
  problems: string[];
  baseDir: string;
  /** Channel names taken so far (email, webhooks); each push channel adds its own. */
  names: Set<string>;
}

function nameOf(kind: string, given: string | undefined, i: number, ctx: ResolveContext): string {
  const name = given ?? (i === 0 ? kind : `${kind}-${i + 1}`);
  if (ctx.names.has(name)) ctx.problems.push(`alerts.${kind}[${i}].name: duplicate channel name ${JSON.stringify(name)}`);
  ctx.names.add(name);
  return name;
}

function webhookUrl(src: z.output<typeof secretSource>, where: string, ctx: ResolveContext): Secret | undefined {
  const s = resolveSecret(src, where, ctx.env, ctx.io, ctx.problems, ctx.baseDir);
  if (s === undefined) return undefined;
  let ok = false;
  try {
    const u = new URL(s.reveal());
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  // The value is a credential: say what is wrong without echoing it.
  if (!ok) ctx.problems.push(`${where}: must be an http:// or https:// URL`);
  return ok ? s : undefined;
}

/** Resolves the push channels' secrets and names; problems go to ctx.problems. */
export function resolvePush(a: PushInput, ctx: ResolveContext): PushConfig {
  const sec = (src: z.output<typeof secretSource>, where: string) => resolveSecret(src, where, ctx.env, ctx.io, ctx.problems, ctx.baseDir);
  const ntfy = a.ntfy.map((n, i): NtfyConfig => {
    const token = n.token !== undefined ? sec(n.token, `alerts.ntfy[${i}].token`) : undefined;
    return { name: nameOf('ntfy', n.name, i, ctx), url: n.url.replace(/\/+$/, ''), topic: n.topic, ...(token ? { token } : {}), priority: n.priority ?? 5, timeout: n.timeout };
  });
  const telegram: TelegramConfig[] = [];
  a.telegram.forEach((t, i) => {
    const name = nameOf('telegram', t.name, i, ctx);
    const botToken = sec(t.botToken, `alerts.telegram[${i}].botToken`);
    if (botToken) telegram.push({ name, botToken, chatId: t.chatId, apiUrl: t.apiUrl.replace(/\/+$/, ''), timeout: t.timeout });
  });
  const chat = (kind: 'discord' | 'slack') => {
    const out: ChatWebhookConfig[] = [];
    a[kind].forEach((w, i) => {
      const name = nameOf(kind, w.name, i, ctx);
      const url = webhookUrl(w.webhookUrl, `alerts.${kind}[${i}].webhookUrl`, ctx);
      if (url) out.push({ name, webhookUrl: url, timeout: w.timeout });
    });
    return out;
  };
  return { ntfy, telegram, discord: chat('discord'), slack: chat('slack') };
}
