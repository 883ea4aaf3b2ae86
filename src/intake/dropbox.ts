import { chmodSync, constants as fsConstants, lstatSync, mkdirSync, promises as fsp, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { MAX_REPORT_BYTES, REPORT_FILE_PATTERN } from '../client/failure-report';
import type { Logger } from '../logging';
import { systemClock, type Clock } from '../util/clock';
import { createReportIntake, type AcceptedReport, type ReportCounter } from './intake';
import { createRateLimiter, type RateLimiter } from './rate-limit';

/**
 * Folder mode 01733 (rwx-wx-wx + sticky), like a mail drop or /tmp without read:
 *  - any local user's app can create a report file (w+x), which is the point of a drop folder;
 *  - nobody but the daemon can list the folder (no r), so apps cannot see each other's reports;
 *  - the sticky bit stops a user from deleting or renaming another user's files.
 * 0770 would limit reports to the daemon's group; that is the choice for a host where local users are not
 * trusted even with this little (pass `mode`). What a report can do is small either way: it is validated,
 * size-capped and rate-limited, and it is a hint to look again, never a verdict on a node.
 */
export const DEFAULT_DROP_MODE = 0o1733;

export interface DropboxOptions {
  nodeNames: readonly string[];
  logger: Logger;
  onReport(r: AcceptedReport): void;
  clock?: Clock;
  /** Ignored when `limiter` is given (share the HTTP server's to count both doors together). */
  reportsPerMinute?: number;
  limiter?: RateLimiter;
  metrics?: ReportCounter;
  /** Slow scan in case fs.watch misses events (network file systems, some containers); default 5000. */
  pollMs?: number;
  /** Reports older than this when read (e.g. written while the daemon was stopped) are dropped; default 10 min. */
  maxAgeMs?: number;
  mode?: number;
}

export interface ReportDirWatcher {
  /** Settles after the first scan, which picks up reports written while the daemon was not running. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** At most this many files per scan, so a flooded folder cannot stall the daemon's event loop for long. */
const FILES_PER_SCAN = 500;
/** A dot-temp file this old belongs to a writer that died between write and rename. */
const ORPHAN_TEMP_MS = 10 * 60_000;

/** Creates the folder with the chosen mode (chmod after mkdir, because mkdir's mode is cut by the umask). */
function ensureDir(dir: string, mode: number, log: Logger): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true, mode });
    chmodSync(dir, mode);
    log.info({ dir, mode: mode.toString(8) }, 'created report drop folder');
    return;
  }
  // A symlink or file here would redirect our reads and deletes somewhere else.
  if (!st.isDirectory()) throw new Error(`report folder ${dir} exists and is not a directory`);
}

const shortName = (name: string): string => JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name);

/**
 * Watches the drop folder: each new `<epochms>-<pid>-<rand>.json` is read, deleted, validated exactly like
 * POST /report, rate-limited, and handed to onReport. Anything else that is not a dotfile is deleted with a
 * log line. Files are opened with O_NOFOLLOW|O_NONBLOCK so a symlink or a FIFO planted here is neither
 * followed nor waited on.
 */
