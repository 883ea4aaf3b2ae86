/**
 * Ollama's OpenAI-compatible routes: POST /v1/chat/completions (non-streaming by default; SSE in the v0.32.6+
 * shape with a separate finish chunk and `data: [DONE]`) and GET /v1/models[/{model}].
 */
import { findModel, listModels, type RequestContext } from './context';
import {
  collectGeneration,
  draftMsOf,
  encodeWithInvalid,
  LOAD_CANCELED,
  runGeneration,
  type GenerationEnd,
  type GenerationResult,
  type Token,
} from './generation';
import { DEFAULT_KEEP_ALIVE_MS, type ModelInfo } from './models';
import { checkFields, estimatePromptTokens, parseJsonBody, str, type Json, type JsonObject } from './request';
import type { SimFlavor } from './types';
import { JSON_TYPE, jsonReply, SSE_TYPE, streamReply, type Chunk, type Reply } from './wire';

/** The OpenAI error envelope Ollama's middleware wraps every native error in, same HTTP status. */
export function openAiError(status: number, message: string): Reply {
  const type = status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error';
  return jsonReply(status, { error: { message, type, param: null, code: null } });
}

function modelEntry(m: ModelInfo, flavor: SimFlavor): JsonObject {
  // llama.cpp and vLLM name themselves in owned_by; Ollama puts the model's namespace there.
  const owner = flavor === 'llamacpp' ? 'llamacpp' : flavor === 'vllm' ? 'vllm' : m.owner;
  return { id: m.name, object: 'model', created: Math.floor(m.modifiedAt / 1000), owned_by: owner };
}

export function listV1Models(ctx: RequestContext): Reply {
  const models = listModels(ctx);
  // Ollama's ToListCompletion leaves the slice nil when empty, so this is null, not [].
  return jsonReply(200, { object: 'list', data: models.length ? models.map((m) => modelEntry(m, ctx.sim.flavor)) : null });
}

export function getV1Model(ctx: RequestContext, name: string): Reply {
  const model = findModel(ctx, name);
  return model ? jsonReply(200, modelEntry(model, ctx.sim.flavor)) : openAiError(404, `model '${name}' not found`);
}

const EFFORTS = ['high', 'medium', 'low', 'max'];

interface CompletionRequest {
  flavor: SimFlavor;
  name: string;
  model: ModelInfo;
  stream: boolean;
  includeUsage: boolean;
  limit: number | undefined;
  think: boolean;
  softOff: boolean;
  promptTokens: number;
}

function obj(v: Json | undefined): JsonObject | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

function parse(ctx: RequestContext): CompletionRequest | Reply {
  const parsed = parseJsonBody(ctx.body, 'ChatCompletionRequest');
  if (!parsed.ok) return openAiError(parsed.status, parsed.message);
  if (!parsed.value) return openAiError(400, 'EOF');
  const v = parsed.value;
  const typeError = checkFields(v, 'ChatCompletionRequest', { model: 'string', stream: 'bool', messages: 'array', max_tokens: 'number' });
  if (typeError) return openAiError(400, typeError);
  const messages = Array.isArray(v['messages']) ? v['messages'] : [];
  if (messages.length === 0) return openAiError(400, "[] is too short - 'messages'");

  const flavor = ctx.sim.flavor;
  const kwargs = obj(v['chat_template_kwargs']);
  const knobSent = v['reasoning_effort'] !== undefined || v['reasoning'] !== undefined || kwargs !== undefined;
  if (ctx.sim.rejectThinkingKnob && knobSent) return strictReject(flavor);
  // Only current Ollama reads reasoning_effort; llama.cpp and vLLM read chat_template_kwargs; legacy Ollama neither.
  const effort = flavor === 'ollama' ? str(v['reasoning_effort']) || str(obj(v['reasoning'])?.['effort']) : '';
  if (effort && effort !== 'none' && !EFFORTS.includes(effort)) {
    return openAiError(400, `invalid reasoning value: '${effort}' (must be "high", "medium", "low", "max", or "none")`);
  }
  const name = str(v['model']);
  if (!name) return openAiError(400, 'model is required');
  const model = findModel(ctx, name);
  if (!model) return openAiError(404, `model '${name}' not found`);
  const templateOff = (flavor === 'llamacpp' || flavor === 'vllm') && kwargs?.['enable_thinking'] === false;
  const think = templateOff ? false : effort ? effort !== 'none' : model.thinking;
  if (think && !model.thinking) return openAiError(400, `"${name}" does not support thinking`);

  const max = v['max_completion_tokens'] ?? v['max_tokens'];
  return {
    flavor,
    name,
    model,
    stream: v['stream'] === true,
    includeUsage: obj(v['stream_options'])?.['include_usage'] === true,
    limit: typeof max === 'number' && max > 0 ? Math.floor(max) : undefined,
    think,
    softOff: messages.some((m) => str(obj(m)?.['content']).includes('/no_think')),
    promptTokens: estimatePromptTokens(messages.map((m) => str(obj(m)?.['content']))),
  };
}

