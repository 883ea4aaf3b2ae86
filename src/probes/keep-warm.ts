import type { NodeConfig } from '../config';
import { modelKey, saneBytes, type PsModel, type WarmPlanStep } from '../core/residency';
import { clip } from './classify';
import { getJson, isFailure, judgeError, readCapped, runProbe, send, type Outcome, type ProbeContext, type ProbeRun, type ProbeSettings } from './http';
import { decodeUtf8 } from './stream';

/**
 * Keep-warm: reads /api/ps and loads the apps' models that are not loaded or about to expire, with Ollama's
 * documented load request (docs/api.md "Load a model": POST /api/generate with only `model` and
 * `keep_alive`, no prompt; it answers `done_reason: "load"` and generates nothing). The plan itself is the
 * pure planKeepWarm (src/core/residency.ts); this file only moves bytes.
 */

export interface WarmthLoad {
  model: string;
  /** Why it was sent: a refresh, or why the model was not resident (src/core/residency.ts LoadCause). */
  why: WarmPlanStep['why'] | 'canary_cold';
  ok: boolean;
  loadMs?: number;
  detail: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const nameOf = (m: Record<string, unknown>): string | undefined => (typeof m.name === 'string' && m.name ? m.name : typeof m.model === 'string' && m.model ? m.model : undefined);

/** /api/ps → resident models with their sane sizes and expiry; undefined when it has no "models" list. */
export function parsePs(value: unknown): PsModel[] | undefined {
  if (!isRecord(value) || !Array.isArray(value.models)) return undefined;
  return value.models.flatMap((m: unknown) => {
    if (!isRecord(m)) return [];
    const name = nameOf(m);
    if (!name) return [];
    const at = typeof m.expires_at === 'string' ? Date.parse(m.expires_at) : NaN;
    const bytes = saneBytes(m.size) ?? saneBytes(m.size_vram);
    return [{ name, ...(bytes !== undefined ? { bytes } : {}), ...(Number.isFinite(at) ? { expiresAt: at } : {}) }];
  });
}

/** /api/tags → installed models (by modelKey) with their sane file sizes; undefined when it has no "models" list. */
export function parseTags(value: unknown): Map<string, number | undefined> | undefined {
  if (!isRecord(value) || !Array.isArray(value.models)) return undefined;
  const out = new Map<string, number | undefined>();
  for (const m of value.models as unknown[]) {
    if (!isRecord(m)) continue;
    const name = nameOf(m);
    if (name) out.set(modelKey(name), saneBytes(m.size));
  }
  return out;
}

/** Reads a listing route; a failure or a body without "models" is an Outcome. */
export async function readListing<T>(run: ProbeRun, path: '/api/ps' | '/api/tags', parse: (v: unknown) => T | undefined): Promise<T | Outcome> {
  const r = await getJson(run, path);
  if (isFailure(r)) return r;
  const v = parse(r.value);
  return v === undefined ? { reason: 'bad_response', detail: `${path} has no "models" list` } : v;
}

/**
 * Runs `body` with the node's HTTP machinery, bounded by `timeoutMs`: by default the canary timeout (a cold
 * load can take a while); a mere look at /api/ps passes the liveness timeout.
 */
export async function withNode(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext, body: (run: ProbeRun) => Promise<void>, timeoutMs = settings.canary.timeout): Promise<void> {
  await runProbe('liveness', node, settings, ctx, timeoutMs, async (run) => {
    await body(run);
    return { reason: 'ok', detail: 'done' };
  });
}

/** Ollama's load request for one model; never throws for a sick node. */
export async function loadModel(run: ProbeRun, step: WarmPlanStep): Promise<WarmthLoad> {
  const c = run.settings.canary;
  // The same num_ctx as the canary and the apps: a different one would make Ollama reload the model.
  const json = { model: step.model, keep_alive: c.keepAlive, ...(c.numCtx !== undefined ? { options: { num_ctx: c.numCtx } } : {}) };
  const reply = await send(run, '/api/generate', { method: 'POST', accept: 'application/json', json });
  if (isFailure(reply)) return { ...step, ok: false, detail: clip(`load failed: ${reply.detail}`) };
  if (reply.status < 200 || reply.status >= 300) {
    const v = await judgeError(run, reply, '/api/generate', 'json');
    return { ...step, ok: false, detail: clip(`load failed: ${v.detail}`) };
  }
  const read = await readCapped(run, reply.body, 64 * 1024);
  if (isFailure(read)) return { ...step, ok: false, detail: clip(`load failed: ${read.detail}`) };
  const text = decodeUtf8(read.bytes) ?? '';
  let loadMs: number | undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (isRecord(v) && typeof v.load_duration === 'number') loadMs = Math.round(v.load_duration / 1e5) / 10;
  } catch {
    // A load answered with something odd still loaded the model if it said 200; the next /api/ps tells.
  }
  return { ...step, ok: true, ...(loadMs !== undefined ? { loadMs } : {}), detail: `loaded ${step.model} (${WHY[step.why]})` };
}

const WHY: Record<WarmPlanStep['why'], string> = {
  expiring: 'keep_alive about to run out',
  first_load: 'its first load since the monitor started',
  own_eviction: "the monitor's own load had evicted it",
  app_switch: 'an app had switched to another model',
  cold: 'it had been unloaded: a cold event',
};
