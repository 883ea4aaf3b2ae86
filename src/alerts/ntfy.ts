import type { NtfyConfig } from '../config';
import { redactor, type AlertMessage, type Channel, type SendResult } from './channel';
import { capBytes, createJsonPoster } from './http-post';
import { pushText } from './push-text';

/** ntfy turns a message over 4096 bytes into an attachment (docs.ntfy.sh/publish, "limitations"): stay under it. */
const MESSAGE_MAX_BYTES = 4000;
/** Tags that match an emoji short code are shown as that emoji in front of the title (docs.ntfy.sh/emojis). */
const TONE_TAG = { critical: 'rotating_light', warning: 'warning', good: 'white_check_mark', info: 'information_source' } as const;

/**
 * The "publish as JSON" body (docs.ntfy.sh/publish/#publish-as-json): POSTed to the server's root URL with the
 * topic inside. Priority 1–5: critical alerts at the configured priority, warnings one lower, info two lower.
 */
export function ntfyPayload(msg: AlertMessage, cfg: Pick<NtfyConfig, 'topic' | 'priority'>): Record<string, unknown> {
  const t = pushText(msg);
  const step = msg.severity === 'critical' ? 0 : msg.severity === 'warning' ? 1 : 2;
  return {
    topic: cfg.topic,
    title: t.title,
    message: capBytes(t.body, MESSAGE_MAX_BYTES),
    priority: Math.max(1, cfg.priority - step),
    tags: [TONE_TAG[t.tone], 'llm-sentinel', msg.node].filter((x) => x !== ''),
  };
}

export function createNtfyChannel(cfg: NtfyConfig): Channel {
  const token = cfg.token?.reveal();
  const poster = createJsonPoster(cfg.timeout, redactor(token ? [token] : []));
  return {
    name: cfg.name,
    send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult> {
      return poster.post(
        {
          label: `ntfy ${cfg.url}`,
          url: `${cfg.url}/`,
          headers: token ? { authorization: `Bearer ${token}` } : {},
          body: ntfyPayload(msg, cfg),
          authHint: `check the token and the topic's access (alerts.ntfy, channel ${cfg.name})`,
        },
        signal,
      );
    },
    close: () => poster.close(),
  };
}
