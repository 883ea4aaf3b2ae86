import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readState, waitForState } from '../../src/demo/harness';
import { parseState } from '../../src/state/validate';
import { DbView, logLines, Watcher, startStateReader, type LogLine } from './support';
import { sleep, waitFor } from '../helpers/wait';
import { startStack, type Stack } from '../helpers/stack';
import { mulberry32 } from '../../src/util/random';

/*
 * Host faults around the real daemon: kill -9 at random moments, a state folder that stops accepting
 * writes, a database held locked by another process. Clock jumps are in clock.test.ts (a child process's
 * clock cannot be moved).
 */

jest.setTimeout(60_000);

/** Tables that only ever grow while the daemon runs (no retention runs in a test this short). */
const APPEND_ONLY = ['probes', 'transitions', 'preferred_changes', 'runs', 'alerts'];

/** Row counts of the append-only tables, from a fresh read-only connection (as a second process sees it). */
function countRows(dbFile: string): Record<string, number> | undefined {
  if (!existsSync(dbFile)) return undefined;
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name));
    const counts: Record<string, number> = {};
    for (const t of APPEND_ONLY) if (tables.has(t)) counts[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return counts;
  } finally {
    db.close();
  }
}

function integrity(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

const prng = mulberry32;

/** Error lines about a database write that gave up waiting for another process's lock. */
const busyErrors = (output: string): LogLine[] => logLines(output).filter((l) => l.level >= 50 && JSON.stringify(l).includes('SQLITE_BUSY'));

describe('kill -9 at random moments', () => {
  let stack: Stack;
  afterEach(async () => stack && (await stack.close()));

  test('20 kills while a fault toggles: clean restarts, intact database, no committed row lost, state always parseable', async () => {
    // A short heartbeat so the state file is being rewritten at most moments a kill can land on.
    stack = await startStack('sentinel-faults-kill-', { state: '{ heartbeat: 100ms, staleAfter: 2s }' });
    const seed = Number(process.env.FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    const reader = startStateReader(stack.stateFile);
    let flip = 0;
    const toggler = setInterval(() => void stack.primary.setFault(++flip % 2 === 1 ? 'cf_tunnel_down' : 'none'), 700);
    const kills: Array<{ delayMs: number; afterFirstWrite: boolean }> = [];
    let last: Record<string, number> = {};
    /** Tables that have fewer rows now than before, with both counts. */
    const lost = (prev: Record<string, number>, now: Record<string, number> | undefined) =>
      Object.entries(prev)
        .filter(([t, n]) => (now?.[t] ?? 0) < n)
        .map(([t, n]) => `${t}: ${n} → ${now?.[t] ?? 0}`);
    try {
      for (let i = 0; i < 20; i++) {
        const daemon = stack.spawn();
        const pid = daemon.child.pid;
        const delayMs = Math.round(100 + random() * 1400);
        await sleep(delayMs);
        // The restart after the previous kill is clean: this process is still running on its own ...
        expect({ kill: i, seed, exitCode: daemon.child.exitCode }).toEqual({ kill: i, seed, exitCode: null });
        const afterFirstWrite = readState(stack.stateFile)?.monitor.pid === pid;
        const before = countRows(stack.dbFile) ?? {};
        await daemon.kill9();
        // ... and nothing committed before the kill is gone after it, as seen from another process.
        const after = countRows(stack.dbFile);
        expect({ kill: i, seed, lost: lost(before, after), sinceLastKill: lost(last, before) }).toEqual({ kill: i, seed, lost: [], sinceLastKill: [] });
        if (after) expect({ kill: i, seed, integrity: integrity(stack.dbFile) }).toEqual({ kill: i, seed, integrity: 'ok' });
        // ... and it logged nothing at error level or above (a crash trace, a storage or state-file error).
        expect({ kill: i, seed, errors: logLines(daemon.output()).filter((l) => l.level >= 50).map((l) => l.msg) }).toEqual({ kill: i, seed, errors: [] });
        last = after ?? {};
        kills.push({ delayMs, afterFirstWrite });
      }
      // The 21st start, after the 20th kill, must come up, publish with its pid and stop cleanly.
      const final = stack.spawn();
      const fresh = await waitForState(stack.stateFile, (s) => s.monitor.pid === final.child.pid, 15_000);
      expect(fresh.nodes.map((n) => n.name)).toEqual(['primary', 'fallback']);
      await sleep(500);
      expect(await final.stop()).toBe(0);
    } finally {
      clearInterval(toggler);
      await reader.stop().catch(() => undefined);
    }
    const report = await reader.stop();
    const end = countRows(stack.dbFile) ?? {};
    expect(integrity(stack.dbFile)).toBe('ok');
    for (const [t, n] of Object.entries(last)) expect({ table: t, atLeast: (end[t] ?? 0) >= n }).toEqual({ table: t, atLeast: true });

    // Every run the database saw is closed: the killed ones as unclean at their last heartbeat, the last cleanly.
    const db = new DbView(stack.dbFile);
    try {
      const runs = db.db.prepare('SELECT ended_at, clean_exit, end_reason FROM runs ORDER BY id').all() as Array<{ ended_at: number | null; clean_exit: number; end_reason: string }>;
      expect(runs.length).toBeGreaterThanOrEqual(2);
      expect(runs.filter((r) => r.ended_at === null)).toEqual([]);
      expect(runs.slice(0, -1).every((r) => r.clean_exit === 0 && r.end_reason === 'unclean')).toBe(true);
      expect(runs.at(-1)).toMatchObject({ clean_exit: 1, end_reason: 'SIGTERM' });
    } finally {
      db.close();
    }

    // The state file was parseable at every read: never torn, never missing once it existed.
    expect({ torn: report.torn, examples: report.examples, missingAfterFirst: report.missingAfterFirst, readErrors: report.readErrors }).toEqual({ torn: 0, examples: [], missingAfterFirst: 0, readErrors: {} });
    expect(report.ok).toBeGreaterThan(1000);
    // Most kills land on a daemon that is probing and publishing, not only on start-up.
    const late = kills.filter((k) => k.afterFirstWrite).length;
    expect(late).toBeGreaterThanOrEqual(5);
    // A kill between writing the temp file and renaming it leaves that temp file behind (named by pid).
    const litter = readdirSync(stack.dir).filter((f) => f.endsWith('.tmp'));
    process.stdout.write(
      `kill -9 ×20 (seed ${seed}): ${late} kills after the daemon's first state write, ${20 - late} during start-up; ` +
        `delays ${Math.min(...kills.map((k) => k.delayMs))}–${Math.max(...kills.map((k) => k.delayMs))} ms; rows at the end ${JSON.stringify(end)}; ` +
        `state reads ${report.reads} (${report.distinct} distinct documents), torn 0, missing before first write ${report.missingBeforeFirst}; ` +
        `temp files left by kills: ${litter.length}\n`,
    );
  });
});

/** Fills the filesystem holding `dir` with a filler file until writes fail with ENOSPC. */
function fillUp(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

/** Whether this host lets us mount a tmpfs (root in a privileged container does; CI runners may not). */
function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'sentinel-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmdirSync(probe);
  }
}

describe('state folder stops accepting writes', () => {
  let stack: Stack | undefined;
  let mounted: string | undefined;
  afterEach(async () => {
    for (const d of stack?.daemons ?? []) await d.kill9();
    if (mounted) execFileSync('umount', [mounted], { stdio: 'ignore' });
    mounted = undefined;
    await stack?.close();
    stack = undefined;
  });

  test('folder replaced by a file (EEXIST): logged once, previous file intact, written again once restored', async () => {
    stack = await startStack('sentinel-faults-enotdir-', { stateFile: 'pub/state.json' });
    const daemon = await stack.startHealthy();
    const pub = join(stack.dir, 'pub');
    const away = join(stack.dir, 'pub.away');
    await sleep(600);
    const db = new DbView(stack.dbFile);
    try {
      renameSync(pub, away);
      writeFileSync(pub, 'not a folder\n');
      const kept = readFileSync(join(away, 'state.json'), 'utf8');
      const rowsAtBreak = db.probeCount();
      const brokeAt = Date.now();
      // Four heartbeats (500 ms) and a failover's worth of events while the folder is gone.
      await stack.primary.setFault('refuse');
      await sleep(2500);
      const broken = logLines(daemon.output()).filter((l) => l.msg.includes('could not write the state file'));
      process.stdout.write(`state folder replaced by a file: logged ${broken.map((l) => String(l['code'])).join(', ')} once over ${Math.round((Date.now() - brokeAt) / 500)} heartbeats\n`);
      expect(broken.length).toBe(1);
      expect(broken[0]).toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) as string });
      // The daemon kept probing and judging: rows keep coming, the failover happened (it is in the database).
      expect(db.probeCount()).toBeGreaterThan(rowsAtBreak + 5);
      expect(db.db.prepare("SELECT count(*) AS n FROM transitions WHERE node = 'primary' AND to_status = 'down' AND at >= ?").get(brokeAt)).toEqual({ n: 1 });
      // The previous document is exactly as it was, and still valid.
      expect(readFileSync(join(away, 'state.json'), 'utf8')).toBe(kept);
      expect(parseState(kept).ok).toBe(true);

      unlinkSync(pub);
      renameSync(away, pub);
      const restoredAt = Date.now();
      const fresh = await waitForState(stack.stateFile, (s) => Date.parse(s.updatedAt) >= restoredAt && s.preferred.name === 'fallback', 5_000);
      expect(fresh.nodes[0]?.lastError?.reason).toBe('refused');
      await waitFor('the recovery log line', () => (daemon.output().includes('state file writable again') ? true : undefined), 2_000);
      expect(readdirSync(pub).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(logLines(daemon.output()).filter((l) => l.msg.includes('could not write the state file')).length).toBe(1);
    } finally {
      db.close();
    }
    expect(await daemon.stop()).toBe(0);
  });

  const mountable = canMountTmpfs();
  (mountable ? test : test.skip)('disk full (ENOSPC on a 64 KiB tmpfs): logged once, previous file intact, written again when space returns', async () => {
    stack = await startStack('sentinel-faults-enospc-', { stateFile: 'pub/state.json' });
    const pub = join(stack.dir, 'pub');
    mkdirSync(pub);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', pub], { stdio: 'ignore' });
    mounted = pub;
    const daemon = await stack.startHealthy();
    await sleep(600);
    const filler = join(pub, 'filler');
    fillUp(filler);
    const fullAt = Date.now();
    // What the daemon had written last before the disk filled (a write may have been in flight: wait one).
    await sleep(100);
    const kept = readFileSync(stack.stateFile, 'utf8');
    await stack.primary.setFault('refuse');
    await sleep(2500);
    const broken = logLines(daemon.output()).filter((l) => l.msg.includes('could not write the state file'));
    expect(broken.map((l) => l.code)).toEqual(['ENOSPC']);
    // The previous file is untouched (the failed write went to a temp file, which was removed) and valid.
    expect(readFileSync(stack.stateFile, 'utf8')).toBe(kept);
    expect(parseState(kept).ok).toBe(true);
    expect(readdirSync(pub).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(Date.parse(JSON.parse(kept).updatedAt as string)).toBeLessThan(fullAt + 100);

    unlinkSync(filler);
    const freedAt = Date.now();
    const fresh = await waitForState(stack.stateFile, (s) => Date.parse(s.updatedAt) >= freedAt && s.preferred.name === 'fallback', 5_000);
    expect(fresh.nodes[0]?.status).toBe('down');
    await waitFor('the recovery log line', () => (daemon.output().includes('state file writable again') ? true : undefined), 2_000);
    expect(await daemon.stop()).toBe(0);
  });
});

