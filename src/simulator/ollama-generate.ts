/**
 * POST /api/generate and /api/chat: NDJSON streaming by default, one JSON object with `stream:false`.
 * Validation order and messages follow Ollama's GenerateHandler / ChatHandler (routes.go).
 */
import { findModel, type RequestContext } from './context';
import {
  collectGeneration,
  draftMsOf,
  encodeWithInvalid,
  LOAD_CANCELED,
  runGeneration,
  type GenerationEnd,
  type GenerationJob,
  type GenerationResult,
  type Token,
} from './generation';
import type { ModelInfo } from './models';
import { checkFields, estimatePromptTokens, parseJsonBody, parseKeepAlive, parseNumPredict, parseThink, str, type Json, type JsonObject } from './request';
import { rfc3339Utc } from './time';
import { errorReply, JSON_TYPE, NDJSON_TYPE, streamReply, type Chunk, type Reply } from './wire';

type Kind = 'generate' | 'chat';

interface NativeRequest {
  kind: Kind;
  /** The model name as sent: Ollama echoes it in every chunk. */
  name: string;
  model: ModelInfo;
  stream: boolean;
  raw: boolean;
  keepAliveMs: number;
  think: boolean;
  /** Raw `options`; num_predict is checked only once the request is known to generate, like Ollama. */
  options: Json | undefined;
  /** No prompt (generate) or no messages (chat): a load/unload request. */
  empty: boolean;
  /** The prompt carries qwen3's /no_think soft switch. */
  softOff: boolean;
  keepAliveRaw: Json | undefined;
  promptTokens: number;
}

/** Go's omitempty: zero metrics are left out. Order is the struct order. */
function metrics(r: GenerationResult): Record<string, number> {
  const all: [string, number][] = [
    ['total_duration', r.totalNs],
    ['load_duration', r.loadNs],
    ['prompt_eval_count', r.promptCount],
    ['prompt_eval_duration', r.promptNs],
    ['eval_count', r.evalCount],
    ['eval_duration', r.evalNs],
  ];
  return Object.fromEntries(all.filter(([, v]) => v !== 0));
}

/** The (made-up) token ids generate's final chunk carries in `context` unless raw. */
function contextIds(r: GenerationResult): number[] {
  const n = Math.min(r.promptCount + r.evalCount, 64);
  return Array.from({ length: n }, (_, i) => 128_000 + i);
}

function head(req: NativeRequest): { model: string; created_at: string } {
  return { model: req.name, created_at: rfc3339Utc(Date.now()) };
}

/** A chunk, or the whole stream:false reply, shaped for the route. */
function body(req: NativeRequest, content: string, thinking: string, end: GenerationResult | { doneReason: string } | undefined): JsonObject {
  const done = end !== undefined;
  const tail: JsonObject = done ? { done: true, done_reason: end.doneReason } : { done: false };
  const full = end && 'totalNs' in end ? end : undefined;
  if (req.kind === 'generate') {
    return {
      ...head(req),
      response: content,
      ...(thinking ? { thinking } : {}),
      ...tail,
      ...(full && !req.raw ? { context: contextIds(full) } : {}),
      ...(full ? metrics(full) : {}),
    };
  }
  return {
    ...head(req),
    message: { role: 'assistant', content, ...(thinking ? { thinking } : {}) },
    ...tail,
    ...(full ? metrics(full) : {}),
  };
}

function line(value: JsonObject): Buffer {
  return encodeWithInvalid(`${JSON.stringify(value)}\n`);
}

function parse(ctx: RequestContext, kind: Kind): NativeRequest | Reply {
  const goType = kind === 'generate' ? 'GenerateRequest' : 'ChatRequest';
  const parsed = parseJsonBody(ctx.body, goType);
  if (!parsed.ok) return errorReply(parsed.status, parsed.message);
  // Generate tolerates an empty body (and then finds no model ''); chat does not.
  if (!parsed.value && kind === 'chat') return errorReply(400, 'missing request body');
  const v: JsonObject = parsed.value ?? {};
  const typeError = checkFields(v, goType, {
    model: 'string',
    stream: 'bool',
    raw: 'bool',
    options: 'object',
    ...(kind === 'generate' ? { prompt: 'string', system: 'string' } : { messages: 'array' }),
  });
  if (typeError) return errorReply(400, typeError);
  const keepAlive = parseKeepAlive(v['keep_alive']);
  if ('error' in keepAlive) return errorReply(400, keepAlive.error);
  const legacy = ctx.sim.flavor === 'ollama-legacy';
  // Before 0.9 there was no `think` field: Go's decoder ignored it, so any value passes and changes nothing.
  const think = legacy ? { think: undefined } : parseThink(v['think']);
  if ('error' in think) return errorReply(400, think.error);
  if (ctx.sim.rejectThinkingKnob && v['think'] !== undefined) return errorReply(400, 'json: unknown field "think"');

  const name = str(v['model']);
  if (!name && kind === 'chat') return errorReply(400, 'model is required');
  const model = findModel(ctx, name);
  if (!model) return errorReply(404, `model '${name}' not found`);

  const messages = Array.isArray(v['messages']) ? v['messages'] : [];
  const texts = kind === 'generate' ? [str(v['prompt']), str(v['system'])] : messages.map((m: Json) => (m && typeof m === 'object' && !Array.isArray(m) ? str(m['content']) : ''));
  const empty = kind === 'generate' ? str(v['prompt']) === '' : messages.length === 0;
  return {
    kind,
    name,
    model,
    stream: v['stream'] !== false,
    raw: v['raw'] === true,
    keepAliveMs: keepAlive.ms,
    think: think.think ?? model.thinking,
    options: v['options'],
    empty,
    softOff: texts.some((t) => t.includes('/no_think')),
    keepAliveRaw: v['keep_alive'],
    promptTokens: estimatePromptTokens(texts),
  };
}

