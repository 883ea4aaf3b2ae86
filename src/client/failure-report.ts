import { deadline } from './platform';
import type { ClientReport, FetchLike, ReportOutcome } from './types';

/*
 * The report wire contract, shared by the client (writer) and the daemon (src/intake, reader). It lives here
 * because the client may import nothing heavy, while the daemon may import this light file.
 */

/**
 * Not a failure: "a request of mine has had no response headers from this node for a few seconds; look now".
 * The daemon answers with one immediate liveness probe (src/core/suspect.ts); see src/client/suspicion.ts.
 */
export const SUSPECT_REASON = 'suspect';

/** Bodies and drop files above this are refused unread: a report is a node name and a reason. */
export const MAX_REPORT_BYTES = 4096;
export const MAX_REASON_CHARS = 64;
export const MAX_DETAIL_CHARS = 500;
/** Reasons are tokens (they end up in logs and may be compared): letters, digits, _ . : - */
export const REASON_PATTERN = /^[A-Za-z0-9_.:-]+$/;
/** `<epochms>-<pid>-<hex>.json`; anything else in the drop folder is junk (dotfiles are writes in progress). */
export const REPORT_FILE_PATTERN = /^(\d{10,16})-(\d{1,10})-([0-9a-f]{4,32})\.json$/;

/** What is sent or written: the known fields, capped. */
export function clean(r: ClientReport): ClientReport {
  const out: ClientReport = { node: r.node, reason: r.reason.slice(0, MAX_REASON_CHARS) };
  if (r.detail) out.detail = r.detail.slice(0, MAX_DETAIL_CHARS);
  return out;
}

export async function postReport(
  url: string,
  r: ClientReport,
  opts: { token?: string; fetch: FetchLike; timeoutMs: number },
): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const limit = deadline(opts.timeoutMs);
  try {
    const res = await opts.fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(clean(r)),
      redirect: 'manual',
      signal: limit.signal,
    });
    // The answer is read so the connection can be reused, but only a few bytes matter.
    const text = await res.text().catch(() => '');
    if (res.status !== 202) throw new Error(`report answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  } finally {
    limit.clear();
  }
}

export interface Reporter {
  send(r: ClientReport): Promise<ReportOutcome>;
}

/** Writes one report into the daemon's drop folder (the Node build's writeReportFile, see drop-folder.ts). */
export type DropWriter = (dir: string, r: ClientReport, nowMs: number) => Promise<string>;

/**
 * Chooses the channel once: a drop folder wins over HTTP (no port, no token, works while the server is off).
 * The drop folder needs `writeFile`, which only the Node build injects (the client refuses a reportDir
 * without it at construction).
 */
export function createReporter(opts: {
  reportDir?: string;
  writeFile?: DropWriter;
  reportUrl?: string;
  token?: string;
  fetch: FetchLike;
  now: () => number;
  timeoutMs: number;
}): Reporter {
  return {
    async send(r) {
      try {
        if (opts.reportDir) {
          if (!opts.writeFile) throw new Error('a drop folder (reportDir) needs the Node build of llm-sentinel/client');
          await opts.writeFile(opts.reportDir, r, opts.now());
          return { delivered: true, via: 'dropbox' };
        }
        if (opts.reportUrl) {
          await postReport(opts.reportUrl, r, { token: opts.token, fetch: opts.fetch, timeoutMs: opts.timeoutMs });
          return { delivered: true, via: 'http' };
        }
        return { delivered: false, via: 'none', error: 'no reportDir or reportUrl (set stateFile or stateUrl)' };
      } catch (e) {
        return { delivered: false, via: opts.reportDir ? 'dropbox' : 'http', error: (e as Error)?.message ?? String(e) };
      }
    },
  };
}
