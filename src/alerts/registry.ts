import type { AlertsConfig } from '../config';
import type { Channel } from './channel';
import { createDiscordChannel } from './discord';
import { createEmailChannel } from './email';
import { createNtfyChannel } from './ntfy';
import { createSlackChannel } from './slack';
import { createTelegramChannel } from './telegram';
import { createWebhookChannel } from './webhook';

export type ChannelConfigs = Pick<AlertsConfig, 'email' | 'webhooks' | 'ntfy' | 'telegram' | 'discord' | 'slack'>;

/** The channels the config asks for, email first. A new channel kind adds one line here. */
export function createChannels(alerts: ChannelConfigs): Channel[] {
  return [
    ...(alerts.email ? [createEmailChannel(alerts.email)] : []),
    ...alerts.webhooks.map((w) => createWebhookChannel(w)),
    ...alerts.ntfy.map((c) => createNtfyChannel(c)),
    ...alerts.telegram.map((c) => createTelegramChannel(c)),
    ...alerts.discord.map((c) => createDiscordChannel(c)),
    ...alerts.slack.map((c) => createSlackChannel(c)),
  ];
}
