/**
 * Do no harm: which model the canary uses and what keep-warm may load, so that no load the monitor sends
 * evicts a model apps are using. Pure: facts (what /api/ps and /api/tags said, what the monitor loaded) in,
 * decisions and events out; the clock is a number passed in. The rule is stated in docs/keep-warm.md and
 * tested as a step table in test/unit/residency.test.ts.
 *
 * Facts, and where they come from:
 * - resident models: /api/ps, each with `size` (bytes in memory, with its context) and `expires_at`;
 * - installed models and their file sizes: /api/tags;
 * - the apps' models: resident models the monitor did not load (a model the monitor loaded becomes an app's
 *   when its expires_at moves past what the monitor's own requests explain: someone else used it);
 * - evictions: a model resident at one look, gone at the next while its keep_alive had not run out. Whoever
 *   loaded the model that appeared in between (the monitor or an app) evicted it, and the two are then known
 *   not to fit together. Evictions are only ever observed this way, never inferred from sizes.
 * - room known to exist: the largest total size seen resident at once (only when every size is sane).
 */

export interface PsModel {
  name: string;
  /** Bytes in memory (/api/ps `size`), only when sane: a positive finite number below 1 PB. */
  bytes?: number;
  /** Epoch ms (/api/ps expires_at); undefined when the server did not say. */
  expiresAt?: number;
}

/** Why a model the monitor loads was not resident; only `cold` is a cold start of the node. */
export type LoadCause = 'first_load' | 'own_eviction' | 'app_switch' | 'cold';

/** What the monitor knows of one node's memory; starts empty with the monitor and again on a config reload. */
export interface Memory {
  /** The last look at /api/ps; undefined before the first one. */
  resident?: PsModel[];
  /** Models the monitor loaded and no app has used since → the expiry its own requests explain (epoch ms). */
  ours: Record<string, number>;
  /** Loads the monitor sent whose model no look has shown yet → when (epoch ms). */
  pending: Record<string, number>;
  /** Models seen resident since the monitor started, and why each one last left memory. */
  seen: Record<string, 'resident' | 'expired' | 'own_eviction' | 'app_switch' | 'unloaded'>;
  /** Pairs seen evicting each other: they do not fit together (until both are seen resident at once). */
  conflicts: Array<[string, string]>;
  /** Largest total of sane sizes seen resident at once: memory known to hold that much. */
  roomSeen: number;
  /** In-memory sizes seen in /api/ps, by model. */
  sizes: Record<string, number>;
}

export type MemoryEvent =
  | { type: 'eviction'; by: 'monitor' | 'app'; loaded: string; evicted: string[]; appModels: string[] }
  | { type: 'room_grew'; models: [string, string] };

/** A sane size or undefined: absurd sizes (0, negative, NaN, ≥ 1 PB, not a number) say nothing. */
export function saneBytes(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 1e15 ? v : undefined;
}

/** "llama3.2" and "llama3.2:latest" are one model (case-insensitive; a registry port is not a tag). */
export function modelKey(name: string): string {
  const n = name.trim().toLowerCase();
  return n.slice(n.lastIndexOf('/') + 1).includes(':') ? n : `${n}:latest`;
}

export function emptyMemory(): Memory {
  return { ours: {}, pending: {}, seen: {}, conflicts: [], roomSeen: 0, sizes: {} };
}

/** Slack for the expiry the monitor's own requests explain (a request's end vs the server's clock). */
const EXPIRY_SLACK_MS = 5_000;
/**
 * A load the monitor sent that no look has shown within this time did not happen (the request failed): its
 * claim is dropped, so that the model, if an app loads it later, is the app's. Ollama lists a model in /api/ps
 * from the moment its load starts, so this only needs to cover a load queued behind a busy runner.
 */
const CLAIM_GRACE_MS = 120_000;

const isConflict = (m: Memory, a: string, b: string): boolean => m.conflicts.some(([x, y]) => (x === a && y === b) || (x === b && y === a));

/**
 * The monitor is about to send a request for `model` that loads it (it is not resident): it is the monitor's
 * until an app uses it. `until` is when its keep_alive would run out after the request (Infinity: forever).
 */
export function claimLoad(m: Memory, model: string, now: number, until: number): Memory {
  const k = modelKey(model);
  return { ...m, ours: { ...m.ours, [k]: until }, pending: { ...m.pending, [k]: now } };
}

