import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadMigrations, openStorage, StorageError, type Storage } from '../../src/storage';
import type { ProbeResult } from '../../src/probes/types';
import { FakeClock } from '../../src/util/clock';

const REAL_MIGRATIONS = path.join(__dirname, '../../migrations');
const T0 = Date.UTC(2026, 0, 1);

let tmp: string;
const open: Storage[] = [];
const raw: Database.Database[] = [];

function storage(file = path.join(tmp, 'data', 'sentinel.db'), opts: Parameters<typeof openStorage>[1] = {}): Storage {
  const s = openStorage(file, { clock: new FakeClock(T0), ...opts });
  open.push(s);
  return s;
}

function rawDb(file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options);
  raw.push(db);
  return db;
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function probe(over: Partial<ProbeResult> = {}): ProbeResult {
  return { node: 'mini', kind: 'liveness', ok: true, reason: 'ok', startedAt: T0, durationMs: 12, ...over };
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-storage-'));
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const db of raw.splice(0)) if (db.open) db.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('openStorage: files, pragmas, migrations', () => {
  test('a fresh database gets every migration, the pragmas and owner-only files', () => {
    const file = path.join(tmp, 'a', 'b', 'sentinel.db');
    const s = storage(file);
    const newest = loadMigrations(REAL_MIGRATIONS).at(-1)?.version;

    expect(s.schemaVersion()).toBe(newest);
    const recorded = s.db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
    expect(recorded[0]).toEqual({ version: 1, name: '0001_init', applied_at: T0 });
    const tables = s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['gaps', 'preferred_changes', 'probes', 'runs', 'schema_migrations', 'transitions']));

    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('synchronous', { simple: true })).toBe(1);
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.db.pragma('auto_vacuum', { simple: true })).toBe(2);
    expect(s.db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(s.integrityCheck()).toBe('ok');

    s.insertProbe(probe()); // makes sure -wal and -shm exist
    expect(mode(path.join(tmp, 'a'))).toBe(0o700);
    expect(mode(path.join(tmp, 'a', 'b'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-wal`)).toBe(0o600);
    expect(mode(`${file}-shm`)).toBe(0o600);
  });

  test('an existing loose file is tightened to 0600', () => {
    const file = path.join(tmp, 'loose.db');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    storage(file);
    expect(mode(file)).toBe(0o600);
  });

  test('opening again is a no-op: same versions, same rows, data kept', () => {
    const file = path.join(tmp, 'sentinel.db');
    const first = storage(file);
    first.insertProbe(probe());
    const before = first.db.prepare('SELECT * FROM schema_migrations ORDER BY version').all();
    first.close();

    const second = storage(file, { clock: new FakeClock(T0 + 86_400_000) });
    expect(second.db.prepare('SELECT * FROM schema_migrations ORDER BY version').all()).toEqual(before);
    expect(second.counts()).toEqual({ probes: 1, transitions: 0, preferredChanges: 0 });
    expect(second.db.pragma('auto_vacuum', { simple: true })).toBe(2);
  });

  test('a database newer than the code is refused with a clear message', () => {
    const file = path.join(tmp, 'sentinel.db');
    storage(file).db.prepare("INSERT INTO schema_migrations VALUES (9999, '9999_future', 1)").run();
    open.pop()?.close();
    const newest = loadMigrations(REAL_MIGRATIONS).at(-1)?.version;

    const err = caught(() => storage(file));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('DB_TOO_NEW');
    expect((err as StorageError).message).toBe(
      `database schema version 9999 is newer than this llm-sentinel (knows up to ${newest}): upgrade llm-sentinel or use another database file`,
    );
    // Refusing must not touch the newer schema.
    expect(rawDb(file).prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(9999);
  });

  test('a failing migration rolls back, records nothing and names its file', () => {
    const dir = path.join(tmp, 'migrations');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(REAL_MIGRATIONS, '0001_init.sql'), path.join(dir, '0001_init.sql'));
    fs.writeFileSync(path.join(dir, '0002_bad.sql'), 'CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n');
    const file = path.join(tmp, 'sentinel.db');

    const err = caught(() => storage(file, { migrationsDir: dir }));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('MIGRATION_FAILED');
    expect((err as StorageError).message).toContain('0002_bad.sql');
    expect((err as StorageError).message).toContain('no such table: no_such_table');

    const db = rawDb(file);
    expect(db.prepare('SELECT version FROM schema_migrations').pluck().all()).toEqual([1]);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").pluck().get()).toBe(0);
    db.close();

    // Fixing the file lets the next start apply it.
    fs.writeFileSync(path.join(dir, '0002_bad.sql'), 'CREATE TABLE half_done (x INTEGER);\n');
    expect(storage(file, { migrationsDir: dir }).schemaVersion()).toBe(2);
  });

  test('a badly named or duplicated migration file is refused before the database is touched', () => {
    const dir = path.join(tmp, 'migrations');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '0001_init.sql'), 'CREATE TABLE a (x);');
    fs.writeFileSync(path.join(dir, '2_oops.sql'), 'CREATE TABLE b (x);');
    const file = path.join(tmp, 'sentinel.db');
    expect((caught(() => storage(file, { migrationsDir: dir })) as StorageError).code).toBe('BAD_MIGRATION_FILE');

    fs.renameSync(path.join(dir, '2_oops.sql'), path.join(dir, '0001_again.sql'));
    expect((caught(() => storage(file, { migrationsDir: dir })) as StorageError).message).toContain('share version 1');
    expect(fs.existsSync(file)).toBe(false);

    expect((caught(() => storage(file, { migrationsDir: path.join(tmp, 'nowhere') })) as StorageError).code).toBe('MIGRATIONS_MISSING');
  });

  test('a file that is not a database is refused with a SQLite code', () => {
    const file = path.join(tmp, 'junk.db');
    fs.writeFileSync(file, 'this is not sqlite, just some text that is long enough to have a header'.repeat(20));
    const err = caught(() => storage(file));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('SQLITE_NOTADB');
    expect((err as StorageError).message).toContain(file);
  });
});

describe('queries round-trip', () => {
  test('probes: every field, truncation, filters, order, limit', () => {
    const s = storage();
    const full: ProbeResult = {
      node: 'mini',
      kind: 'canary',
      ok: false,
      reason: 'cloudflare_tunnel_down',
      startedAt: T0 + 1000,
      durationMs: 812.5,
      httpStatus: 530,
      detail: 'x'.repeat(500),
      ttfbMs: 40.25,
      ttftMs: 120,
      totalMs: 800,
      tokensPerSec: 42.5,
      loadMs: 3,
      evalCount: 17,
      answer: 'not stored',
      cloudflare: { ray: 'abc', errorCode: 1033 },
    };
    const id = s.insertProbe(full);
    const minimal = probe({ startedAt: T0 + 2000, tokensPerSec: Number.NaN });
    const id2 = s.insertProbe(minimal);
    s.insertProbe(probe({ node: 'fallback', startedAt: T0 + 1500 }));
    s.insertProbe(probe({ startedAt: T0 + 500, kind: 'canary' }));

    const [newest, second] = s.recentProbes({ node: 'mini', limit: 2 });
    expect(newest).toEqual({ id: id2, node: 'mini', kind: 'liveness', ok: true, reason: 'ok', startedAt: T0 + 2000, durationMs: 12 });
    expect(newest).not.toHaveProperty('tokensPerSec');
    const { answer: _a, cloudflare: _c, detail: _d, ...kept } = full;
    expect(second).toEqual({ id, ...kept, detail: expect.any(String) });
    expect(second?.detail).toHaveLength(300);
    expect(second?.detail?.endsWith('…')).toBe(true);

    expect(s.recentProbes({}).map((p) => p.startedAt)).toEqual([T0 + 2000, T0 + 1500, T0 + 1000, T0 + 500]);
    expect(s.recentProbes({ kind: 'canary' }).map((p) => p.startedAt)).toEqual([T0 + 1000, T0 + 500]);
    expect(s.recentProbes({ node: 'mini', kind: 'canary', sinceMs: T0 + 1000 }).map((p) => p.id)).toEqual([id]);
    expect(s.recentProbes({ sinceMs: T0 + 1500 }).map((p) => p.node)).toEqual(['mini', 'fallback']);
    expect(s.recentProbes({ node: 'nobody' })).toEqual([]);
    expect(s.recentProbes({ limit: 0 })).toEqual([]);
  });

  test('detail truncation never splits a surrogate pair', () => {
    const s = storage();
    s.insertProbe(probe({ detail: `${'a'.repeat(298)}😀tail` }));
    const detail = s.recentProbes({})[0]?.detail ?? '';
    expect(detail).toBe(`${'a'.repeat(298)}…`);
  });

  test('lastOk: the latest ok probe of that node only', () => {
    const s = storage();
    expect(s.lastOk('mini')).toBeUndefined();
    s.insertProbe(probe({ startedAt: T0 + 1 }));
    s.insertProbe(probe({ startedAt: T0 + 2 }));
    s.insertProbe(probe({ startedAt: T0 + 3, ok: false, reason: 'refused' }));
    s.insertProbe(probe({ node: 'fallback', startedAt: T0 + 4 }));
    expect(s.lastOk('mini')).toBe(T0 + 2);
    expect(s.lastOk('fallback')).toBe(T0 + 4);
  });

  test('transitions: insert, recent, latest per node (insertion order beats a clock stepped back)', () => {
    const s = storage();
    const a = s.insertTransition({ node: 'mini', from: 'unknown', to: 'up', reason: 'ok', at: T0 });
    s.insertTransition({ node: 'fallback', from: 'unknown', to: 'degraded', reason: 'slow', detail: 'd'.repeat(400), at: T0 + 10 });
    // The wall clock was stepped back: this row is newer although its `at` is older.
    const c = s.insertTransition({ node: 'mini', from: 'up', to: 'down', reason: 'refused', detail: 'ECONNREFUSED', at: T0 - 5000 });

    expect(s.lastTransitions()).toEqual([
      { node: 'fallback', to: 'degraded', at: T0 + 10, reason: 'slow' },
      { node: 'mini', to: 'down', at: T0 - 5000, reason: 'refused' },
    ]);
    const mini = s.recentTransitions({ node: 'mini' });
    expect(mini).toEqual([
      { id: a, node: 'mini', from: 'unknown', to: 'up', reason: 'ok', at: T0 },
      { id: c, node: 'mini', from: 'up', to: 'down', reason: 'refused', detail: 'ECONNREFUSED', at: T0 - 5000 },
    ]);
    expect(s.recentTransitions({ sinceMs: T0 }).map((t) => t.node)).toEqual(['fallback', 'mini']);
    expect(s.recentTransitions({ limit: 1 })[0]?.detail).toHaveLength(300);
  });

  test('the alert policy state keeps each node\'s outage chain (lastKey) across a reopen; a bad one is dropped, not fatal', () => {
    const file = path.join(tmp, 'data', 'policy.db');
    const s = storage(file);
    const key = `primary.${T0.toString(36)}.7.${T0.toString(36)}`;
    s.outbox.savePolicyState({ primary: { outage: null, flips: [], flapping: null, maintenance: null, lastKey: key }, fallback: { outage: null, flips: [], flapping: null, maintenance: null, lastKey: 'x'.repeat(301) } }, T0);
    s.close();
    const again = storage(file);
    expect(again.outbox.loadPolicyState()).toEqual({ primary: { outage: null, flips: [], flapping: null, maintenance: null, lastKey: key }, fallback: { outage: null, flips: [], flapping: null, maintenance: null } });
    again.close();
  });

  test('rekeyOutage: undelivered alerts and a start that went out take the new key; a delivery already made keeps its own', () => {
    const s = storage();
    const from = `primary.${T0.toString(36)}`;
    const to = `primary.${(T0 - 3600_000).toString(36)}.4.${T0.toString(36)}`;
    const facts = (kind: string, root = false) => ({ kind, severity: 'critical', node: 'primary', at: T0, cause: null, detail: null, since: T0, durationMs: null, preferred: 'fallback', allDown: false, primary: 'primary', nodes: [], outageKey: from, ...(root ? { outageRoot: true } : {}) }) as never;
    const add = (kind: string, root = false) => s.outbox.insertAlert({ instance: 'mac', node: 'primary', kind, severity: 'critical', createdAt: T0, subject: kind, facts: facts(kind, root), threadOf: null, suppressed: null, channels: ['email', 'ntfy'] });
    const start = add('primaryDown', true);
    const reminder = add('reminder');
    const partial = add('reminder');
    const queued = add('recovered');
    for (const ch of ['email', 'ntfy']) s.outbox.recordAttempt({ alertId: start, channel: ch, at: T0, outcome: 'sent', durationMs: 5 });
    for (const ch of ['email', 'ntfy']) s.outbox.recordAttempt({ alertId: reminder, channel: ch, at: T0, outcome: 'sent', durationMs: 5 });
    s.outbox.recordAttempt({ alertId: partial, channel: 'email', at: T0, outcome: 'sent', durationMs: 5 });
    expect(s.outbox.rekeyOutage('primary', from, to)).toBe(2);
    const keyOf = (id: number) => s.outbox.getAlert(id)?.facts.outageKey;
    expect([start, reminder, partial, queued].map(keyOf)).toEqual([to, from, from, to]);
    s.close();
  });

  test('preferred changes: insert and latest', () => {
    const s = storage();
    expect(s.lastPreferred()).toBeUndefined();
    s.insertPreferredChange({ from: null, to: 'mini', reason: 'start', allDown: false, at: T0 });
    s.insertPreferredChange({ from: 'mini', to: 'fallback', reason: 'mini down', allDown: true, at: T0 + 60_000 });
    expect(s.lastPreferred()).toEqual({ to: 'fallback', at: T0 + 60_000, allDown: true });
    expect(s.db.prepare('SELECT from_node FROM preferred_changes ORDER BY id').pluck().all()).toEqual([null, 'mini']);
    expect(s.counts()).toEqual({ probes: 0, transitions: 0, preferredChanges: 2 });
  });

  test('runs: heartbeat, clean end (once), gaps, unknown run', () => {
    const s = storage();
    const { runId, uncleanPrevious } = s.startRun({ instance: 'host-a', pid: 4242, version: '0.1.0', at: T0 });
    expect(uncleanPrevious).toEqual([]);
    s.touchRun(runId, T0 + 30_000);
    s.insertGap({ runId, kind: 'sleep', from: T0 + 30_000, to: T0 + 3_600_000 });
    s.insertGap({ runId, kind: 'clock_back', from: T0 + 3_600_000, to: T0 + 3_000_000 });
    s.endRun(runId, T0 + 3_700_000, 'SIGTERM');
    s.endRun(runId, T0 + 9_999_999, 'again');
    s.touchRun(runId, T0 + 9_999_999);

    expect(s.db.prepare('SELECT * FROM runs').all()).toEqual([
      {
        id: runId,
        instance: 'host-a',
        pid: 4242,
        version: '0.1.0',
        started_at: T0,
        last_seen_at: T0 + 3_700_000,
        ended_at: T0 + 3_700_000,
        clean_exit: 1,
        end_reason: 'SIGTERM',
      },
    ]);
    expect(s.db.prepare('SELECT run_id, kind, from_at, to_at FROM gaps ORDER BY id').all()).toEqual([
      { run_id: runId, kind: 'sleep', from_at: T0 + 30_000, to_at: T0 + 3_600_000 },
      { run_id: runId, kind: 'clock_back', from_at: T0 + 3_600_000, to_at: T0 + 3_000_000 },
    ]);

    expect((caught(() => s.touchRun(999, T0)) as StorageError).code).toBe('NO_SUCH_RUN');
    expect((caught(() => s.endRun(999, T0, 'x')) as StorageError).code).toBe('NO_SUCH_RUN');
    const fk = caught(() => s.insertGap({ runId: 999, kind: 'sleep', from: T0, to: T0 + 1 })) as StorageError;
    expect(fk).toBeInstanceOf(StorageError);
    expect(fk.code).toBe('SQLITE_CONSTRAINT');
    expect(fk.sqliteCode).toBe('SQLITE_CONSTRAINT_FOREIGNKEY');
  });

  test('startRun closes a previous run that never ended as unclean, at its last heartbeat', () => {
    const file = path.join(tmp, 'sentinel.db');
    const first = storage(file);
    const clean = first.startRun({ instance: 'host-a', pid: 1, version: '0.1.0', at: T0 });
    first.endRun(clean.runId, T0 + 1000, 'stop');
    const crashed = first.startRun({ instance: 'host-a', pid: 2, version: '0.1.0', at: T0 + 2000 });
    first.touchRun(crashed.runId, T0 + 62_000);
    first.close(); // the process "dies": no endRun

    const second = storage(file);
    const next = second.startRun({ instance: 'host-a', pid: 3, version: '0.1.1', at: T0 + 600_000 });
    expect(next.uncleanPrevious).toEqual([{ runId: crashed.runId, lastSeenAt: T0 + 62_000 }]);
    expect(next.runId).toBeGreaterThan(crashed.runId);
    const rows = second.db.prepare('SELECT id, ended_at, clean_exit, end_reason FROM runs ORDER BY id').all();
    expect(rows).toEqual([
      { id: clean.runId, ended_at: T0 + 1000, clean_exit: 1, end_reason: 'stop' },
      { id: crashed.runId, ended_at: T0 + 62_000, clean_exit: 0, end_reason: 'unclean' },
      { id: next.runId, ended_at: null, clean_exit: null, end_reason: null },
    ]);
  });
});

describe('transactions, close and concurrency', () => {
  test('transaction() commits together, rolls back on throw and rethrows the same error', () => {
    const s = storage();
    const value = s.transaction(() => {
      s.insertTransition({ node: 'mini', from: 'up', to: 'down', reason: 'refused', at: T0 });
      s.insertPreferredChange({ from: 'mini', to: 'fallback', reason: 'mini down', allDown: false, at: T0 });
      return 'done';
    });
    expect(value).toBe('done');

    const boom = new Error('alert row failed');
    const err = caught(() =>
      s.transaction(() => {
        s.insertTransition({ node: 'mini', from: 'down', to: 'up', reason: 'ok', at: T0 + 1 });
        s.insertProbe(probe());
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    expect(s.counts()).toEqual({ probes: 0, transitions: 1, preferredChanges: 1 });

    // A nested failure rolls back only its savepoint when the outer function catches it.
    s.transaction(() => {
      s.insertProbe(probe());
      const inner = caught(() =>
        s.transaction(() => {
          s.insertProbe(probe());
          s.insertGap({ runId: 7, kind: 'sleep', from: 0, to: 1 }); // no run 7: foreign key fails
        }),
      );
      expect(inner).toBeInstanceOf(StorageError);
    });
    expect(s.counts().probes).toBe(1);
  });

  test('close checkpoints the WAL, is idempotent, and later calls fail with CLOSED', () => {
    const file = path.join(tmp, 'sentinel.db');
    const s = storage(file);
    s.insertProbe(probe());
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
    s.close();
    s.close();
    expect(!fs.existsSync(`${file}-wal`) || fs.statSync(`${file}-wal`).size === 0).toBe(true);
    expect(s.db.open).toBe(false);
    expect((caught(() => s.insertProbe(probe())) as StorageError).code).toBe('CLOSED');

    // Everything reached the main file.
    expect(rawDb(file, { readonly: true }).prepare('SELECT count(*) FROM probes').pluck().get()).toBe(1);
  });

  test('a second connection sees committed data, and a reader does not block the writer (WAL)', () => {
    const file = path.join(tmp, 'sentinel.db');
    const writer = storage(file);
    const reader = storage(file);
    writer.insertProbe(probe({ startedAt: T0 + 1 }));
    expect(reader.recentProbes({}).map((p) => p.startedAt)).toEqual([T0 + 1]);

    // A long read keeps its snapshot while the writer commits.
    const cli = rawDb(file, { readonly: true });
    cli.exec('BEGIN');
    expect(cli.prepare('SELECT count(*) FROM probes').pluck().get()).toBe(1);
    writer.insertProbe(probe({ startedAt: T0 + 2 }));
    expect(cli.prepare('SELECT count(*) FROM probes').pluck().get()).toBe(1);
    cli.exec('COMMIT');
    expect(cli.prepare('SELECT count(*) FROM probes').pluck().get()).toBe(2);
    expect(reader.lastOk('mini')).toBe(T0 + 2);
  });

  test('lastOk uses the partial index rather than scanning the node', () => {
    const s = storage();
    const plan = s.db
      .prepare("EXPLAIN QUERY PLAN SELECT started_at FROM probes WHERE node = 'mini' AND ok = 1 ORDER BY id DESC LIMIT 1")
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('\n')).toContain('probes_node_ok');
  });
});
