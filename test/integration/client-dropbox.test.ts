import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createSentinelClient, writeReportFile } from '../../src/client';
import { DEFAULT_DROP_MODE, watchReportDir, type ReportDirWatcher } from '../../src/intake/dropbox';
import type { AcceptedReport } from '../../src/intake/intake';
import { captureLogger } from '../helpers/log';
import { waitFor } from '../helpers/wait';
import { tempDir } from '../helpers/state';

const nodeNames = ['primary', 'fallback'];
let tmp: ReturnType<typeof tempDir>;
let dir: string;
let watcher: ReportDirWatcher | undefined;
beforeEach(() => {
  tmp = tempDir('sentinel-drop-');
  dir = join(tmp.dir, 'reports');
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  tmp.remove();
});

function start(extra: { reportsPerMinute?: number; pollMs?: number; maxAgeMs?: number } = {}) {
  const reports: AcceptedReport[] = [];
  const cap = captureLogger('debug');
  watcher = watchReportDir(dir, { nodeNames, logger: cap.logger, onReport: (r) => reports.push(r), pollMs: extra.pollMs ?? 100, ...extra });
  return { reports, lines: cap.lines };
}

const reportName = (ms = Date.now(), rand = 'abcdef01') => `${ms}-${process.pid}-${rand}.json`;

describe('report drop folder', () => {
  test('created with mode 1733 when missing; a path that is not a folder is refused', async () => {
    start();
    await watcher?.ready;
    expect(statSync(dir).mode & 0o7777).toBe(DEFAULT_DROP_MODE);
    await watcher?.close();
    watcher = undefined;
    const file = join(tmp.dir, 'file');
    writeFileSync(file, '');
    expect(() => watchReportDir(file, { nodeNames, logger: captureLogger().logger, onReport: () => undefined })).toThrow(/not a directory/);
  });

  test('reports written while the daemon was stopped are picked up at start and deleted', async () => {
    mkdirSync(dir);
    await writeReportFile(dir, { node: 'primary', reason: 'timeout', detail: 'no headers within 15000ms' });
    await writeReportFile(dir, { node: 'fallback', reason: 'refused' });
    const { reports } = start();
    await watcher?.ready;
    expect(reports.map((r) => [r.node, r.reason, r.source]).sort()).toEqual([
      ['fallback', 'refused', 'dropbox'],
      ['primary', 'timeout', 'dropbox'],
    ]);
    expect(reports.find((r) => r.node === 'primary')?.detail).toBe('no headers within 15000ms');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a report written by the client while the daemon runs arrives through fs.watch', async () => {
    const { reports } = start({ pollMs: 60_000 });
    await watcher?.ready;
    const client = createSentinelClient({ nodes: [{ name: 'primary', url: 'http://127.0.0.1:9' }], reportDir: dir, env: {} });
    expect(await client.report({ node: 'primary', reason: 'cloudflare_tunnel_down' })).toEqual({ delivered: true, via: 'dropbox' });
    await waitFor('the report', () => reports.length === 1);
    expect(reports[0]).toEqual({ node: 'primary', reason: 'cloudflare_tunnel_down', source: 'dropbox' });
  });

  test('junk is deleted with a log line; a dot-temp file in progress is left alone', async () => {
    mkdirSync(dir);
    const outside = join(tmp.dir, 'outside.json');
    writeFileSync(outside, JSON.stringify({ node: 'primary', reason: 'planted' }));
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, reportName(Date.now(), '000001')), JSON.stringify({ node: 'primary', reason: 'timeout', detail: 'x'.repeat(5000) }));
    writeFileSync(join(dir, reportName(Date.now(), '000002')), '{"node":"mars","reason":"timeout"}');
    writeFileSync(join(dir, reportName(Date.now(), '000003')), 'not json');
    symlinkSync(outside, join(dir, reportName(Date.now(), '000004')));
    mkdirSync(join(dir, reportName(Date.now(), '000005')));
    const fifo = join(dir, reportName(Date.now(), '000006'));
    let haveFifo = true;
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      haveFifo = false;
    }
    const inProgress = `.${reportName()}.tmp`;
    writeFileSync(join(dir, inProgress), '{"node":"pri');
    const nonEmpty = join(dir, reportName(Date.now(), '000007'));
    mkdirSync(nonEmpty);
    writeFileSync(join(nonEmpty, 'x'), '');

    const { reports, lines } = start();
    await watcher?.ready;
    expect(reports).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([inProgress, basename(nonEmpty)].sort());
    // The symlink was removed, never followed: its target is intact.
    expect(existsSync(outside)).toBe(true);
    const logged = lines.join('\n');
    expect(logged).toContain('not <epochms>-<pid>-<hex>.json');
    expect(logged).toContain('larger than 4096 bytes');
    expect(logged).toContain('unknown node \\"mars\\"');
    expect(logged).toContain('symbolic link');
    expect(logged).toContain('not a regular file');
    if (haveFifo) expect(lines.filter((l) => l.includes('deleted junk') && l.includes('not a regular file'))).toHaveLength(2);
    // What cannot be deleted is reported once, not at every poll.
    await new Promise((r) => setTimeout(r, 350));
    expect(lines.filter((l) => l.includes('cannot delete junk'))).toHaveLength(1);
  });

  test('old reports are dropped; the rate limit applies per node as over HTTP', async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, reportName(Date.now() - 60 * 60_000, 'aaaa0001')), '{"node":"primary","reason":"timeout"}');
    for (let i = 0; i < 4; i++) await writeReportFile(dir, { node: 'primary', reason: `r${i}` });
    await writeReportFile(dir, { node: 'fallback', reason: 'refused' });
    const { reports } = start({ reportsPerMinute: 2 });
    await watcher?.ready;
    expect(reports.filter((r) => r.node === 'primary')).toHaveLength(2);
    expect(reports.filter((r) => r.node === 'fallback')).toHaveLength(1);
    expect(reports.some((r) => r.reason === 'timeout')).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('after close() nothing more is read', async () => {
    const { reports } = start();
    await watcher?.ready;
    await watcher?.close();
    watcher = undefined;
    const file = await writeReportFile(dir, { node: 'primary', reason: 'timeout' });
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(file)).toBe(true);
    expect(reports).toEqual([]);
  });
});
