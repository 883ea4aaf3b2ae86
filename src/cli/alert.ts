import { UNDECIDED } from '../core/peers';
import { createChannels } from '../alerts/registry';
import { toChannelError, type AlertMessage } from '../alerts/channel';
import { createDigestJob } from '../alerts/digest';
import { renderTest } from '../alerts/render';
import { loadConfig, type Config } from '../config';
import { openStorage } from '../storage';
import type { AlertWithDeliveries, Delivery } from '../storage';
import { silentLogger } from '../logging';
import { systemClock } from '../util/clock';
import { formatDuration } from '../util/duration';
import { parseFlags, reportError, UsageError, type CliIo } from './io';
import { table } from '../util/table';

const HELP = `Usage: llm-sentinel alert test [--config FILE] [--channel NAME]
       llm-sentinel alert list [--config FILE] [--json] [--limit N]
       llm-sentinel alert digest [--config FILE]

test   Sends a test alert through every configured channel (or just --channel NAME) and prints each
       server's answer. Exit 0 when all accepted it, 1 when any failed (authentication refused,
       recipient rejected, server unreachable: the message says which), 78 on bad config.
list   Shows recent alerts, newest first, with their delivery status per channel (default 20).
digest Sends the weekly digest (the report for the last 7 days) now, through every configured channel.
       The daemon sends it on alerts.digest.schedule when alerts.digest.enabled is true.
`;

const LIST_DEFAULT = 20;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseFlags(
      argv,
      {
        config: { type: 'string', short: 'c' },
        channel: { type: 'string' },
        json: { type: 'boolean' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const [sub, ...extra] = positionals;
    if (sub !== 'test' && sub !== 'list' && sub !== 'digest') {
      throw new UsageError(sub === undefined ? 'say which: alert test, alert list or alert digest' : `unknown subcommand '${sub}' (test, list, digest)`);
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    let limit = LIST_DEFAULT;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got '${values.limit}'`);
    }
    const config = loadConfig(values.config ?? io.env.LLM_SENTINEL_CONFIG, io.env);
    if (sub === 'digest') return await sendDigest(config, io);
    return sub === 'test' ? await sendTest(config, values.channel, io) : list(config, limit, values.json === true, io);
  } catch (e) {
    return reportError(e, io, 'alert');
  }
}

async function sendTest(config: Config, only: string | undefined, io: CliIo): Promise<number> {
  const all = createChannels(config.alerts);
  const channels = only === undefined ? all : all.filter((c) => c.name === only);
  try {
    if (channels.length === 0) {
      io.stderr.write(
        only === undefined
          ? 'llm-sentinel alert test: no alert channel configured: add alerts.email, alerts.ntfy, alerts.telegram, alerts.discord, alerts.slack or alerts.webhooks to the config\n'
          : `llm-sentinel alert test: no channel named '${only}' (configured: ${all.map((c) => c.name).join(', ') || 'none'})\n`,
      );
      return 1;
    }
    if (!config.alerts.enabled) io.stdout.write('note: alerts.enabled is false, so the daemon sends nothing; this test is sent anyway\n');
    const at = Date.now();
    const r = renderTest(config.instance, at, channels.map((c) => c.name), { statusPageUrl: config.alerts.statusPageUrl });
    const msg: AlertMessage = { ...r, id: 0, instance: config.instance, kind: 'test', severity: 'info', node: config.nodes[0]?.name ?? '', at };
    let failed = 0;
    for (const c of channels) {
      const target = c.name === 'email' && config.alerts.email ? ` (${config.alerts.email.host}:${config.alerts.email.port} → ${config.alerts.email.to.join(', ')})` : '';
      try {
        const res = await c.send(msg);
        io.stdout.write(`${c.name}${target}: sent — ${res.response}\n`);
        if (res.rejected) io.stdout.write(`  but refused for: ${res.rejected.join(', ')} (check alerts.email.to)\n`);
      } catch (e) {
        failed++;
        const ce = toChannelError(e);
        io.stdout.write(`${c.name}${target}: FAILED (${ce.permanent ? 'permanent: fix the config' : 'transient: the daemon would retry'}) — ${ce.message}\n`);
      }
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await Promise.all(all.map((c) => c.close?.().catch(() => undefined)));
  }
}

async function sendDigest(config: Config, io: CliIo): Promise<number> {
  const storage = openStorage(config.database);
  try {
    const results = await createDigestJob({ config, storage, logger: silentLogger(), clock: systemClock }).sendNow();
    if (results.length === 0) {
      io.stderr.write('llm-sentinel alert digest: no alert channel configured: add alerts.email, alerts.ntfy, alerts.telegram, alerts.discord, alerts.slack or alerts.webhooks to the config\n');
      return 1;
    }
    for (const r of results) io.stdout.write(r.error ? `${r.channel}: FAILED — ${r.error}\n` : `${r.channel}: sent — ${r.result?.response ?? ''}\n`);
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    storage.close();
  }
}

const when = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

function deliveryText(d: Delivery, now: number): string {
  if (d.status === 'sent') return `${d.channel} sent${d.attempts > 1 ? ` (try ${d.attempts})` : ''}`;
  if (d.status === 'failed') return `${d.channel} FAILED: ${d.lastError ?? '?'}`;
  if (d.status === 'held') return `${d.channel} held: ${d.lastError ?? 'sent by a peer'}`;
  if (d.attempts === 0) return `${d.channel} queued`;
  const next = d.nextAttemptAt > now ? `retry in ${formatDuration(d.nextAttemptAt - now)}` : 'retry due';
  return `${d.channel} ${next} after ${d.attempts} tries: ${d.lastError ?? '?'}`;
}

function list(config: Config, limit: number, json: boolean, io: CliIo): number {
  const storage = openStorage(config.database);
  try {
    const outbox = storage.outbox;
    const alerts: AlertWithDeliveries[] = outbox.recentAlerts(limit);
    if (json) {
      const out = alerts.map((a) => ({ ...a, createdAt: new Date(a.createdAt).toISOString(), attempts: outbox.attempts(a.id) }));
      io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    if (alerts.length === 0) {
      io.stdout.write(`no alerts recorded in ${config.database}\n`);
      return 0;
    }
    const now = Date.now();
    const rows = alerts.map((a) => [
      String(a.id),
      when(a.createdAt),
      a.severity,
      a.status === 'suppressed' ? suppressedText(a.suppressed, a.facts.heldBy) : a.status,
      a.subject.replace(/^\[llm-sentinel[^\]]*\] /, ''),
      a.deliveries.map((d) => deliveryText(d, now)).join('; ') || '-',
    ]);
    io.stdout.write(table(['ID', 'WHEN', 'SEVERITY', 'STATUS', 'ALERT', 'DELIVERY'], rows));
    return 0;
  } finally {
    storage.close();
  }
}

/** Why a recorded alert was not sent; one voice names the monitor that speaks for it. */
function suppressedText(reason: string | null, heldBy: string | undefined): string {
  if (reason !== 'peer' || heldBy === undefined) return `not sent (${reason ?? '?'})`;
  return heldBy === UNDECIDED ? 'held (peers not heard from yet)' : `held (sent by ${heldBy})`;
}
