import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Reason } from '../../src/probes/types';
import type { Fault, FaultOptions, Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';
import { DbView, maxGap, maxGapIn, rssMiB, Watcher, type ProbeRow } from './support';
import { waitFor } from '../helpers/wait';

/*
 * One real daemon (child process) against two simulators. Each fault is injected on the primary mid-run,
 * held until the daemon has classified it a few times, then cleared and the recovery awaited. Meanwhile a
 * watcher reads the state file and the daemon's RSS every 50 ms, so every fault window can be checked for
 * (a) the documented reason, (b) bounded memory, (c) an undisturbed fallback.
 */

jest.setTimeout(30_000);

// The cadence writeFastConfig sets: liveness every 500 ms with a 400 ms deadline, canary every 2 s / 1.5 s.
const LIVENESS_INTERVAL = 500;
const LIVENESS_TIMEOUT = 400;
const HEARTBEAT = 500;
/** "Probing of the other node is never delayed": no gap between its probes beyond 2× interval + timeout. */
const FALLBACK_GAP_BOUND = 2 * LIVENESS_INTERVAL + LIVENESS_TIMEOUT;
/** The state file is rewritten on every heartbeat; what it shows may lag the last probe by one heartbeat. */
const FALLBACK_STALE_BOUND = FALLBACK_GAP_BOUND + HEARTBEAT;
const RSS_CEILING_MIB = 200;
/*
 * Reading 1 MiB (maxResponseBytes) per probe several times a second makes V8 grow its young generation and
 * malloc keep freed buffers: measured +45..57 MiB at the peak, flat after that (100-115 MiB over a minute of
 * huge_body). A probe that read the whole 50 MB body would add 50-150 MiB at once, so 80 still catches it.
 */
const RSS_GROWTH_MIB = 80;

interface FaultCase {
  fault: Fault;
  label: string;
  opts?: FaultOptions;
  /** The documented reason (docs/reasons.md, docs/simulator.md) per probe kind that the fault reaches. */
  expect: Partial<Record<'liveness' | 'canary', Reason>>;
  /** How many classified failures per kind to wait for before clearing (longer holds for memory faults). */
  hold?: number;
  /** Generation-only faults: liveness must stay clean throughout. */
  livenessClean?: boolean;
  memory?: boolean;
}

const CASES: FaultCase[] = [
  { fault: 'refuse', label: 'refused', expect: { liveness: 'refused', canary: 'refused' } },
  { fault: 'hang', label: 'hang after accept', expect: { liveness: 'timeout', canary: 'timeout' } },
  { fault: 'stall_mid_stream', label: 'stall mid-stream', expect: { liveness: 'timeout', canary: 'timeout' } },
  { fault: 'slowloris', label: 'slowloris (1 byte/s)', expect: { liveness: 'timeout', canary: 'timeout' } },
  { fault: 'endless_stream', label: 'endless stream', expect: { canary: 'timeout' }, livenessClean: true, hold: 3, memory: true },
  { fault: 'huge_body', label: 'huge body (50 MB)', expect: { liveness: 'too_large', canary: 'too_large' }, hold: 8, memory: true },
  { fault: 'html_200', label: 'HTML 200', expect: { liveness: 'not_ollama', canary: 'not_ollama' } },
  { fault: 'redirect_loop', label: 'redirect loop', expect: { liveness: 'bad_response', canary: 'bad_response' } },
  { fault: 'bad_json', label: 'garbage JSON', expect: { liveness: 'bad_response', canary: 'bad_response' } },
  { fault: 'truncated_json', label: 'truncated JSON', expect: { liveness: 'bad_response', canary: 'stream_error' } },
  { fault: 'invalid_utf8', label: 'invalid UTF-8', expect: { canary: 'bad_response' }, livenessClean: true },
  { fault: 'mid_stream_error', label: 'mid-stream error line', expect: { canary: 'stream_error' }, livenessClean: true },
  { fault: 'cf_tunnel_down', label: 'Cloudflare 530/1033', expect: { liveness: 'cloudflare_tunnel_down', canary: 'cloudflare_tunnel_down' } },
  { fault: 'cf_origin_unreachable', label: 'Cloudflare 502', expect: { liveness: 'cloudflare_origin_unreachable', canary: 'cloudflare_origin_unreachable' } },
  { fault: 'cf_timeout', label: 'Cloudflare 524', expect: { liveness: 'cloudflare_timeout', canary: 'cloudflare_timeout' } },
  { fault: 'access_redirect', label: 'Access redirect', expect: { liveness: 'auth_required', canary: 'auth_required' } },
  { fault: 'busy', label: '503 busy', expect: { liveness: 'overloaded', canary: 'overloaded' } },
  { fault: 'model_missing', label: 'model missing', expect: { liveness: 'model_missing', canary: 'model_missing' } },
];

/** What each fault window measured; printed at the end for docs/faults.md. */
interface Measured {
  label: string;
  reasons: string;
  rssBefore: number;
  rssMax: number;
  fallbackMaxGapMs: number;
  fallbackMaxStaleMs: number;
  windowMs: number;
}

describe('node faults against the real daemon', () => {
  let nodes: TwoNodes | undefined;
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let daemon: DaemonProcess;
  let stateFile: string;
  let db: DbView;
  let watcher: Watcher;
  let runStart = 0;
  const measured: Measured[] = [];

  beforeAll(async () => {
    nodes = await startTwoNodes('sentinel-faults-node-');
    ({ dir, primary, fallback } = nodes);
    const config = writeFastConfig(dir, primary.url, fallback.url);
    stateFile = join(dir, 'state.json');
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 15_000);
    db = new DbView(join(dir, 'sentinel.db'));
    // Memory is read from /proc (Linux); elsewhere the memory checks would pass without measuring anything.
    if (rssMiB(daemon.child.pid as number) === undefined) throw new Error('cannot read /proc/<pid>/status: the fault suite needs Linux');
    watcher = new Watcher(stateFile, daemon.child.pid as number);
    // Let memory settle after start-up (module loading, first probes) before the first baseline.
    await new Promise((r) => setTimeout(r, 1000));
    runStart = Date.now();
  });

  afterAll(async () => {
    watcher?.stop();
    db?.close();
    await daemon?.kill9();
    await nodes?.close();
    if (measured.length > 0) {
      const rows = measured.map((m) => `${m.label.padEnd(24)} ${m.reasons.padEnd(58)} rss ${m.rssBefore.toFixed(0)}→${m.rssMax.toFixed(0)} MiB  fallback gap ${m.fallbackMaxGapMs} ms, stale ${m.fallbackMaxStaleMs} ms  (${(m.windowMs / 1000).toFixed(1)} s)`);
      process.stdout.write(`\nnode faults:\n${rows.join('\n')}\n`);
    }
  });

  test.each(CASES)('$label', async (c) => {
    const kinds = Object.keys(c.expect) as Array<'liveness' | 'canary'>;
    const hold = c.hold ?? 2;
    const marker = db.maxProbeId();
    const injectAt = Date.now();
    const rssBefore = watcher.rssAt(injectAt) ?? 0;
    await primary.setFault(c.fault, c.opts);
    // Probes already in flight when the fault took effect can end another way (a pooled connection cut by
    // 'refuse' is a reset): judge only the probes that started under the fault.
    const inEffectAt = Date.now();

    const failures = (rows: ProbeRow[], kind: string) => rows.filter((r) => r.kind === kind && r.ok === 0);
    await waitFor(
      `${hold} classified ${kinds.join('+')} failures of the primary`,
      () => {
        const rows = db.probesAfter(marker, 'primary');
        return kinds.every((k) => failures(rows, k).length >= hold) ? true : undefined;
      },
      20_000,
    );
    const clearAt = Date.now();
    const during = db.probesAfter(marker, 'primary').filter((r) => r.started_at >= inEffectAt);
    await primary.setFault('none');
    await waitFor(
      'the primary to pass its probes again',
      () => {
        const rows = db.probesAfter(marker, 'primary');
        return kinds.every((k) => rows.some((r) => r.kind === k && r.ok === 1 && r.started_at >= clearAt)) ? true : undefined;
      },
      10_000,
    );
    const endAt = Date.now();

    // (a) Every failure the fault caused carries the documented reason, for each kind it reaches.
    for (const k of kinds) {
      expect({ kind: k, reasons: [...new Set(failures(during, k).map((r) => r.reason))] }).toEqual({ kind: k, reasons: [c.expect[k]] });
    }
    if (c.livenessClean) expect(failures(during, 'liveness')).toEqual([]);

    // (b) Memory stays bounded while the fault is on and while the daemon recovers.
    const rssMax = watcher.maxRss(injectAt, endAt);
    expect(rssMax).toBeLessThan(RSS_CEILING_MIB);
    if (c.memory) expect(rssMax - rssBefore).toBeLessThan(RSS_GROWTH_MIB);

    // (c) The fallback is probed at its own cadence throughout: exact start times from its rows, and what the
    // state file showed at every read (lastCheckAt = the start of its latest probe of any kind).
    const fallbackStarts = db
      .probesAfter(0, 'fallback')
      .filter((r) => r.kind === 'liveness')
      .map((r) => r.started_at);
    expect(fallbackStarts.filter((t) => t >= injectAt && t <= endAt).length).toBeGreaterThanOrEqual(1);
    const gap = maxGapIn(fallbackStarts, injectAt, endAt);
    expect(gap).toBeLessThanOrEqual(FALLBACK_GAP_BOUND);
    const seen = watcher.statesBetween(injectAt, endAt);
    expect(seen.length).toBeGreaterThan(0);
    const stale = Math.max(...seen.map((s) => s.at - Date.parse(s.state.nodes.find((n) => n.name === 'fallback')?.lastCheckAt ?? '0')));
    expect(stale).toBeLessThanOrEqual(FALLBACK_STALE_BOUND);
    expect(seen.every((s) => statusOf(s.state, 'fallback') === 'up')).toBe(true);

    measured.push({
      label: c.label,
      reasons: kinds.map((k) => `${k}=${c.expect[k]}×${failures(during, k).length}`).join(' '),
      rssBefore,
      rssMax,
      fallbackMaxGapMs: Math.round(gap),
      fallbackMaxStaleMs: Math.round(stale),
      windowMs: endAt - injectAt,
    });
  });

  test('over the whole run: the fallback never failed, never waited, and the daemon stayed small', async () => {
    const endAt = Date.now();
    const rows = db.probesAfter(0, 'fallback').filter((r) => r.started_at >= runStart);
    expect(rows.filter((r) => r.ok === 0)).toEqual([]);
    const starts = rows.filter((r) => r.kind === 'liveness').map((r) => r.started_at);
    expect(starts.length).toBeGreaterThan(((endAt - runStart) / LIVENESS_INTERVAL) * 0.8);
    expect(maxGapIn(starts, runStart, endAt)).toBeLessThanOrEqual(FALLBACK_GAP_BOUND);
    expect(watcher.maxRss()).toBeLessThan(RSS_CEILING_MIB);
    process.stdout.write(`whole run: ${starts.length} fallback liveness probes in ${((endAt - runStart) / 1000).toFixed(0)} s, max gap ${maxGap(starts)} ms, daemon RSS max ${watcher.maxRss().toFixed(0)} MiB\n`);
    // And the daemon still stops cleanly after all that.
    expect(await daemon.stop()).toBe(0);
  });
});
