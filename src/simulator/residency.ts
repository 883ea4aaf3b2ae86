/**
 * Model memory for the simulator: a capacity in bytes and Ollama's scheduler rule when a model does not fit
 * beside the loaded ones (server/sched.go, findRunnerToUnload): unload an idle runner, and when every runner
 * is busy wait for one to finish. Which idle runner goes first: the least recently used one (the rule the
 * issue and Ollama's FAQ describe; Ollama's source sorts by keep_alive then name, which for runners with the
 * same keep_alive is close to it). A model larger than the whole memory still loads once it is alone (Ollama
 * would spill it to the CPU).
 *
 * Pure: the registry (models.ts) asks which runners to drop, and drops them.
 */
export interface Resident {
  name: string;
  size: number;
  /** Requests in flight on it. */
  refs: number;
  /** Epoch ms of its last use (a request started or ended). */
  lastUsed: number;
}

export type Room = { ok: true; evict: string[] } | { ok: false; wait: true };

/** What must go so `size` bytes fit beside `resident` within `capacity` (undefined: unlimited memory). */
export function makeRoom(resident: readonly Resident[], size: number, capacity: number | undefined): Room {
  if (capacity === undefined) return { ok: true, evict: [] };
  let used = resident.reduce((sum, r) => sum + r.size, 0);
  if (used + size <= capacity) return { ok: true, evict: [] };
  const idle = resident.filter((r) => r.refs === 0).sort((a, b) => a.lastUsed - b.lastUsed || a.name.localeCompare(b.name));
  const evict: string[] = [];
  for (const r of idle) {
    evict.push(r.name);
    used -= r.size;
    if (used + size <= capacity) return { ok: true, evict };
  }
  // Still too big: fine once nothing else is loaded; otherwise wait for a busy runner to finish.
  return evict.length === resident.length ? { ok: true, evict } : { ok: false, wait: true };
}

/** Parses "4g", "3.5GB", "800m", "2000000000" (bytes) for --memory / --model-size. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return undefined;
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.round(Number(m[1]) * scale);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
