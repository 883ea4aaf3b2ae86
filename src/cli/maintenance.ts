import { compileCron } from '../alerts/cron';
import { loadConfig, type Config } from '../config';
import { recurringStart } from '../core/maintenance';
import { openStorage } from '../storage';
import { formatDuration, parseDuration } from '../util/duration';
import { parseFlags, reportError, UsageError, type CliIo } from './io';
import { table } from '../util/table';

const HELP = `Usage: llm-sentinel maintenance start --node NAME [--node NAME ...] --for DURATION [--reason TEXT]
       llm-sentinel maintenance end [--node NAME]
       llm-sentinel maintenance list [--json]
  (each takes --config FILE)

A maintenance window holds alerts for a node: probes still run and apps are still sent to healthy nodes
only, but nothing is mailed about that node. When the window ends and the node is still down, one alert
goes out. The running monitor picks windows up on its next heartbeat.

start  Opens a window now for DURATION (e.g. 45m, 2h).
end    Ends the active windows (of one node, or all) now.
list   Shows active and upcoming windows, one-off (from this command) and recurring (from the config).
`;

/** A one-off window longer than this is almost certainly a typo (45d for 45m). */
const MAX_WINDOW_MS = 30 * 86_400_000;

const when = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseFlags(
      argv,
      {
        config: { type: 'string', short: 'c' },
        node: { type: 'string', multiple: true },
        for: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const [sub, ...extra] = positionals;
    if (sub !== 'start' && sub !== 'end' && sub !== 'list') throw new UsageError(sub === undefined ? 'say which: maintenance start, end or list' : `unknown subcommand '${sub}' (start, end, list)`);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    const nodes = values.node ?? [];
    let duration = 0;
    if (sub === 'start') {
      if (nodes.length === 0) throw new UsageError('maintenance start needs --node NAME');
      if (values.for === undefined) throw new UsageError('maintenance start needs --for DURATION (e.g. 45m)');
      duration = parseDuration(values.for) ?? NaN;
      if (!(duration > 0) || duration > MAX_WINDOW_MS) throw new UsageError(`--for must be a duration from 1s to 30d (e.g. 45m, 2h), got '${values.for}'`);
    } else if (sub === 'end' && nodes.length > 1) {
      throw new UsageError('maintenance end takes at most one --node');
    } else if (sub === 'list' && nodes.length > 0) {
      throw new UsageError('maintenance list takes no --node');
    }
    const config = loadConfig(values.config ?? io.env.LLM_SENTINEL_CONFIG, io.env);
    const unknown = nodes.filter((n) => !config.nodes.some((c) => c.name === n));
    if (unknown.length > 0) throw new UsageError(`no node named ${unknown.map((n) => `'${n}'`).join(', ')} (configured: ${config.nodes.map((n) => n.name).join(', ')})`);

    const storage = openStorage(config.database);
    try {
      const store = storage.maintenance;
      const now = Date.now();
      if (sub === 'start') {
        const reason = values.reason?.trim() || 'maintenance';
        for (const node of nodes) store.insertWindow({ node, startsAt: now, endsAt: now + duration, reason, createdAt: now });
        io.stdout.write(`maintenance for ${nodes.join(', ')} until ${when(now + duration)} (${formatDuration(duration)}): ${reason}\n`);
        io.stdout.write('alerts for it are held; if it is still down when the window ends, one alert goes out\n');
        return 0;
      }
      if (sub === 'end') {
        const n = store.endWindows(now, nodes[0]);
        io.stdout.write(n === 0 ? `no active maintenance window${nodes[0] ? ` for ${nodes[0]}` : ''}\n` : `ended ${n} maintenance window${n === 1 ? '' : 's'}\n`);
        const recurring = activeRecurring(config, now).filter((r) => nodes[0] === undefined || r.node === nodes[0]);
        for (const r of recurring) io.stdout.write(`note: ${r.node} is in a recurring window from the config until ${when(r.until)} (${r.reason}); edit maintenance.recurring to change it\n`);
        return 0;
      }
      const oneOff = store.currentAndFuture(now);
      const recurring = describeRecurring(config, now);
      if (values.json) {
        const out = {
          oneOff: oneOff.map((w) => ({ ...w, startsAt: new Date(w.startsAt).toISOString(), endsAt: new Date(w.endsAt).toISOString(), active: w.startsAt <= now, createdAt: new Date(w.createdAt).toISOString() })),
          recurring: recurring.map((r) => ({ ...r, activeUntil: r.activeUntil === undefined ? null : new Date(r.activeUntil).toISOString(), nextStart: r.nextStart === undefined ? null : new Date(r.nextStart).toISOString() })),
        };
        io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return 0;
      }
      const rows = [
        ...oneOff.map((w) => [w.node, w.startsAt <= now ? 'ACTIVE' : 'planned', `${when(w.startsAt)} → ${when(w.endsAt)}`, `one-off #${w.id}`, w.reason]),
        ...recurring.map((r) => [
          r.node,
          r.activeUntil !== undefined ? 'ACTIVE' : 'recurring',
          r.activeUntil !== undefined ? `until ${when(r.activeUntil)}` : r.nextStart !== undefined ? `next ${when(r.nextStart)} for ${formatDuration(r.duration)}` : '-',
          `"${r.cron}"${r.timezone ? ` ${r.timezone}` : ''}`,
          r.reason,
        ]),
      ];
      io.stdout.write(rows.length === 0 ? 'no maintenance windows\n' : table(['NODE', 'STATE', 'WHEN', 'SOURCE', 'REASON'], rows));
      return 0;
    } finally {
      storage.close();
    }
  } catch (e) {
    return reportError(e, io, 'maintenance');
  }
}

interface RecurringInfo {
  node: string;
  cron: string;
  timezone?: string;
  duration: number;
  reason: string;
  activeUntil?: number;
  nextStart?: number;
}

function describeRecurring(config: Config, now: number): RecurringInfo[] {
  return config.maintenance.recurring.map((w) => {
    const m = compileCron(w.cron, w.timezone);
    try {
      const start = recurringStart({ ...w, startsAt: (minute) => m.matches(minute) }, now);
      const activeUntil = start !== undefined && now < start + w.duration ? start + w.duration : undefined;
      return { node: w.node, cron: w.cron, timezone: w.timezone, duration: w.duration, reason: w.reason, activeUntil, nextStart: m.nextFromNow() };
    } finally {
      m.dispose();
    }
  });
}

function activeRecurring(config: Config, now: number): Array<{ node: string; until: number; reason: string }> {
  return describeRecurring(config, now).flatMap((r) => (r.activeUntil !== undefined ? [{ node: r.node, until: r.activeUntil, reason: r.reason }] : []));
}
