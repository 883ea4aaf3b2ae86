import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { statusOf, waitForState } from '../../src/demo/harness';
import { startStack, type Stack } from '../helpers/stack';
import { emailAlertsYaml, startSmtp, type SmtpFixture } from '../helpers/smtp';
import { sleep, waitFor } from '../helpers/wait';

/*
 * kill -9 between the DOWN row and the state file (issue 20): the transition and the alert policy's open outage
 * are committed in one SQLite transaction, and the state file is rewritten only after it. A daemon killed in
 * between restarts beside a state file that still says the node is up. It must resume from the database (the
 * node down, its outage open): no RECOVERED for an outage that never ended, and the real one later, once.
 *
 * The window between the commit and the rename is a few milliseconds, too short to hit by timing: the test
 * kills the daemon as soon as the DOWN row is visible from another connection, then puts back the state file
 * it had published before the outage, which is exactly what a kill inside the window leaves on disk.
 */

jest.setTimeout(60_000);

const PASSWORD = 'kill-after-down';

/** The kinds of the alerts the daemon decided for `node`, in order (a read-only second connection). */
function alertKinds(dbFile: string, node: string): string[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT kind FROM alerts WHERE node = ? ORDER BY id').all(node) as Array<{ kind: string }>).map((r) => r.kind);
  } finally {
    db.close();
  }
}

function downRecorded(dbFile: string): boolean {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT 1 FROM transitions WHERE node = 'primary' AND to_status = 'down'").get() !== undefined;
  } finally {
    db.close();
  }
}

describe('kill -9 right after the DOWN row', () => {
  let stack: Stack | undefined;
  let sink: SmtpFixture | undefined;
  afterEach(async () => {
    await stack?.close();
    await sink?.close();
  });

  test('the restart resumes the outage from SQLite: no spurious RECOVERED, none lost', async () => {
    sink = await startSmtp({ user: 'sentinel', password: PASSWORD });
    stack = await startStack('sentinel-kill-after-down-', { extraYaml: emailAlertsYaml(sink.port, PASSWORD) });
    const first = await stack.startHealthy();
    // The state file as it stands before the outage: primary up.
    const upDocument = readFileSync(stack.stateFile, 'utf8');
    expect(statusOf(JSON.parse(upDocument), 'primary')).toBe('up');

    await stack.primary.setFault('refuse');
    const db = stack.dbFile;
    await waitFor('the DOWN row committed', () => downRecorded(db), 15_000, 10);
    await first.kill9();
    // What a kill between the commit and the state file's rename leaves: the row, and the file from before.
    writeFileSync(stack.stateFile, upDocument);
    expect(alertKinds(db, 'primary')).toEqual(['primaryDown']);

    const second = stack.spawn();
    const pid = second.child.pid;
    const resumed = await waitForState(stack.stateFile, (s) => s.monitor.pid === pid, 15_000);
    // Resumed down at once (from the row), not up from the stale file.
    expect(statusOf(resumed, 'primary')).toBe('down');
    expect(resumed.preferred.name).toBe('fallback');
    // The DOWN mail goes out (from either run); give the restarted daemon's heartbeat (500 ms) several ticks.
    await waitFor('the DOWN mail', () => sink!.mails.some((m) => m.headers.get('x-llm-sentinel-kind') === 'primaryDown'), 15_000);
    await sleep(2_500);
    expect(alertKinds(db, 'primary')).toEqual(['primaryDown']);
    expect(sink.mails.filter((m) => m.headers.get('x-llm-sentinel-kind') === 'recovered')).toEqual([]);

    // The outage's real end is decided and mailed once, in the DOWN mail's thread.
    await stack.primary.setFault('none');
    await waitFor('the RECOVERED mail', () => sink!.mails.some((m) => m.headers.get('x-llm-sentinel-kind') === 'recovered'), 20_000);
    expect(alertKinds(db, 'primary')).toEqual(['primaryDown', 'recovered']);
    const down = sink.mails.find((m) => m.headers.get('x-llm-sentinel-kind') === 'primaryDown');
    const recovered = sink.mails.filter((m) => m.headers.get('x-llm-sentinel-kind') === 'recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.messageId.replace(/^<recovered\./, '')).toBe(down?.messageId.replace(/^<outage\./, ''));
    expect(await second.stop()).toBe(0);
  });
});
