/**
 * Incremental parsers for the two streaming wire formats: Ollama's NDJSON (/api/chat) and OpenAI-style SSE
 * (/v1/chat/completions). They are fed text lines and return events; no I/O, so they are unit-tested directly.
 */

export interface DoneStats {
  /** Tokens generated (eval_count or usage.completion_tokens). */
  evalCount?: number;
  /** Ollama's eval_duration in nanoseconds. */
  evalDurationNs?: number;
  /** Ollama's load_duration in nanoseconds. */
  loadDurationNs?: number;
  /** Ollama's total_duration in nanoseconds (includes the wait for a generation slot). */
  totalDurationNs?: number;
  /** Ollama's prompt_eval_duration in nanoseconds. */
  promptEvalDurationNs?: number;
  /** A server's own generation speed (llama.cpp's timings.predicted_per_second). */
  tokensPerSec?: number;
}

export type StreamEvent =
  | { type: 'content'; text: string }
  /** Reasoning sent apart from the answer: message.thinking, delta.reasoning, delta.reasoning_content. */
  | { type: 'thinking'; text: string }
  | { type: 'done'; stats: DoneStats }
  | { type: 'error'; message: string }
  | { type: 'invalid'; detail: string };

export interface StreamParser {
  line(text: string): StreamEvent[];
  /** The stream ended; flushes anything pending. */
  end(): StreamEvent[];
}

/** Strict UTF-8 decode of a whole document; undefined when the bytes are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  const d = new LineDecoder();
  const a = d.decode(bytes);
  const b = a === undefined ? undefined : d.decode(undefined);
  return a === undefined || b === undefined ? undefined : a + b;
}

/**
 * Splits bytes into lines, decoding UTF-8 strictly. Invalid bytes give `undefined` instead of lines (the
 * canary reports bad_response); a character split across chunks is joined as it should be.
 */
export class LineDecoder {
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  #pending = '';

  push(chunk: Uint8Array): string[] | undefined {
    const text = this.decode(chunk);
    return text === undefined ? undefined : this.#split(text);
  }

  /** Flushes the decoder (a truncated multi-byte character is invalid) and returns the last unterminated line. */
  end(): string[] | undefined {
    const text = this.decode(undefined);
    if (text === undefined) return undefined;
    const lines = this.#split(text);
    const rest = this.#pending;
    this.#pending = '';
    return rest === '' ? lines : [...lines, rest];
  }

  /** Decodes without splitting; `undefined` input flushes. */
  decode(chunk: Uint8Array | undefined): string | undefined {
    try {
      return chunk === undefined ? this.#decoder.decode() : this.#decoder.decode(chunk, { stream: true });
    } catch (err) {
      // The fatal decoder throws only for invalid data (code ERR_ENCODING_INVALID_ENCODED_DATA).
      if ((err as NodeJS.ErrnoException).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') return undefined;
      throw err;
    }
  }

  #split(text: string): string[] {
    const parts = (this.#pending + text).split('\n');
    this.#pending = parts.pop() ?? '';
    return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function errorText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.message === 'string') return v.message;
  if (v !== undefined && v !== null) return JSON.stringify(v);
  return undefined;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Ollama /api/chat (and /api/generate) NDJSON: one JSON object per line, the last with done:true. */
export class NdjsonParser implements StreamParser {
  line(text: string): StreamEvent[] {
    if (text.trim() === '') return [];
    const parsed = parseJson(text);
    if (!parsed.ok || !isRecord(parsed.value)) return [{ type: 'invalid', detail: `stream line is not a JSON object (${text.length} chars)` }];
    const o = parsed.value;
    // Ollama writes {"error":"…"} as an extra line when generation fails after the first byte.
    const error = errorText(o.error);
    if (error !== undefined) return [{ type: 'error', message: error }];
    const events: StreamEvent[] = [];
    const content = isRecord(o.message) ? o.message.content : o.response;
    const thinking = isRecord(o.message) ? o.message.thinking : o.thinking;
    if (typeof thinking === 'string' && thinking !== '') events.push({ type: 'thinking', text: thinking });
    if (typeof content === 'string' && content !== '') events.push({ type: 'content', text: content });
    if (o.done === true) {
      const stats: DoneStats = {};
      const evalCount = num(o.eval_count);
      const evalDurationNs = num(o.eval_duration);
      const loadDurationNs = num(o.load_duration);
      if (evalCount !== undefined) stats.evalCount = evalCount;
      if (evalDurationNs !== undefined) stats.evalDurationNs = evalDurationNs;
      if (loadDurationNs !== undefined) stats.loadDurationNs = loadDurationNs;
      const totalDurationNs = num(o.total_duration);
      const promptEvalDurationNs = num(o.prompt_eval_duration);
      if (totalDurationNs !== undefined) stats.totalDurationNs = totalDurationNs;
      if (promptEvalDurationNs !== undefined) stats.promptEvalDurationNs = promptEvalDurationNs;
      events.push({ type: 'done', stats });
    }
    return events;
  }

  end(): StreamEvent[] {
    return [];
  }
}

/**
 * OpenAI-style server-sent events. Accepts both chunk shapes Ollama has used: before v0.32.6 every delta
 * repeated role+content and the last carried finish_reason; since then a separate `delta:{}` finish chunk
 * and an optional usage chunk (`choices: []`) come before `data: [DONE]`. Only [DONE] counts as the end.
 */
export class SseParser implements StreamParser {
  #data: string[] = [];
  #stats: DoneStats = {};

  line(text: string): StreamEvent[] {
    if (text === '') return this.#dispatch();
    if (text.startsWith(':')) return [];
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    if (field !== 'data') return []; // event:, id:, retry: carry nothing we judge
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.#data.push(value);
    return [];
  }

  end(): StreamEvent[] {
    // A final event without its blank line still counts: some servers close right after `data: [DONE]`.
    return this.#dispatch();
  }

  #dispatch(): StreamEvent[] {
    if (this.#data.length === 0) return [];
    const data = this.#data.join('\n');
    this.#data = [];
    if (data.trim() === '[DONE]') return [{ type: 'done', stats: { ...this.#stats } }];
    const parsed = parseJson(data);
    if (!parsed.ok || !isRecord(parsed.value)) return [{ type: 'invalid', detail: `event data is not a JSON object (${data.length} chars)` }];
    const o = parsed.value;
    const error = errorText(o.error);
    if (error !== undefined) return [{ type: 'error', message: error }];
    if (isRecord(o.usage)) {
      const n = num(o.usage.completion_tokens);
      if (n !== undefined) this.#stats.evalCount = n;
    }
    if (isRecord(o.timings)) {
      const tps = num(o.timings.predicted_per_second);
      if (tps !== undefined) this.#stats.tokensPerSec = tps;
    }
    const choice = Array.isArray(o.choices) ? (o.choices[0] as unknown) : undefined;
    if (!isRecord(choice)) return [];
    const delta = isRecord(choice.delta) ? choice.delta : undefined;
    const content = delta ? delta.content : choice.text;
    // Ollama and current vLLM say `reasoning`; llama.cpp and older vLLM say `reasoning_content`.
    const reasoning = delta ? (delta.reasoning ?? delta.reasoning_content) : undefined;
    const events: StreamEvent[] = [];
    if (typeof reasoning === 'string' && reasoning !== '') events.push({ type: 'thinking', text: reasoning });
    if (typeof content === 'string' && content !== '') events.push({ type: 'content', text: content });
    return events;
  }
}