export function watchReportDir(dir: string, opts: DropboxOptions): ReportDirWatcher {
  const log = opts.logger.child({ component: 'reports', dir });
  const clock = opts.clock ?? systemClock;
  const maxAgeMs = opts.maxAgeMs ?? 10 * 60_000;
  const mode = opts.mode ?? DEFAULT_DROP_MODE;
  const limiter = opts.limiter ?? createRateLimiter({ perMinute: opts.reportsPerMinute ?? 30, clock });
  const intake = createReportIntake({ nodeNames: opts.nodeNames, limiter, logger: log, onReport: opts.onReport, metrics: opts.metrics });
  ensureDir(dir, mode, log);

  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;
  let watcher: FSWatcher | undefined;

  /** Names that could not be removed (a non-empty folder, say): logged once, then skipped, not every scan. */
  let stuck = new Set<string>();

  const junk = async (path: string, name: string, why: string): Promise<void> => {
    try {
      await fsp.rm(path, { force: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      try {
        if (code !== 'ERR_FS_EISDIR' && code !== 'EISDIR') throw e;
        await fsp.rmdir(path);
      } catch (err) {
        stuck.add(name);
        log.warn({ file: shortName(name), why, code: (err as NodeJS.ErrnoException).code }, 'cannot delete junk in the report folder; ignoring it from now on');
        return;
      }
    }
    log.warn({ file: shortName(name), why }, 'deleted junk in the report folder');
  };

  const readOne = async (name: string): Promise<void> => {
    const path = join(dir, name);
    const m = REPORT_FILE_PATTERN.exec(name);
    if (!m) return junk(path, name, 'name is not <epochms>-<pid>-<hex>.json');
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return; // taken by a previous scan
      if (code === 'ELOOP') return junk(path, name, 'symbolic link');
      log.warn({ file: shortName(name), code }, 'cannot open report file');
      return junk(path, name, `unreadable (${code})`);
    }
    let text: string;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return await junk(path, name, 'not a regular file');
      if (st.size > MAX_REPORT_BYTES) return await junk(path, name, `larger than ${MAX_REPORT_BYTES} bytes`);
      const buf = Buffer.alloc(MAX_REPORT_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_REPORT_BYTES) return await junk(path, name, `larger than ${MAX_REPORT_BYTES} bytes`);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close().catch(() => undefined);
    }
    // Deleted before it is acted on: a report that makes onReport throw must not come back every scan.
    await fsp.unlink(path).catch(() => undefined);
    const age = clock.now() - Number(m[1]);
    if (age > maxAgeMs) {
      log.debug({ file: shortName(name), ageMs: age }, 'dropped an old report');
      return;
    }
    const r = intake.take(text, 'dropbox');
    if (!r.ok && r.kind === 'invalid') log.warn({ file: shortName(name), error: r.error }, 'deleted an invalid report');
  };

  const scanOnce = async (): Promise<void> => {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      log.warn({ code }, 'cannot list the report folder');
      if (code === 'ENOENT') {
        try {
          ensureDir(dir, mode, log);
        } catch (err) {
          log.error({ err }, 'cannot recreate the report folder');
        }
      }
      return;
    }
    const present = new Set(names);
    stuck = new Set([...stuck].filter((n) => present.has(n)));
    let handled = 0;
    for (const name of names) {
      if (closed) return;
      if (stuck.has(name)) continue;
      if (name.startsWith('.')) {
        await removeOrphanTemp(name);
        continue;
      }
      if (handled++ >= FILES_PER_SCAN) {
        again = true;
        return;
      }
      try {
        await readOne(name);
      } catch (err) {
        log.error({ err, file: shortName(name) }, 'failed to handle a report file');
      }
    }
  };

  const removeOrphanTemp = async (name: string): Promise<void> => {
    if (!name.endsWith('.tmp')) return;
    const st = await fsp.lstat(join(dir, name)).catch(() => undefined);
    if (st && clock.now() - st.mtimeMs > ORPHAN_TEMP_MS) await fsp.unlink(join(dir, name)).catch(() => undefined);
  };

  /** Scans are never concurrent; events during a scan ask for one more pass instead of a parallel one. */
  const scan = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await scanOnce();
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const startWatch = (): void => {
    if (watcher || closed) return;
    try {
      watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename && filename.toString().startsWith('.')) return;
        void scan();
      });
      watcher.on('error', (err) => {
        log.warn({ err }, 'report folder watch failed; polling only until it can be re-established');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn({ err }, 'cannot watch the report folder; polling only');
    }
  };

  startWatch();
  const poll = setInterval(() => {
    startWatch();
    void scan();
  }, opts.pollMs ?? 5_000);
  poll.unref();
  const ready = scan();

  return {
    ready,
    async close() {
      closed = true;
      clearInterval(poll);
      watcher?.close();
      watcher = undefined;
      await running?.catch(() => undefined);
    },
  };
}
