import type { ScheduledTask } from 'node-cron';
import { nodeCron } from '../config/cron';
import type { Config } from '../config';
import type { Logger } from '../logging';
import { buildReport } from '../uptime/model';
import { renderReportText } from '../uptime/text';
import type { Storage } from '../storage';
import type { Clock } from '../util/clock';
import type { AlertMessage, Channel, SendResult } from './channel';
import { createChannels } from './registry';
import { escapeHtml } from './render';

const WEEK_MS = 7 * 24 * 3_600_000;

/** The weekly digest as a message: the `report` for the last 7 days. Pure, given the report text. */
export function renderDigest(instance: string, reportText: string, at: number, statusPageUrl?: string): AlertMessage {
  const subject = `[llm-sentinel ${instance}] weekly report: ${firstLine(reportText)}`;
  const link = statusPageUrl ? `\nStatus page: ${statusPageUrl}\n` : '';
  return {
    id: 0,
    instance,
    kind: 'test',
    severity: 'info',
    node: '',
    at,
    subject,
    text: `${reportText}${link}`,
    html: `<pre style="font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace">${escapeHtml(reportText)}</pre>${statusPageUrl ? `<p><a href="${escapeHtml(statusPageUrl)}">Status page</a></p>` : ''}`,
    // A digest is never re-sent: its id only has to be unique.
    messageId: `<digest-${at}.${instance.replace(/[^A-Za-z0-9.-]+/g, '-')}@llm-sentinel>`,
  };
}

function firstLine(report: string): string {
  // "Uptime: primary 99.95 %, fallback 100 % (coverage 98.1 %)" style summary from the report's node table.
  const summary = report.split('\n').find((l) => /coverage/i.test(l)) ?? '';
  return summary.replace(/\s+/g, ' ').trim().slice(0, 120) || 'last 7 days';
}

export interface DigestJob {
  start(): void;
  stop(): Promise<void>;
  /** Builds and sends the digest now, through every channel; resolves with each channel's outcome. */
  sendNow(): Promise<Array<{ channel: string; result?: SendResult; error?: string }>>;
}

/**
 * The optional weekly digest (alerts.digest). Not an alert: it is not queued in the outbox, and a digest that
 * cannot be sent is logged and skipped (next week's covers the same ground).
 */
export function createDigestJob(deps: {
  config: Config;
  storage: Pick<Storage, 'history' | 'coldEvents'>;
  logger: Logger;
  clock: Clock;
  channels?: Channel[];
  /** With peers (one voice): whether this monitor speaks now; the scheduled digest is left to the one that does. */
  speaks?: () => boolean;
}): DigestJob {
  const { config, clock } = deps;
  const log = deps.logger.child({ component: 'digest' });
  let task: ScheduledTask | undefined;

  const sendNow: DigestJob['sendNow'] = async () => {
    const now = clock.now();
    const report = buildReport(deps.storage.history, { from: now - WEEK_MS, to: now, now, nodes: config.nodes.map((n) => n.name), coldStartMs: config.probes.canary.coldStart, coldEvents: deps.storage.coldEvents.countsBetween(now - WEEK_MS, now) });
    const msg = renderDigest(config.instance, renderReportText(report), now, config.alerts.statusPageUrl);
    const own = deps.channels === undefined;
    const channels = deps.channels ?? createChannels(config.alerts);
    try {
      const out: Array<{ channel: string; result?: SendResult; error?: string }> = [];
      for (const c of channels) {
        try {
          out.push({ channel: c.name, result: await c.send(msg) });
        } catch (e) {
          out.push({ channel: c.name, error: (e as Error).message });
          log.error({ channel: c.name, error: (e as Error).message }, 'weekly digest not sent');
        }
      }
      return out;
    } finally {
      if (own) await Promise.all(channels.map((c) => c.close?.().catch(() => undefined)));
    }
  };

  return {
    start() {
      if (task || !config.alerts.digest.enabled || !config.alerts.enabled) return;
      const scheduled = async (): Promise<void> => {
        if (deps.speaks && !deps.speaks()) {
          log.info('weekly digest left to the peer monitor that speaks (one voice)');
          return;
        }
        await sendNow();
      };
      task = nodeCron().createTask(config.alerts.digest.schedule, scheduled, {
        name: 'llm-sentinel-digest',
        noOverlap: true,
        suppressMissedWarning: true,
      });
      void Promise.resolve(task.start()).catch((err: unknown) => log.error({ err }, 'could not schedule the weekly digest'));
    },
    async stop() {
      const t = task;
      task = undefined;
      if (t) await Promise.resolve(t.destroy()).catch(() => undefined);
    },
    sendNow,
  };
}