/** The monitor used a model it had loaded (a canary, a refresh): the expiry it explains moves on. */
export function touchOwn(m: Memory, model: string, until: number): Memory {
  const k = modelKey(model);
  return m.ours[k] === undefined ? m : { ...m, ours: { ...m.ours, [k]: Math.max(m.ours[k], until) } };
}

/** A new look at /api/ps: who appeared, who left and why, what fits. */
export function observe(m: Memory, ps: readonly PsModel[], now: number): { memory: Memory; events: MemoryEvent[] } {
  const events: MemoryEvent[] = [];
  const after = new Map(ps.map((p) => [modelKey(p.name), p]));
  const before = new Map((m.resident ?? []).map((p) => [modelKey(p.name), p]));
  const ours = { ...m.ours };
  const seen = { ...m.seen };
  // Left memory before its keep_alive ran out: evicted (or unloaded by hand), not expired.
  const gone = [...before.entries()].filter(([k]) => !after.has(k));
  const evicted = gone.filter(([, p]) => p.expiresAt === undefined || p.expiresAt > now).map(([k]) => k);
  const appeared = [...after.keys()].filter((k) => !before.has(k));
  const loader = appeared.find((k) => ours[k] !== undefined) ?? appeared[0];
  const by = loader !== undefined && ours[loader] !== undefined ? 'monitor' : 'app';
  for (const [k] of gone) seen[k] = evicted.includes(k) ? (loader === undefined ? 'unloaded' : by === 'monitor' ? 'own_eviction' : 'app_switch') : 'expired';
  let conflicts = m.conflicts;
  if (loader !== undefined && evicted.length > 0) {
    const appModels = evicted.filter((k) => ours[k] === undefined);
    events.push({ type: 'eviction', by, loaded: loader, evicted, appModels });
    conflicts = [...conflicts, ...evicted.filter((e) => !isConflict(m, loader, e)).map((e): [string, string] => [loader, e])];
  }
  for (const [k] of gone) delete ours[k];
  const pending = { ...m.pending };
  for (const [k, at] of Object.entries(pending)) {
    if (after.has(k)) delete pending[k];
    else if (now - at > CLAIM_GRACE_MS) {
      delete pending[k];
      delete ours[k];
    }
  }
  for (const [k, p] of after) {
    seen[k] = 'resident';
    // Someone else's request pushed the expiry past what the monitor's own requests explain: an app uses it.
    if (ours[k] !== undefined && p.expiresAt !== undefined && p.expiresAt > ours[k] + EXPIRY_SLACK_MS) delete ours[k];
  }
  // Both seen resident at once: they fit now (memory or context changed), so the conflict is gone.
  const kept = conflicts.filter(([a, b]) => !(after.has(a) && after.has(b)));
  for (const [a, b] of conflicts) if (after.has(a) && after.has(b)) events.push({ type: 'room_grew', models: [a, b] });
  const sizes = { ...m.sizes };
  for (const [k, p] of after) if (p.bytes !== undefined) sizes[k] = p.bytes;
  const all = [...after.values()];
  const total = all.every((p) => p.bytes !== undefined) ? all.reduce((s, p) => s + (p.bytes ?? 0), 0) : 0;
  return { memory: { resident: [...ps], ours, pending, seen, conflicts: kept, roomSeen: Math.max(m.roomSeen, total), sizes }, events };
}

/** Why `model`, not resident now, would be loaded: only `cold` is a cold start of the node. */
export function loadCause(m: Memory, model: string): LoadCause {
  const last = m.seen[modelKey(model)];
  if (last === undefined) return 'first_load';
  if (last === 'own_eviction' || last === 'app_switch') return last;
  return 'cold';
}

/** Embedding models cannot chat: never a canary. */
const EMBEDDING = /embed|bge-|minilm/i;

/**
 * The canary's model:
 *
 *   no look at /api/ps yet (or not an Ollama node) → the configured model
 *   the configured model is resident             → it
 *   nothing is resident                          → the configured model (loading into empty memory evicts nothing)
 *   something else is resident                   → a resident model, apps' first (the first in /api/ps order:
 *                                                  the latest expiry); the generation check is just as real
 */
export function canaryModel(m: Memory, configured: string): { model: string; why: 'configured' | 'resident' } {
  const resident = (m.resident ?? []).filter((p) => !EMBEDDING.test(p.name));
  if (m.resident === undefined || m.resident.length === 0 || m.resident.some((p) => modelKey(p.name) === modelKey(configured))) return { model: configured, why: 'configured' };
  const pick = resident.find((p) => m.ours[modelKey(p.name)] === undefined) ?? resident[0];
  return pick ? { model: pick.name, why: 'resident' } : { model: configured, why: 'configured' };
}

