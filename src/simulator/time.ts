import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits `ms`, or less if `signal` aborts. Never rejects: callers check `signal.aborted` afterwards. The timer is
 * cancelled on abort, so a closed simulator leaves no pending handles.
 */
export async function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // AbortError: the request or the simulator went away.
  }
}

/** Monotonic nanoseconds, for the duration metrics Ollama reports. */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function nsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

function trimFraction(ms: number): string {
  // Go's RFC3339Nano drops trailing zeros of the fraction, and the dot too when nothing is left.
  const frac = String(ms).padStart(3, '0').replace(/0+$/, '');
  return frac ? `.${frac}` : '';
}

/** `created_at`: RFC 3339 in UTC, like Go's time.Now().UTC() marshalled to JSON. */
export function rfc3339Utc(epochMs: number): string {
  const d = new Date(epochMs);
  return `${d.toISOString().slice(0, 19)}${trimFraction(d.getUTCMilliseconds())}Z`;
}

/** `modified_at` / `expires_at`: RFC 3339 with the local offset (Go prints "Z" for a zero offset). */
export function rfc3339Local(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const date = `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const offMin = -d.getTimezoneOffset();
  const sign = offMin < 0 ? '-' : '+';
  const abs = Math.abs(offMin);
  const zone = offMin === 0 ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return `${date}T${time}${trimFraction(d.getMilliseconds())}${zone}`;
}