/** How a strict, older server refuses a field it does not know (vLLM: its ErrorResponse; llama.cpp: its error object). */
function strictReject(flavor: SimFlavor): Reply {
  const message = 'Unrecognized request argument supplied: chat_template_kwargs';
  if (flavor === 'vllm') return jsonReply(400, { object: 'error', message, type: 'BadRequestError', param: null, code: 400 });
  if (flavor === 'llamacpp') return jsonReply(400, { error: { code: 400, message, type: 'invalid_request_error' } });
  return openAiError(400, message);
}

function usage(r: GenerationResult): JsonObject {
  return { prompt_tokens: r.promptCount, completion_tokens: r.evalCount, total_tokens: r.promptCount + r.evalCount };
}

function finishReason(r: GenerationResult): string {
  return r.doneReason === 'length' ? 'length' : 'stop';
}

function sse(value: JsonObject | '[DONE]'): Buffer {
  return encodeWithInvalid(`data: ${value === '[DONE]' ? value : JSON.stringify(value)}\n\n`);
}

async function* sseStream(req: CompletionRequest, gen: AsyncGenerator<Token, GenerationEnd>, signal: AbortSignal): AsyncGenerator<Chunk> {
  // One id and one `created` for the whole stream (v0.32.6+); the id is rand.Intn(999), not unique.
  const base = {
    id: `chatcmpl-${Math.floor(Math.random() * 999)}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: req.name,
    system_fingerprint: 'fp_ollama',
  };
  const chunk = (delta: JsonObject, finish: string | null): JsonObject => ({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  let first = true;
  const withRole = (delta: JsonObject): JsonObject => {
    const out = first ? { role: 'assistant', ...delta } : delta;
    first = false;
    return out;
  };
  for (;;) {
    const step = await gen.next();
    if (!step.done) {
      const t = step.value;
      // Ollama and current vLLM call the reasoning delta `reasoning`; llama.cpp calls it `reasoning_content`.
      const field = req.flavor === 'llamacpp' ? 'reasoning_content' : 'reasoning';
      yield sse(chunk(withRole(t.kind === 'content' ? { content: t.text } : { content: '', [field]: t.text }), null));
      continue;
    }
    const end = step.value;
    if (end.kind === 'done') {
      if (first) yield sse(chunk(withRole({ content: '' }), null));
      yield sse(chunk({}, finishReason(end.result)));
      if (req.includeUsage) yield sse({ ...base, choices: [], usage: usage(end.result) });
      yield sse('[DONE]');
    } else if (end.kind === 'error' || !signal.aborted) {
      // The middleware does not special-case an {"error":…} line: it becomes an empty delta and no [DONE].
      yield sse(chunk({}, null));
    }
    return;
  }
}

export async function chatCompletions(ctx: RequestContext): Promise<Reply> {
  const req = parse(ctx);
  if ('status' in req) return req;
  ctx.sim.record.generation();
  const gen = runGeneration(
    {
      model: req.model,
      answer: ctx.sim.answer(),
      think: req.think,
      thinkStyle: req.flavor === 'ollama-legacy' ? 'inline' : 'field',
      softOff: req.softOff,
      limit: req.limit,
      // keep_alive cannot be set through /v1, so the server default applies.
      keepAliveMs: DEFAULT_KEEP_ALIVE_MS,
      promptTokens: req.promptTokens,
      mode: ctx.mode,
      startNs: ctx.startNs,
      draftMs: draftMsOf(ctx.headers),
    },
    ctx.sim.registry,
    ctx.sim.tokenDelayMs,
    ctx.signal,
    ctx.sim.slots,
  );
  if (req.stream) return streamReply(SSE_TYPE, sseStream(req, gen, ctx.signal));

  const { content, thinking, end } = await collectGeneration(gen);
  if (end.kind === 'error') return openAiError(500, end.message);
  if (end.kind === 'aborted') return openAiError(500, LOAD_CANCELED);
  const body = {
    id: `chatcmpl-${Math.floor(Math.random() * 999)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.name,
    system_fingerprint: 'fp_ollama',
    choices: [{ index: 0, message: { role: 'assistant', content, ...(thinking ? { [req.flavor === 'llamacpp' ? 'reasoning_content' : 'reasoning']: thinking } : {}) }, finish_reason: finishReason(end.result) }],
    usage: usage(end.result),
  };
  return { status: 200, headers: { 'content-type': JSON_TYPE }, body: encodeWithInvalid(JSON.stringify(body)) };
}
