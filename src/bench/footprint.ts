import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState } from '../demo/harness';
import { startSimulator } from '../simulator';

export interface Footprint {
  seconds: number;
  /** VmHWM (peak resident set) over the whole run, MB. */
  peakMb: number;
  /** VmHWM 15 s after start: the start-up peak. */
  startPeakMb: number;
  /** VmRSS at the end of the run, MB. */
  endRssMb: number;
  /** Mean VmRSS over the last quarter of the run, MB. */
  steadyRssMb: number;
  /** CPU over the run after start-up, % of one core. */
  cpuPercent: number;
}

const kb = (status: string, key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;

/**
 * The real daemon process (dist/cli.js run) at the default cadence, two simulated nodes, no HTTP server:
 * peak and steady memory from /proc/<pid>/status, CPU from /proc/<pid>/stat. `seconds` counts from the
 * first state file; the steady figure is RSS after 10 minutes (BENCH_FOOTPRINT_SECONDS=600).
 */
export async function footprint(seconds: number, extraConfig = ''): Promise<Footprint> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-footprint-'));
  const primary = await startSimulator();
  const fallback = await startSimulator();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `nodes:\n  - { name: primary, url: "${primary.url}", model: llama3.2 }\n  - { name: fallback, url: "${fallback.url}", model: llama3.2 }\nstateFile: state.json\ndatabase: sentinel.db\nlog: { level: warn }\n${extraConfig}`);
  const daemon = spawnDaemon(['run', '--config', config]);
  const pid = daemon.child.pid as number;
  const status = () => readFileSync(`/proc/${pid}/status`, 'utf8');
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(f[11]) + Number(f[12]);
  };
  try {
    await waitForState(join(dir, 'state.json'), (s) => statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 60_000);
    const t0 = performance.now();
    const c0 = ticks();
    let startPeakMb = 0;
    const rss: Array<[number, number]> = [];
    while (performance.now() - t0 < seconds * 1000) {
      const st = status();
      const at = (performance.now() - t0) / 1000;
      if (at <= 15) startPeakMb = kb(st, 'VmHWM');
      rss.push([at, kb(st, 'VmRSS')]);
      await new Promise((r) => setTimeout(r, 1000));
    }
    // /proc times are in clock ticks (100 per second on Linux).
    const cpuPercent = ((ticks() - c0) / 100 / ((performance.now() - t0) / 1000)) * 100;
    const st = status();
    const tail = rss.filter(([at]) => at >= seconds * 0.75).map(([, v]) => v);
    return {
      seconds,
      peakMb: kb(st, 'VmHWM'),
      startPeakMb,
      endRssMb: kb(st, 'VmRSS'),
      steadyRssMb: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
      cpuPercent,
    };
  } finally {
    await daemon.stop();
    await primary.close();
    await fallback.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
