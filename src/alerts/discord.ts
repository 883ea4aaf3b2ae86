import type { ChatWebhookConfig } from '../config';
import type { AlertMessage, Channel } from './channel';
import { cap, createWebhookUrlChannel } from './http-post';
import { pushText } from './push-text';

/** Embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits): title 256, description 4096. */
const TITLE_MAX = 256;
const DESCRIPTION_MAX = 4000;
const TONE_COLOR = { critical: 0xd83c3e, warning: 0xf0b232, good: 0x23a55a, info: 0x5865f2 } as const;

/**
 * Execute Webhook (discord.com/developers/docs/resources/webhook#execute-webhook): one embed, the text in a
 * code block so the node table keeps its columns. `allowed_mentions` empty: an error text with `@everyone`
 * in it must not ping a server.
 */
export function discordPayload(msg: AlertMessage): Record<string, unknown> {
  const t = pushText(msg);
  const fence = '```';
  return {
    username: 'llm-sentinel',
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: cap(t.title, TITLE_MAX),
        description: `${fence}\n${cap(t.body.replace(/```/g, "'''"), DESCRIPTION_MAX - 8)}\n${fence}`,
        color: TONE_COLOR[t.tone],
        timestamp: new Date(msg.at).toISOString(),
      },
    ],
  };
}

/** The webhook URL carries its token (`/api/webhooks/{id}/{token}`): it is a secret, never shown. */
export function createDiscordChannel(cfg: ChatWebhookConfig): Channel {
  return createWebhookUrlChannel(cfg, 'discord', discordPayload, `the webhook was deleted or its URL is wrong: check alerts.discord (channel ${cfg.name})`);
}
