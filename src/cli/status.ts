import { readFileSync } from 'node:fs';
import { loadStateFilePath } from '../config/state-path';
import { isStale, parseState } from '../state/validate';
import type { PublishedState } from '../state/types';
import { formatDuration } from '../util/duration';
import { parseFlags, reportError, UsageError, type CliIo } from './io';
import { ms, num, table } from '../util/table';

const HELP = `Usage: llm-sentinel status [--config FILE | --state FILE] [--json]

Prints the published state: the preferred node, each node's status, since when, the last error and latency.
Says plainly when the monitor looks dead (state older than staleAfterMs).
Exit 0 when the state is fresh, 1 when it is stale or missing, 78 on bad config.
`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseFlags(argv, {
      config: { type: 'string', short: 'c' },
      state: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (values.state !== undefined && values.config !== undefined) throw new UsageError('give --config or --state, not both');
    // Only the state file's path: status reads no secret (it runs outside the service, often without sudo).
    const file = values.state ?? loadStateFilePath(values.config ?? io.env.LLM_SENTINEL_CONFIG, io.env);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      io.stderr.write(`llm-sentinel status: no state file at ${file} (${(e as NodeJS.ErrnoException).code}): is the monitor running?\n`);
      return 1;
    }
    const parsed = parseState(text);
    if (!parsed.ok) {
      io.stderr.write(`llm-sentinel status: ${file}: ${parsed.error}\n`);
      return 1;
    }
    const now = Date.now();
    const stale = isStale(parsed.state, now);
    if (values.json) io.stdout.write(`${JSON.stringify({ stale, ageMs: now - Date.parse(parsed.state.updatedAt), state: parsed.state }, null, 2)}\n`);
    else io.stdout.write(render(parsed.state, now, stale));
    return stale ? 1 : 0;
  } catch (e) {
    return reportError(e, io, 'status');
  }
}

const ago = (iso: string | null, now: number) => (iso === null ? '-' : `${formatDuration(now - Date.parse(iso))} ago`);

export function render(s: PublishedState, now: number, stale: boolean): string {
  const out: string[] = [];
  out.push(`llm-sentinel ${s.monitor.instance} (v${s.monitor.version}, pid ${s.monitor.pid}), state updated ${ago(s.updatedAt, now)}`);
  if (stale) {
    out.push(
      `WARNING: the monitor looks dead: the state was last written ${ago(s.updatedAt, now)} (stale after ${formatDuration(s.staleAfterMs)}).`,
      '         What follows is its last view, not the current one; clients fall back to their configured order.',
    );
  }
  out.push(`Preferred: ${s.preferred.name}  ${s.preferred.url}  (model ${s.preferred.model})`);
  if (s.allDown) out.push(`ALL NODES DOWN: apps are told to stay on ${s.preferred.name}, which is not healthy either.`);
  out.push('');
  const rows = s.nodes.map((n) => [
    `${n.name}${n.name === s.preferred.name ? ' *' : ''}`,
    n.status.toUpperCase(),
    ago(n.since, now),
    ago(n.lastCheckAt, now),
    n.status === 'up' ? '-' : n.statusReason,
    ms(n.latency?.ttftMs),
    num(n.latency?.tokensPerSec),
    ms(n.latency?.loadMs),
    n.lastError ? `${n.lastError.reason} ${ago(n.lastError.at, now)}: ${n.lastError.message}` : '-',
  ]);
  return `${out.join('\n')}\n${table(['NODE', 'STATUS', 'SINCE', 'CHECKED', 'WHY', 'TTFT', 'TOK/S', 'LOAD', 'LAST ERROR'], rows)}`;
}
