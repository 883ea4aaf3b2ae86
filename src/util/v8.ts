import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8 settings for the long-running daemon, applied before its modules load (cli.ts, `run` only). The daemon
 * is idle more than 99 % of the time: V8's defaults trade memory for a throughput it never needs. Measured
 * with `npm run bench -- footprint` (issue 13; the README's table has the figures).
 *
 * - `--liftoff-only`: undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with its
 *   baseline compiler (Liftoff), then re-optimises it in the background (TurboFan), and that tier-up briefly
 *   costs about 35 MB of resident memory: it was most of the daemon's start-up peak (VmHWM 125 MB).
 * - `--no-opt`: the same for JavaScript. The daemon's hot paths run a few times a second at most; the
 *   interpreter and the baseline compiler serve them, and the optimising compiler's code (about 1.5 MB of
 *   the node binary) is never paged in.
 * - `--optimize-for-size`: V8 grows its heap in smaller steps and collects sooner (peak 86 → 77 MB alone).
 *
 * These are the flags V8 accepts once running. `--optimize-for-size` is refused in NODE_OPTIONS, and heap
 * layout flags (`--max-semi-space-size`) only work on the command line, which the daemon does not control.
 */
export function lightDaemonV8(): void {
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-opt');
  setFlagsFromString('--optimize-for-size');
}

/**
 * A full garbage collection every `everyMs`, on an unref'd timer. Between collections V8 lets garbage
 * accumulate while the heap is below its limit: in a process that allocates a little every few seconds,
 * that was about 0.8 MB of resident memory a minute until the next major GC (77 MB after 10 minutes). A
 * full collection of the daemon's ~15 MB heap takes about 10 ms (0.02 % of a core once a minute). Returns a
 * stop function.
 *
 * `gc` is exposed by setting `--expose-gc` at run time and taking it from a fresh context: the flag only
 * installs `gc` in contexts created after it is set.
 */
export function collectGarbageEvery(everyMs: number): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const timer = setInterval(gc, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
