/**
 * Codes callers can branch on. Our own codes describe problems with the database as a whole; `SQLITE_*` is
 * SQLite's primary result code (SQLITE_BUSY, SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, ...) so that
 * `code === 'SQLITE_BUSY'` also covers the extended SQLITE_BUSY_SNAPSHOT, which stays in `sqliteCode`.
 */
export type StorageErrorCode =
  | 'DB_TOO_NEW'
  | 'MIGRATION_FAILED'
  | 'MIGRATIONS_MISSING'
  | 'BAD_MIGRATION_FILE'
  | 'NO_SUCH_RUN'
  | 'CLOSED'
  | `SQLITE_${string}`;

export class StorageError extends Error {
  override readonly name = 'StorageError';
  /** SQLite's extended result code, when SQLite raised the error. */
  readonly sqliteCode: string | undefined;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown; sqliteCode?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.sqliteCode = options?.sqliteCode;
  }
}

/** Turns SQLite's errors into StorageErrors with a code; anything else (a caller's own error) passes through. */
export function toStorageError(err: unknown, context?: string): unknown {
  if (err instanceof StorageError || !isSqliteError(err)) return err;
  const primary = (err.code.match(/^SQLITE_[A-Z]+/)?.[0] ?? 'SQLITE_ERROR') as StorageErrorCode;
  const message = context ? `${context}: ${err.message}` : err.message;
  return new StorageError(primary, message, { cause: err, sqliteCode: err.code });
}

/**
 * Recognised by shape, not `instanceof`: the native addon keeps the SqliteError class of the first copy of
 * the module loaded in the process, so errors from a second copy (Jest's per-file module registry and
 * realm) fail instanceof.
 */
function isSqliteError(err: unknown): err is Error & { code: string } {
  // Not even `instanceof Error`: that copy may come from another realm (each Jest test file has its own).
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  return typeof e === 'object' && e !== null && e.name === 'SqliteError' && typeof e.code === 'string' && typeof e.message === 'string';
}

/** Every function: SQLite errors become StorageErrors with a code, like the rest of src/storage. */
export function guarded<T extends object>(fns: T): T {
  const out = {} as Record<string, unknown>;
  for (const [k, fn] of Object.entries(fns)) {
    out[k] = (...args: unknown[]) => {
      try {
        return (fn as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        throw toStorageError(err);
      }
    };
  }
  return out as T;
}
