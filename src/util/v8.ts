import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the long-running daemon, applied before its modules load (cli.ts, `run` only).
 *
 * `--liftoff-only`: undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with its
 * baseline compiler (Liftoff), then re-optimises it in the background (TurboFan), and that tier-up briefly
 * costs about 35 MB of resident memory: it was most of the daemon's start-up peak (VmHWM 125 MB). A monitor
 * parses a few small responses per second at most, where the optimised code saves nothing measurable.
 *
 * `--max-semi-space-size=1` (MB): the young generation otherwise grows to 8-16 MB per semi-space after the
 * start-up burst of allocations and stays committed (about 10 MB resident for nothing: the daemon's steady
 * allocation rate is a few KB per probe). Scavenges of a 1 MB space take well under a millisecond.
 */
export function lightDaemonV8(): void {
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--max-semi-space-size=1');
}
