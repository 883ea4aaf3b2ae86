import type { NodeConfig } from '../config';
import { clip } from './classify';
import { getJson, isFailure, runProbe, type Outcome, type ProbeContext, type ProbeRun, type ProbeSettings } from './http';
import type { ProbeResult } from './types';

/**
 * Liveness: is the API up and is the configured model installed? It never touches the model (no load, no
 * generation), so it is cheap enough to run every few seconds. One deadline covers all its requests.
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

function missing(model: string, names: string[], httpStatus: number, ttfbMs: number): Outcome {
  const have = names.length === 0 ? 'no models installed' : `have: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}`;
  return { reason: 'model_missing', detail: clip(`model ${model} not installed (${have}) — ollama pull ${model}`), httpStatus, ttfbMs };
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

  const tags = await getJson(run, '/api/tags');
  if (isFailure(tags)) return { ...tags, ttfbMs };
  if (!isRecord(tags.value) || !Array.isArray(tags.value.models)) {
    return { reason: 'bad_response', detail: `Ollama ${v}: /api/tags has no "models" list`, httpStatus: tags.status, ttfbMs };
  }
  const names: string[] = [];
  for (const m of tags.value.models) {
    if (!isRecord(m)) continue;
    if (typeof m.name === 'string') names.push(m.name);
    else if (typeof m.model === 'string') names.push(m.model);
  }
  const model = run.node.model;
  if (!listed(names, model)) return missing(model, names, tags.status, ttfbMs);
  return { reason: 'ok', detail: `Ollama ${v}, ${model} installed`, httpStatus: tags.status, ttfbMs };
}

async function openaiLiveness(run: ProbeRun): Promise<Outcome> {
  const models = await getJson(run, '/v1/models');
  if (isFailure(models)) return models;
  const { status: httpStatus, ttfbMs } = models;
  // Ollama answers {"object":"list","data":null} when nothing is installed.
  if (!isRecord(models.value) || !(Array.isArray(models.value.data) || models.value.data === null)) {
    return { reason: 'not_ollama', detail: '/v1/models answered JSON without a "data" list: not an OpenAI-compatible API', httpStatus, ttfbMs };
  }
  const ids = (Array.isArray(models.value.data) ? models.value.data : []).flatMap((m: unknown) => (isRecord(m) && typeof m.id === 'string' ? [m.id] : []));
  const model = run.node.model;
  if (!listed(ids, model)) return missing(model, ids, httpStatus, ttfbMs);
  return { reason: 'ok', detail: `${model} listed by /v1/models`, httpStatus, ttfbMs };
}

export function probeLiveness(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext = {}): Promise<ProbeResult> {
  return runProbe('liveness', node, settings, ctx, settings.liveness.timeout, (run) => (node.api === 'openai' ? openaiLiveness(run) : ollamaLiveness(run)));
}
