import { judgeBusySignal, NO_SIGNAL, type BusyReading } from '../core/busy-signal';
import { WAITED_MS } from '../core/busy';
import type { Flavor } from '../core/flavor';
import { request } from '../undici';
import type { ProbeRun } from './http';
import { decodeUtf8 } from './stream';

/**
 * Reads a llama.cpp or vLLM node's busy signal beside the canary (core/busy-signal.ts has the shapes and the
 * judgement): on llama.cpp `GET /slots` just before the canary is sent, else `GET /metrics` while it waits; on
 * vLLM `GET /metrics` while it waits (WAITED_MS after it was sent: a canary still without its first token then is
 * waiting or slow). Each GET is bounded by
 * BUSY_READ_MS and the canary's own deadline, bodies by BUSY_READ_BYTES, and it never fails the probe: any error,
 * non-2xx status or malformed body is simply no signal. Its time is not in the canary's timings.
 */
export const BUSY_READ_MS = 1_000;
const BUSY_READ_BYTES = 256 * 1024;

export const hasBusySignal = (flavor: Flavor): boolean => flavor === 'llamacpp' || flavor === 'vllm';

async function get(run: ProbeRun, path: string): Promise<string | undefined> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), BUSY_READ_MS);
  const onDeadline = (): void => ctl.abort();
  run.deadline.signal.addEventListener('abort', onDeadline, { once: true });
  const headers: Record<string, string> = { accept: path === '/metrics' ? 'text/plain' : 'application/json', 'user-agent': 'llm-sentinel (health probe)' };
  for (const [name, value] of Object.entries(run.node.headers)) headers[name.toLowerCase()] = value.reveal();
  try {
    if (run.deadline.signal.aborted) return undefined;
    const res = await request(`${run.node.url}${path}`, { dispatcher: run.dispatcher, method: 'GET', headers, signal: ctl.signal });
    res.body.on('error', () => undefined);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      res.body.destroy();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > BUSY_READ_BYTES) {
        res.body.destroy();
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    return decodeUtf8(Buffer.concat(chunks));
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    run.deadline.signal.removeEventListener('abort', onDeadline);
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Waits `ms` or until `done` resolves or the canary's deadline fires, whichever is first. */
function pause(run: ProbeRun, ms: number, done: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      run.deadline.signal.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    run.deadline.signal.addEventListener('abort', finish, { once: true });
    void done.then(finish);
  });
}

/**
 * llama.cpp's `GET /slots`, read just BEFORE the canary is sent: during the canary its own slot would show as
 * processing too, so only a reading taken before it can say every slot was taken by others (the canary then
 * waits). NO_SIGNAL when /slots is off (501 with --no-slots), malformed, or not llama.cpp.
 */
export async function readSlotsBefore(run: ProbeRun, flavor: Flavor): Promise<BusyReading> {
  if (flavor !== 'llamacpp') return NO_SIGNAL;
  return judgeBusySignal({ flavor, slots: parseJson(await get(run, '/slots')), beforeFirstToken: true });
}

/**
 * `GET /metrics` for a canary just sent: WAITED_MS later, or at once when its stream is over (`ended`), so the
 * probe is not held longer. `waiting()` says whether the canary still has no first token; it is asked once the
 * server answered (still none then means none at the reading either). A deferred / waiting request while the
 * canary has no first token is the canary queued (core/busy-signal).
 */
export async function readMetricsBeside(run: ProbeRun, flavor: Flavor, waiting: () => boolean, ended: Promise<void>): Promise<BusyReading> {
  if (!hasBusySignal(flavor)) return NO_SIGNAL;
  await pause(run, WAITED_MS, ended);
  if (run.deadline.signal.aborted) return NO_SIGNAL;
  const metrics = await get(run, '/metrics');
  return judgeBusySignal({ flavor, metrics, beforeFirstToken: waiting() });
}