describe('database locked by another process', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  /** Holds a write lock (BEGIN EXCLUSIVE) from this process for `ms`, while the event loop keeps running. */
  async function holdLock(dbFile: string, ms: number): Promise<{ from: number; to: number }> {
    const locker = new Database(dbFile);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const from = Date.now();
      await sleep(ms);
      locker.exec('COMMIT');
      return { from, to: Date.now() };
    } finally {
      locker.close();
    }
  }

  test('a 3 s and a 7 s exclusive lock: probing and publishing carry on, failed writes are queued and land after it', async () => {
    stack = await startStack('sentinel-faults-dblock-');
    const daemon = await stack.startHealthy();
    const watcher = new Watcher(stack.stateFile, daemon.child.pid as number, 20);
    const db = new DbView(stack.dbFile);
    const updates = (from: number, to: number) => [...new Set(watcher.statesBetween(from, to).map((s) => Date.parse(s.state.updatedAt)))];
    /** Longest time the published document went without being rewritten, over [from, to]. */
    const publicationStall = (from: number, to: number) => {
      const u = updates(from - 1000, to);
      let gap = 0;
      for (let i = 1; i < u.length; i++) if ((u[i] as number) >= from) gap = Math.max(gap, (u[i] as number) - (u[i - 1] as number));
      return gap;
    };
    const results: string[] = [];
    try {
      await sleep(1500);
      const normalStall = publicationStall(Date.now() - 1500, Date.now());

      for (const holdMs of (process.env.FAULTS_LOCKS ?? '3000,7000').split(',').map(Number)) {
        const rowsBefore = db.probeCount();
        const errorsBefore = busyErrors(daemon.output()).length;
        const lock = await holdLock(stack.dbFile, holdMs);
        // After the release, rows resume and the state file is rewritten within a heartbeat or two.
        await waitFor('new probe rows after the lock', () => (db.probeCount() > rowsBefore + 2 ? true : undefined), 5_000);
        await waitFor('a state write after the lock', () => (updates(lock.to, Date.now()).some((t) => t > lock.to) ? true : undefined), 3_000);
        await sleep(1000);
        const stall = publicationStall(lock.from, Date.now());
        const failed = busyErrors(daemon.output()).slice(errorsBefore);
        const failedWrites = failed.length;
        const rows = db.probesAfter(0).filter((r) => r.started_at >= lock.from - 500);
        const falseFailures = rows.filter((r) => r.ok === 0);
        results.push(
          `${holdMs / 1000} s lock: publication stalled ${stall} ms (normally ≤ ${normalStall} ms), ${failedWrites} writes failed and were logged${failedWrites ? ` (${[...new Set(failed.map((l) => l.msg))].join('; ')})` : ''}, ` +
            `${falseFailures.length} false probe failures${falseFailures.length ? ` (${falseFailures.map((r) => `${r.node}/${r.kind} ${r.reason}`).join(', ')})` : ''}`,
        );

        expect(daemon.child.exitCode).toBeNull();
        // The daemon waits at most 250 ms for a lock (busy_timeout), then queues the write and retries it:
        // a held lock is logged (once per episode) and nothing written meanwhile is lost.
        expect(failedWrites).toBeGreaterThan(0);
        const duringLock = rows.filter((r) => r.started_at >= lock.from + 500 && r.started_at <= lock.to - 500);
        expect(duringLock.length).toBeGreaterThan(0);
        // Publication goes on during the lock: the main thread never waits more than one short busy timeout.
        expect(stall).toBeLessThanOrEqual(normalStall + 1500);
        // A probe in flight when the main thread blocks has its deadline fire before its (already arrived)
        // answer is read, so it may be failed as `timeout` (reported above; docs/faults.md). One such
        // failure must never flip a healthy node: no transition is recorded for the lock's period.
        expect(db.db.prepare('SELECT node, from_status, to_status, reason FROM transitions WHERE at >= ?').all(lock.from - 500)).toEqual([]);
        expect(falseFailures.every((r) => r.reason === 'timeout')).toBe(true);
      }
      expect(readState(stack.stateFile)?.nodes.map((n) => n.status)).toEqual(['up', 'up']);
    } finally {
      watcher.stop();
      db.close();
      process.stdout.write(`database lock:\n  ${results.join('\n  ')}\n`);
    }
    expect(await daemon.stop()).toBe(0);
  });
});
