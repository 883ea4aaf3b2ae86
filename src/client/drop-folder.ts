import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { clean } from './failure-report';
import type { ClientReport } from './types';

/* Node build only (src/client/node.ts injects it; src/client/index.ts exports it): the wire rules are in failure-report.ts. */

/**
 * Drops a report into the daemon's folder atomically: write a dot-named temp file (the daemon ignores
 * dotfiles), then rename it to its final name, so the daemon never reads half a report. No fsync: a report
 * lost in a power cut is harmless, and apps should not pay a disk flush per failure.
 * The folder is not created here: the daemon owns it and chooses its mode.
 */
export async function writeReportFile(dir: string, r: ClientReport, nowMs = Date.now()): Promise<string> {
  const name = `${Math.floor(nowMs)}-${process.pid}-${randomBytes(6).toString('hex')}.json`;
  const tmp = join(dir, `.${name}.tmp`);
  const final = join(dir, name);
  // 0644: the daemon usually runs as another user and must be able to read what the app wrote.
  await fsp.writeFile(tmp, JSON.stringify(clean(r)), { mode: 0o644, flag: 'wx' });
  try {
    await fsp.rename(tmp, final);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  return final;
}
