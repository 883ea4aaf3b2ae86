import type { ChatWebhookConfig } from '../config';
import type { AlertMessage, Channel } from './channel';
import { cap, createWebhookUrlChannel } from './http-post';
import { pushText } from './push-text';

/** Slack truncates `text` past 40,000 characters and advises far less (docs.slack.dev/messaging/sending-messages-using-incoming-webhooks). */
const TEXT_MAX = 3500;
const TONE_MARK = { critical: ':rotating_light:', warning: ':warning:', good: ':white_check_mark:', info: ':information_source:' } as const;

/** mrkdwn treats & < > as control characters; these three escapes are all it needs (docs.slack.dev, "Escaping text"). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Incoming webhook payload: `text` (also the notification's words), the details in a preformatted block. */
export function slackPayload(msg: AlertMessage): Record<string, unknown> {
  const t = pushText(msg);
  return { text: `${TONE_MARK[t.tone]} *${slackEscape(t.title)}*\n\`\`\`${slackEscape(cap(t.body.replace(/```/g, "'''"), TEXT_MAX))}\`\`\`` };
}

/** The webhook URL is the credential (`hooks.slack.com/services/T…/B…/secret`): never shown. */
export function createSlackChannel(cfg: ChatWebhookConfig): Channel {
  return createWebhookUrlChannel(cfg, 'slack', slackPayload, `the webhook was revoked or its channel archived: check alerts.slack (channel ${cfg.name})`);
}
