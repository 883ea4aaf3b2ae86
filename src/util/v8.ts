import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the long-running daemon, applied before its modules load (cli.ts, `run` only).
 *
 * `--liftoff-only`: undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with its
 * baseline compiler (Liftoff), then re-optimises it in the background (TurboFan), and that tier-up briefly
 * costs about 35 MB of resident memory: it was most of the daemon's start-up peak (VmHWM 125 MB). A monitor
 * parses a few small responses per second at most, where the optimised code saves nothing measurable.
 */
export function lightDaemonV8(): void {
  setFlagsFromString('--liftoff-only');
}
