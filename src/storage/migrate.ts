import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from '../logging';
import type { Clock } from '../util/clock';
import { StorageError, toStorageError } from './errors';

export interface Migration {
  version: number;
  /** File name without `.sql`, e.g. `0001_init`. */
  name: string;
  file: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{4})_([A-Za-z0-9_-]+)\.sql$/;

/**
 * Reads `NNNN_name.sql` files in version order. A `.sql` file with any other name, or two files with one
 * number, is a packaging mistake: refuse rather than silently skip a schema change.
 */
export function loadMigrations(dir: string): Migration[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw new StorageError('MIGRATIONS_MISSING', `cannot read migrations folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const migrations: Migration[] = [];
  for (const file of entries) {
    if (!file.endsWith('.sql')) continue;
    const m = MIGRATION_FILE.exec(file);
    if (!m) throw new StorageError('BAD_MIGRATION_FILE', `migration file ${file} is not named NNNN_name.sql (in ${dir})`);
    const version = Number(m[1]);
    const clash = migrations.find((x) => x.version === version);
    if (clash) throw new StorageError('BAD_MIGRATION_FILE', `migrations ${clash.file} and ${file} share version ${version} (in ${dir})`);
    migrations.push({ version, name: file.slice(0, -'.sql'.length), file, sql: fs.readFileSync(path.join(dir, file), 'utf8') });
  }
  if (migrations.length === 0) throw new StorageError('MIGRATIONS_MISSING', `no migrations found in ${dir}`);
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Brings the schema up to date. Each file runs in its own IMMEDIATE transaction (the write lock is taken
 * up front, so two processes starting together cannot both apply it; the loser re-checks and skips).
 * A migration therefore must not contain BEGIN/COMMIT or PRAGMA foreign_keys (a no-op inside a
 * transaction); a table rebuild needs its own runner step, not a silent workaround here.
 */
export function migrate(db: BetterSqlite3.Database, migrations: Migration[], opts: { logger: Logger; clock: Clock }): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const newest = migrations[migrations.length - 1]?.version ?? 0;
  const current = currentVersion(db);
  if (current > newest) {
    throw new StorageError(
      'DB_TOO_NEW',
      `database schema version ${current} is newer than this llm-sentinel (knows up to ${newest}): upgrade llm-sentinel or use another database file`,
    );
  }

  const isApplied = db.prepare<[number], { one: number }>('SELECT 1 AS one FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of migrations) {
    if (isApplied.get(m.version)) continue;
    const apply = db.transaction(() => {
      if (isApplied.get(m.version)) return false;
      db.exec(m.sql);
      record.run(m.version, m.name, Math.round(opts.clock.now()));
      return true;
    });
    let ran: boolean;
    try {
      ran = apply.immediate();
    } catch (err) {
      const cause = toStorageError(err);
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new StorageError('MIGRATION_FAILED', `migration ${m.file} failed and was rolled back: ${why}`, { cause });
    }
    if (ran) {
      applied.push(m.version);
      opts.logger.info({ version: m.version, migration: m.name }, 'applied database migration');
    }
  }
  return applied;
}

export function currentVersion(db: BetterSqlite3.Database): number {
  const row = db.prepare<[], { v: number | null }>('SELECT max(version) AS v FROM schema_migrations').get();
  return row?.v ?? 0;
}
