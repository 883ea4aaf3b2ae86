import type { TelegramConfig } from '../config';
import { redactor, type AlertMessage, type Channel, type SendResult } from './channel';
import { cap, createJsonPoster } from './http-post';
import { pushText } from './push-text';

/** sendMessage's `text`: 1-4096 characters after entities parsing (core.telegram.org/bots/api#sendmessage). */
const TEXT_MAX = 4096;
const TONE_MARK = { critical: '🚨', warning: '⚠️', good: '✅', info: 'ℹ️' } as const;

/**
 * Bot API sendMessage (core.telegram.org/bots/api#sendmessage) as a JSON body. Plain text (no parse_mode):
 * node names and error details would need escaping for Markdown or HTML, and a bad escape is a 400.
 */
export function telegramPayload(msg: AlertMessage, chatId: string): Record<string, unknown> {
  const t = pushText(msg);
  return {
    chat_id: chatId,
    text: cap(`${TONE_MARK[t.tone]} ${t.title}\n\n${t.body}`, TEXT_MAX),
    // Reminders and info do not need to ring the phone; critical and warning do.
    disable_notification: msg.severity === 'info',
    link_preview_options: { is_disabled: true },
  };
}

/** The bot token is part of the URL path (`/bot<token>/sendMessage`): it is scrubbed from every error and answer. */
export function createTelegramChannel(cfg: TelegramConfig): Channel {
  const token = cfg.botToken.reveal();
  const poster = createJsonPoster(cfg.timeout, redactor([token, encodeURIComponent(token)]));
  return {
    name: cfg.name,
    send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult> {
      return poster.post(
        {
          label: `telegram ${cfg.apiUrl}`,
          url: `${cfg.apiUrl}/bot${token}/sendMessage`,
          body: telegramPayload(msg, cfg.chatId),
          authHint: `check botToken and chatId, and that the bot was added to the chat (alerts.telegram, channel ${cfg.name})`,
        },
        signal,
      );
    },
    close: () => poster.close(),
  };
}
