import type { NodeConfig } from '../config';
import { planWarmth, type LoadedModel, type WarmthStep } from '../core/keep-warm';
import { clip } from './classify';
import { getJson, isFailure, judgeError, readCapped, runProbe, send, type ProbeContext, type ProbeRun, type ProbeSettings } from './http';
import { decodeUtf8 } from './stream';

/**
 * Keep-warm: reads /api/ps and loads the apps' models that are not loaded or about to expire, with Ollama's
 * documented load request (docs/api.md "Load a model": POST /api/generate with only `model` and
 * `keep_alive`, no prompt; it answers `done_reason: "load"` and generates nothing). The plan itself is the
 * pure planWarmth; this file only moves bytes.
 */

export interface WarmthLoad extends WarmthStep {
  ok: boolean;
  loadMs?: number;
  detail: string;
}

export interface WarmthResult {
  /** Set when /api/ps could not be read (the node is down: liveness says why). */
  error?: string;
  loads: WarmthLoad[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePs(value: unknown): LoadedModel[] | undefined {
  if (!isRecord(value) || !Array.isArray(value.models)) return undefined;
  return value.models.flatMap((m: unknown) => {
    if (!isRecord(m)) return [];
    const name = typeof m.name === 'string' ? m.name : typeof m.model === 'string' ? m.model : undefined;
    if (!name) return [];
    const at = typeof m.expires_at === 'string' ? Date.parse(m.expires_at) : NaN;
    return [{ name, ...(Number.isFinite(at) ? { expiresAt: at } : {}) }];
  });
}

async function load(run: ProbeRun, step: WarmthStep): Promise<WarmthLoad> {
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
  return { ...step, ok: true, ...(loadMs !== undefined ? { loadMs } : {}), detail: `loaded ${step.model} (${step.why === 'not_loaded' ? 'it was not loaded' : 'keep_alive about to run out'})` };
}

/** One keep-warm pass for a node; never throws for a sick node. */
export async function keepWarm(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext, opts: { now: number; marginMs: number }): Promise<WarmthResult> {
  const out: WarmthResult = { loads: [] };
  // The whole pass (a cold load can take a while) is bounded by the canary timeout.
  await runProbe('liveness', node, settings, ctx, settings.canary.timeout, async (run) => {
    const ps = await getJson(run, '/api/ps');
    if (isFailure(ps)) {
      out.error = ps.detail;
      return ps;
    }
    const loaded = parsePs(ps.value);
    if (!loaded) {
      out.error = '/api/ps has no "models" list';
      return { reason: 'bad_response', detail: out.error };
    }
    for (const step of planWarmth({ wanted: node.models, loaded, now: opts.now, marginMs: opts.marginMs })) out.loads.push(await load(run, step));
    return { reason: 'ok', detail: `${out.loads.length} loads` };
  });
  return out;
}