export interface WarmPlanStep {
  model: string;
  why: 'expiring' | LoadCause;
}

export interface WarmPlan {
  steps: WarmPlanStep[];
  /** Listed models left alone this pass, and why. */
  held: Array<{ model: string; why: 'not_installed' | 'conflict' | 'no_room' }>;
  /** Two listed models seen evicting each other: keep-warm keeps the first listed one only. */
  conflict?: { models: [string, string]; keeping: string };
}

/**
 * Keep-warm's plan for the listed models (in list order):
 *
 *   not installed (/api/tags known)                  → held: not_installed (never a load request)
 *   two listed models known not to fit together      → keep the first listed only; the others held: conflict
 *   resident, expires within the margin              → refresh (the model is in memory: nothing is evicted)
 *   resident, or a load of it by the monitor under way → nothing
 *   not resident, and
 *     a resident model known not to fit beside it, that apps use or keep-warm keeps → held: no_room
 *     nothing resident that apps use or keep-warm keeps                        → load (evicts at most the monitor's own)
 *     every size known and the total ≤ room seen before                        → load (it fits)
 *     only keep-warm's own listed models resident (fit unknown)                → load: the one try that finds out
 *     a model apps use is resident and the fit is unknown                      → held: no_room
 */
export function planKeepWarm(input: { m: Memory; wanted: readonly string[]; installed?: ReadonlyMap<string, number | undefined>; now: number; marginMs: number }): WarmPlan {
  const { m, now, marginMs, installed } = input;
  const held: WarmPlan['held'] = [];
  const listed: string[] = [];
  for (const w of input.wanted) {
    if (installed && !installed.has(modelKey(w))) held.push({ model: w, why: 'not_installed' });
    else listed.push(w);
  }
  let conflict: WarmPlan['conflict'];
  for (let i = 0; i < listed.length && !conflict; i++) {
    for (let j = i + 1; j < listed.length && !conflict; j++) {
      const [a, b] = [listed[i] as string, listed[j] as string];
      if (isConflict(m, modelKey(a), modelKey(b))) conflict = { models: [a, b], keeping: listed[0] as string };
    }
  }
  const keep = conflict ? listed.slice(0, 1) : listed;
  if (conflict) for (const w of listed.slice(1)) held.push({ model: w, why: 'conflict' });
  const keepKeys = new Set(keep.map(modelKey));
  const resident = m.resident ?? [];
  const steps: WarmPlanStep[] = [];
  for (const w of keep) {
    const k = modelKey(w);
    const hit = resident.find((p) => modelKey(p.name) === k);
    if (hit) {
      if (hit.expiresAt !== undefined && hit.expiresAt - now <= marginMs) steps.push({ model: w, why: 'expiring' });
      continue;
    }
    // The monitor's own load of it (a canary's) is under way: never a second one.
    if (m.pending[k] !== undefined) continue;
    // Models a load must not evict: the apps' and the other models keep-warm keeps.
    const guarded = resident.filter((p) => m.ours[modelKey(p.name)] === undefined || keepKeys.has(modelKey(p.name)));
    const appsUse = guarded.some((p) => m.ours[modelKey(p.name)] === undefined);
    const size = m.sizes[k] ?? tagsEstimate(installed?.get(k));
    const known = size !== undefined && resident.every((p) => p.bytes !== undefined) && size + resident.reduce((s, p) => s + (p.bytes ?? 0), 0) <= m.roomSeen;
    let ok: boolean;
    if (guarded.some((p) => isConflict(m, k, modelKey(p.name)))) ok = false;
    else ok = guarded.length === 0 || known || !appsUse;
    if (ok) steps.push({ model: w, why: loadCause(m, w) });
    else held.push({ model: w, why: 'no_room' });
  }
  return { steps, held, ...(conflict ? { conflict } : {}) };
}

/**
 * A model never seen in memory: its file size from /api/tags plus a quarter for its context and buffers (a
 * loaded model takes more than its file), so a guess errs on the side of not fitting.
 */
function tagsEstimate(fileBytes: number | undefined): number | undefined {
  return fileBytes === undefined ? undefined : fileBytes * 1.25;
}
