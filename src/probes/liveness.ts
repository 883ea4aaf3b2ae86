import type { NodeConfig } from '../config';
import { detectFlavor, type Flavor } from '../core/flavor';
import { chooseModel, listNames } from '../core/model-choice';
import { clip } from './classify';
import { getJson, isFailure, runProbe, type Outcome, type ProbeContext, type ProbeRun, type ProbeSettings } from './http';
import type { ProbeResult } from './types';

/**
 * Liveness: is the API up and are the canary's model and the apps' models installed? It also says which
 * server this is (result.server, judged by core/flavor.ts) and, for a node configured without a model,
 * which one to use (result.model, chosen by core/model-choice.ts from /api/ps and /api/tags). It never
 * touches the model (no load, no generation), so it is cheap enough to run every few seconds. One deadline
 * covers all its requests.
 */

/** "llama3.2" and "llama3.2:latest" name the same model; a registry port ("host:5000/m") is not a tag. */
export function normaliseModel(name: string): string {
  const n = name.trim().toLowerCase();
  const lastSegment = n.slice(n.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? n : `${n}:latest`;
}

function listed(names: string[], wanted: string): boolean {
  const w = normaliseModel(wanted);
  return names.some((n) => n === wanted || normaliseModel(n) === w);
}

function missing(model: string, names: string[], httpStatus: number, ttfbMs: number, extra: Partial<Outcome> = {}): Outcome {
  const have = names.length === 0 ? 'no models installed' : `have: ${listNames(names)}`;
  return { reason: 'model_missing', detail: clip(`model ${model} not installed (${have}) — ollama pull ${model}`), httpStatus, ttfbMs, installed: names, ...extra };
}

/** The canary's model (configured or discovered) and every model apps use must be installed. */
async function checkModels(
  run: ProbeRun,
  names: string[],
  loaded: () => Promise<string[] | Outcome>,
  base: { httpStatus: number; ttfbMs: number; server: Outcome['server'] },
): Promise<Outcome | { model: string; discovered: boolean }> {
  let model = run.node.model;
  const discovered = model === undefined;
  if (model === undefined) {
    const l = await loaded();
    if (isFailure(l)) return { ...l, ttfbMs: base.ttfbMs, server: base.server };
    const choice = chooseModel({ loaded: l, installed: names });
    if (!choice.ok) return { reason: 'model_missing', detail: clip(choice.problem), ...base, installed: names };
    model = choice.model;
  }
  const extra = { server: base.server, ...(discovered ? { model } : {}) };
  if (!listed(names, model)) return missing(model, names, base.httpStatus, base.ttfbMs, extra);
  for (const m of run.node.models) if (!listed(names, m)) return missing(m, names, base.httpStatus, base.ttfbMs, extra);
  return { model, discovered };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function ollamaLiveness(run: ProbeRun): Promise<Outcome> {
  const version = await getJson(run, '/api/version');
  if (isFailure(version)) return version;
  const ttfbMs = version.ttfbMs;
  if (!isRecord(version.value) || typeof version.value.version !== 'string') {
    return { reason: 'not_ollama', detail: '/api/version answered JSON without a "version": not Ollama (set api: openai for other servers)', httpStatus: version.status, ttfbMs };
  }
  const v = clip(version.value.version, 40);
  const server = { flavor: detectFlavor({ ollamaVersion: v }), version: v };

  const tags = await getJson(run, '/api/tags');
  if (isFailure(tags)) return { ...tags, ttfbMs, server };
  if (!isRecord(tags.value) || !Array.isArray(tags.value.models)) {
    return { reason: 'bad_response', detail: `Ollama ${v}: /api/tags has no "models" list`, httpStatus: tags.status, ttfbMs, server };
  }
  const names = modelNames(tags.value.models);
  const checked = await checkModels(run, names, () => loadedModels(run), { httpStatus: tags.status, ttfbMs, server });
  if (isFailure(checked)) return checked;
  const how = checked.discovered ? ' (discovered)' : '';
  return { reason: 'ok', detail: `Ollama ${v}, ${checked.model}${how} installed`, httpStatus: tags.status, ttfbMs, server, ...(checked.discovered ? { model: checked.model } : {}) };
}

function modelNames(list: unknown[]): string[] {
  const names: string[] = [];
  for (const m of list) {
    if (!isRecord(m)) continue;
    if (typeof m.name === 'string') names.push(m.name);
    else if (typeof m.model === 'string') names.push(m.model);
  }
  return names;
}

/** Models in memory, from /api/ps (docs/api.md "List Running Models"). */
export async function loadedModels(run: ProbeRun): Promise<string[] | Outcome> {
  const ps = await getJson(run, '/api/ps');
  if (isFailure(ps)) return ps;
  if (!isRecord(ps.value) || !Array.isArray(ps.value.models)) return { reason: 'bad_response', detail: '/api/ps has no "models" list', httpStatus: ps.status };
  return modelNames(ps.value.models);
}

/** Ollama's /v1 also answers /api/version; llama.cpp and vLLM say who they are in owned_by (and headers). */
async function openaiFlavor(run: ProbeRun, ownedBy: string[], headers: Record<string, string | string[] | undefined>): Promise<{ flavor: Flavor; version?: string }> {
  const serverHeader = typeof headers.server === 'string' ? headers.server : undefined;
  const byModels = detectFlavor({ ownedBy, serverHeader });
  if (byModels === 'llamacpp' || byModels === 'vllm') return { flavor: byModels };
  const version = await getJson(run, '/api/version');
  if (!isFailure(version) && isRecord(version.value) && typeof version.value.version === 'string') {
    const v = clip(version.value.version, 40);
    return { flavor: detectFlavor({ ollamaVersion: v }), version: v };
  }
  return { flavor: byModels };
}

async function openaiLiveness(run: ProbeRun): Promise<Outcome> {
  const models = await getJson(run, '/v1/models');
  if (isFailure(models)) return models;
  const { status: httpStatus, ttfbMs } = models;
  // Ollama answers {"object":"list","data":null} when nothing is installed.
  if (!isRecord(models.value) || !(Array.isArray(models.value.data) || models.value.data === null)) {
    return { reason: 'not_ollama', detail: '/v1/models answered JSON without a "data" list: not an OpenAI-compatible API', httpStatus, ttfbMs };
  }
  const data: unknown[] = Array.isArray(models.value.data) ? models.value.data : [];
  const ids = data.flatMap((m: unknown) => (isRecord(m) && typeof m.id === 'string' ? [m.id] : []));
  const ownedBy = data.flatMap((m: unknown) => (isRecord(m) && typeof m.owned_by === 'string' ? [m.owned_by] : []));
  const server = await openaiFlavor(run, ownedBy, models.headers);
  // /v1 has no list of loaded models: discovery can only take the only one served.
  const checked = await checkModels(run, ids, async () => [], { httpStatus, ttfbMs, server });
  if (isFailure(checked)) return checked;
  const how = checked.discovered ? ' (discovered)' : '';
  return { reason: 'ok', detail: `${checked.model}${how} listed by /v1/models (${server.flavor})`, httpStatus, ttfbMs, server, ...(checked.discovered ? { model: checked.model } : {}) };
}

export function probeLiveness(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext = {}): Promise<ProbeResult> {
  return runProbe('liveness', node, settings, ctx, settings.liveness.timeout, (run) => (node.api === 'openai' ? openaiLiveness(run) : ollamaLiveness(run)));
}
