import { existsSync } from 'node:fs';
import { loadConfig } from '../config';
import { buildReport } from '../uptime/model';
import { reportJson } from '../uptime/json';
import { renderReportText } from '../uptime/text';
import { openStorage } from '../storage';
import { parseDuration } from '../util/duration';
import { parseFlags, reportError, UsageError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel report [--config FILE | --database FILE] [--since 7d | --from ISO [--to ISO]] [--node NAME] [--json]

Uptime, coverage, incidents, latency percentiles, cold starts, where traffic went and what the canaries cost,
for a window (default: the last 7 days). Uptime is the share of watched time a node served; coverage is the
share of wall time the monitor actually watched it: both are always shown together.

  --since DURATION   window ending now (e.g. 24h, 7d, 365d)
  --from ISO --to ISO  an explicit window (--to defaults to now)
  --node NAME        only this node
  --json             the stable JSON document described in docs/report.md
  --database FILE    read this database instead of the one in the config

Exit 0 on success, 1 when there is no database, 64 on bad flags, 78 on bad config.
`;

export async function run(argv: string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  try {
    const { values } = parseFlags(argv, {
      config: { type: 'string', short: 'c' },
      database: { type: 'string' },
      since: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      node: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const t = now();
    const window = parseWindow(values, t);
    // The config names the nodes (in priority order) and the database; --database alone reads what it finds.
    const configPath = values.config ?? io.env.LLM_SENTINEL_CONFIG;
    const config = configPath !== undefined || values.database === undefined ? loadConfig(configPath, io.env) : undefined;
    const file = values.database ?? (config?.database as string);
    let names = config?.nodes.map((n) => n.name);
    if (values.node !== undefined) {
      if (names && !names.includes(values.node)) throw new UsageError(`no node named ${JSON.stringify(values.node)} in the config (nodes: ${names.join(', ')})`);
      names = [values.node];
    }
    // A report must not create an empty database where the user mistyped a path.
    if (!existsSync(file)) {
      io.stderr.write(`llm-sentinel report: no database at ${file}: has the monitor run with this config?\n`);
      return 1;
    }
    const storage = openStorage(file);
    try {
      const report = buildReport(storage.history, { ...window, now: t, nodes: names, coldStartMs: config?.probes.canary.coldStart, coldEvents: storage.coldEvents.countsBetween(window.from, window.to), monitorLoads: storage.coldEvents.loadsBetween(window.from, window.to) });
      io.stdout.write(values.json ? `${JSON.stringify(reportJson(report), null, 2)}\n` : renderReportText(report));
    } finally {
      storage.close();
    }
    return 0;
  } catch (e) {
    return reportError(e, io, 'report');
  }
}

/** --since, or --from/--to; the default is the last 7 days. */
export function parseWindow(v: { since?: string; from?: string; to?: string }, now: number): { from: number; to: number } {
  if (v.since !== undefined && (v.from !== undefined || v.to !== undefined)) throw new UsageError('give --since or --from/--to, not both');
  if (v.to !== undefined && v.from === undefined) throw new UsageError('--to needs --from');
  if (v.from !== undefined) {
    const from = parseTime(v.from, '--from');
    const to = v.to === undefined ? now : parseTime(v.to, '--to');
    if (to <= from) throw new UsageError('--to must be after --from');
    return { from, to };
  }
  const span = parseDuration(v.since ?? '7d');
  if (span === undefined || span <= 0) throw new UsageError(`--since: not a duration: ${JSON.stringify(v.since)} (use e.g. 24h, 7d, 365d)`);
  return { from: now - span, to: now };
}

function parseTime(text: string, flag: string): number {
  // A bare date means midnight UTC, which is also what Date.parse does for YYYY-MM-DD.
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new UsageError(`${flag}: not an ISO 8601 time: ${JSON.stringify(text)} (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`);
  return t;
}
