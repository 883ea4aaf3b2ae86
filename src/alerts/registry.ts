import type { AlertsConfig } from '../config';
import type { Channel } from './channel';
import { createEmailChannel } from './email';
import { createWebhookChannel } from './webhook';

/** The channels the config asks for, email first. A new channel kind adds one line here. */
export function createChannels(alerts: Pick<AlertsConfig, 'email' | 'webhooks'>): Channel[] {
  return [...(alerts.email ? [createEmailChannel(alerts.email)] : []), ...alerts.webhooks.map((w) => createWebhookChannel(w))];
}
