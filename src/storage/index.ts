import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger, type Logger } from '../logging';
import { systemClock, type Clock } from '../util/clock';
import { StorageError, toStorageError } from './errors';
import { createHistory, type History } from './history';
import { createMaintenanceStore, type MaintenanceStore } from './maintenance';
import { loadMigrations, migrate } from './migrate';
import { createOutbox, type Outbox } from './outbox';
import { prepareQueries } from './queries';
import type { Storage } from './types';

export * from './types';
export type { History, MaintenanceSpan, RollupLevel } from './history';
export type { MaintenanceStore, MaintenanceWindow } from './maintenance';
export type { AlertStatus, AlertWithDeliveries, AttemptInput, AttemptOutcome, Delivery, DeliveryStatus, NewAlert, Outbox, PendingDelivery, StoredAlert, StoredAttempt } from './outbox';
export { StorageError, type StorageErrorCode } from './errors';
export { loadMigrations, type Migration } from './migrate';

export interface OpenStorageOptions {
  logger?: Logger;
  /** Defaults to the package's migrations/ folder (two levels above both src/storage and dist/storage). */
  migrationsDir?: string;
  clock?: Clock;
  /**
   * How long a write waits for another process's lock (default 5000 ms). better-sqlite3 waits on the calling
   * thread, so the daemon asks for a short wait and retries from its write queue instead.
   */
  busyTimeoutMs?: number;
}

/** Owner-only: probe details name hosts and models, and the runs table names the instance. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed) the database at `file`, applies pending migrations and prepares every query.
 * Throws StorageError when the file cannot be used (DB_TOO_NEW, MIGRATION_FAILED, SQLITE_CANTOPEN, ...).
 */
export function openStorage(file: string, opts: OpenStorageOptions = {}): Storage {
  const logger = (opts.logger ?? silentLogger()).child({ component: 'storage' });
  const clock = opts.clock ?? systemClock;
  const migrations = loadMigrations(opts.migrationsDir ?? path.join(__dirname, '../../migrations'));
  const onDisk = file !== ':memory:' && file !== '';

  if (onDisk) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: DIR_MODE });
    // Create the file ourselves so it is never briefly readable under a loose umask. SQLite gives the
    // -wal and -shm files the main file's mode; a file made by an older build is tightened here too.
    fs.closeSync(fs.openSync(file, 'a', FILE_MODE));
    fs.chmodSync(file, FILE_MODE);
  }

  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    applyPragmas(db, logger, opts.busyTimeoutMs ?? BUSY_TIMEOUT_MS);
    migrate(db, migrations, { logger, clock });
    if (onDisk) tightenSidecars(file);
    return build(db, logger);
  } catch (err) {
    db?.close();
    throw toStorageError(err, `cannot open database ${file}`);
  }
}

function applyPragmas(db: Database.Database, logger: Logger, busyTimeoutMs: number): void {
  // Wait for a concurrent writer (a second CLI command, a backup) instead of failing at once with SQLITE_BUSY.
  db.pragma(`busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`);
  const fresh = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n === 0;
  if (fresh) {
    // Lets retention give freed pages back to the disk (PRAGMA incremental_vacuum) without a full VACUUM.
    // Only possible before the first table exists, and before WAL writes the header page.
    db.pragma('auto_vacuum = INCREMENTAL');
  }
  // Readers (status page, CLI) never block the probe writer, and a crash cannot corrupt the file.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal' && db.name !== ':memory:' && db.name !== '') {
    logger.warn({ journalMode: mode }, 'could not switch the database to WAL; readers may block writers');
  }
  // In WAL mode NORMAL is crash-safe (a power cut may lose the last commits, never corrupt) and avoids an
  // fsync per probe. Set explicitly: switching to WAL does not change it on this connection.
  db.pragma('synchronous = NORMAL');
  // SQLite ships with foreign keys off; gaps.run_id depends on them.
  db.pragma('foreign_keys = ON');
}

/** Existing -wal/-shm files from an older build or a looser umask: bring them to the main file's mode. */
function tightenSidecars(file: string): void {
  for (const suffix of ['-wal', '-shm']) {
    try {
      fs.chmodSync(file + suffix, FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function build(db: Database.Database, logger: Logger): Storage {
  let closed = false;

  // Every public function: refuse once closed (instead of better-sqlite3's TypeError) and give SQLite's
  // errors a StorageError code.
  function guard<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      if (closed) throw new StorageError('CLOSED', 'storage is closed');
      try {
        return fn(...args);
      } catch (err) {
        throw toStorageError(err);
      }
    };
  }

  const q = prepareQueries(db);
  const stores: { history?: History; outbox?: Outbox; maintenance?: MaintenanceStore } = {};
  const integrity = db.prepare<[], { integrity_check: string }>('PRAGMA integrity_check');
  const version = db.prepare<[], { v: number | null }>('SELECT max(version) AS v FROM schema_migrations');

  return {
    db,
    // Built on first use: each prepares its statements, and a database opened with fewer migrations (a test's,
    // a tool's) must still open.
    get history() {
      return (stores.history ??= createHistory(db));
    },
    get outbox() {
      return (stores.outbox ??= createOutbox(db));
    },
    get maintenance() {
      return (stores.maintenance ??= createMaintenanceStore(db));
    },
    insertProbe: guard(q.insertProbe),
    insertTransition: guard(q.insertTransition),
    insertPreferredChange: guard(q.insertPreferredChange),
    transaction: guard(<T>(fn: () => T): T => db.transaction(fn)()),
    startRun: guard(q.startRun),
    touchRun: guard(q.touchRun),
    endRun: guard(q.endRun),
    insertGap: guard(q.insertGap),
    lastTransitions: guard(q.lastTransitions),
    lastPreferred: guard(q.lastPreferred),
    recentProbes: guard(q.recentProbes),
    recentTransitions: guard(q.recentTransitions),
    lastOk: guard(q.lastOk),
    counts: guard(q.counts),
    schemaVersion: guard(() => version.get()?.v ?? 0),
    integrityCheck: guard(() =>
      integrity
        .all()
        .map((r) => r.integrity_check)
        .join('\n'),
    ),
    close(): void {
      if (closed) return;
      closed = true;
      try {
        // Fold the WAL back into the main file so a copied .db is complete and no -wal is left behind.
        db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (err) {
        logger.warn({ err }, 'WAL checkpoint on close failed; the WAL will be replayed on next open');
      }
      db.close();
    },
  };
}