function finalFromEnd(req: NativeRequest, end: GenerationEnd, signal: AbortSignal): JsonObject | undefined {
  if (end.kind === 'done') return body(req, '', '', end.result);
  if (end.kind === 'error') return { error: end.message };
  // Client gone: nothing to say. A load cancelled under us: Ollama's own error line.
  return signal.aborted ? undefined : { error: LOAD_CANCELED };
}

async function* ndjson(req: NativeRequest, gen: AsyncGenerator<Token, GenerationEnd>, signal: AbortSignal): AsyncGenerator<Chunk> {
  for (;;) {
    const step = await gen.next();
    if (step.done) {
      // Mid-stream errors go out as one {"error":…} line and the stream ends without done:true.
      const last = finalFromEnd(req, step.value, signal);
      if (last) yield line(last);
      return;
    }
    const t = step.value;
    yield line(body(req, t.kind === 'content' ? t.text : '', t.kind === 'thinking' ? t.text : '', undefined));
  }
}

async function generation(ctx: RequestContext, kind: Kind): Promise<Reply> {
  const req = parse(ctx, kind);
  if ('status' in req) return req;
  const { registry } = ctx.sim;

  if (req.empty && req.keepAliveMs === 0) {
    // Nothing is loaded first: an unload of a model that is not in memory is a no-op.
    registry.unload(req.model);
    return { status: 200, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(body(req, '', '', { doneReason: 'unload' })) };
  }
  if (req.think && !req.model.thinking) return errorReply(400, `"${req.name}" does not support thinking`);
  const numPredict = parseNumPredict(req.options);
  if ('error' in numPredict) return errorReply(400, numPredict.error);

  if (req.empty) {
    ctx.sim.record.load(req.model.name, req.keepAliveRaw ?? null, req.options ?? null);
    // Load only; the answer is a single object even when streaming was asked for.
    const ok = await registry.acquire(req.model, req.keepAliveMs, ctx.signal);
    if (!ok) return errorReply(500, LOAD_CANCELED);
    registry.release(req.model, req.keepAliveMs);
    return { status: 200, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(body(req, '', '', { doneReason: 'load' })) };
  }

  ctx.sim.record.generation();
  const job: GenerationJob = {
    model: req.model,
    answer: ctx.sim.answer(),
    think: req.think,
    thinkStyle: ctx.sim.flavor === 'ollama-legacy' ? 'inline' : 'field',
    softOff: req.softOff,
    limit: numPredict.limit,
    keepAliveMs: req.keepAliveMs,
    promptTokens: req.promptTokens,
    mode: ctx.mode,
    startNs: ctx.startNs,
    draftMs: draftMsOf(ctx.headers),
  };
  const gen = runGeneration(job, registry, ctx.sim.tokenDelayMs, ctx.signal, ctx.sim.slots);
  if (req.stream) return streamReply(NDJSON_TYPE, ndjson(req, gen, ctx.signal));

  const { content, thinking, end } = await collectGeneration(gen);
  if (end.kind === 'error') return errorReply(500, end.message);
  if (end.kind === 'aborted') return errorReply(500, LOAD_CANCELED);
  return { status: 200, headers: { 'content-type': JSON_TYPE }, body: encodeWithInvalid(JSON.stringify(body(req, content, thinking, end.result))) };
}

export function generate(ctx: RequestContext): Promise<Reply> {
  return generation(ctx, 'generate');
}

export function chat(ctx: RequestContext): Promise<Reply> {
  return generation(ctx, 'chat');
}
