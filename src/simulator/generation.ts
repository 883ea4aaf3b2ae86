import type { ModelInfo, ModelRegistry } from './models';
import type { Slots } from './slots';
import { nowNs, nsSince, wait } from './time';

/** What a thinking model "thinks" before answering; it costs num_predict tokens like real reasoning does. */
const THINKING_TEXT = 'The user wants a short reply. I will answer with exactly the expected text.';
export const WRONG_ANSWER = 'I cannot help with that.';
/** An endless stream ticks at a steady ~20 ms whatever the token delay, so it is cheap and easy to watch. */
export const ENDLESS_INTERVAL_MS = 20;
/** What Ollama answers when a load is cancelled under a waiting request (llm/llama_server.go). */
export const LOAD_CANCELED = 'timed out waiting for llama-server to start: context canceled';
/** Ollama's text when the runner dies (llm/llama_server.go); reused for mid-stream errors. */
export const RUNNER_STOPPED =
  'model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details';

/**
 * How a fault bends generation:
 * - `endless`: tokens never stop; `done` never comes.
 * - `mid_stream_error`: a few tokens, then the stream carries an error instead of `done`.
 * - `invalid_utf8`: content tokens carry bytes that are not UTF-8.
 */
export type GenerationMode = 'normal' | 'wrong_answer' | 'empty_answer' | 'endless' | 'mid_stream_error' | 'invalid_utf8';

export interface Token {
  kind: 'thinking' | 'content';
  text: string;
}

/**
 * Splits text into model-like pieces: every word (with its leading space) becomes pieces of at most three
 * characters, so "PONG" streams as "PO", "NG".
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\s*\S+|\s+/g)) {
    const word = m[0];
    const lead = /^\s*/.exec(word)?.[0] ?? '';
    const core = word.slice(lead.length);
    if (core === '') {
      out.push(word);
      continue;
    }
    const pieces = Math.ceil(core.length / 3);
    const size = Math.ceil(core.length / pieces);
    for (let i = 0; i < core.length; i += size) out.push((i === 0 ? lead : '') + core.slice(i, i + size));
  }
  return out;
}

/**
 * Marks a place where the wire encoders put raw invalid bytes. A private-use character survives
 * JSON.stringify unescaped, so it can be swapped for bytes after encoding.
 */
export const INVALID_MARK = '\uE000';
const INVALID_MARK_BYTES = Buffer.from(INVALID_MARK, 'utf8');
const INVALID_BYTES = Buffer.from([0xff, 0xfe]);

/** Encodes text to bytes, replacing every INVALID_MARK with bytes that can never be UTF-8. */
export function encodeWithInvalid(text: string): Buffer {
  const raw = Buffer.from(text, 'utf8');
  if (!text.includes(INVALID_MARK)) return raw;
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = raw.indexOf(INVALID_MARK_BYTES); at >= 0; at = raw.indexOf(INVALID_MARK_BYTES, from)) {
    parts.push(raw.subarray(from, at), INVALID_BYTES);
    from = at + INVALID_MARK_BYTES.length;
  }
  parts.push(raw.subarray(from));
  return Buffer.concat(parts);
}

export interface GenerationJob {
  model: ModelInfo;
  answer: string;
  think: boolean;
  /**
   * Where reasoning goes: a separate field (`field`: Ollama ≥ 0.9, llama.cpp, vLLM with a reasoning parser)
   * or inline in the content as `<think>…</think>` (`inline`: Ollama before 0.9). Default `field`.
   */
  thinkStyle?: 'field' | 'inline';
  /** The prompt carries qwen3's `/no_think`: a thinking model writes an empty think block, then answers. */
  softOff?: boolean;
  /** Positive token limit (thinking tokens count too), or undefined for none. */
  limit: number | undefined;
  keepAliveMs: number;
  promptTokens: number;
  mode: GenerationMode;
  /** Handler entry, for total_duration and load_duration. */
  startNs: bigint;
  /**
   * An app's long draft (the load generator's `x-simulator-draft-ms` header): filler tokens at the node's pace
   * for this long after the first one, whatever the answer; the canary never sends it.
   */
  draftMs?: number;
}

/** The request header the load generator uses to ask the simulator for a draft of a given length. */
export const DRAFT_HEADER = 'x-simulator-draft-ms';

/** The draft length a request asks for (whole ms, at most an hour), or undefined. */
export function draftMsOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const v = headers[DRAFT_HEADER];
  const n = typeof v === 'string' && /^\d{1,7}$/.test(v) ? Number(v) : undefined;
  return n !== undefined && n <= 3_600_000 ? n : undefined;
}

const DRAFT_TEXT = tokenize(' Dear Ms Rivera, thank you for your time on Tuesday. Here is the follow-up we promised, with the figures.');

function* draftTokens(): Generator<Token, 'stop' | 'length'> {
  for (let i = 0; ; i++) yield { kind: 'content', text: DRAFT_TEXT[i % DRAFT_TEXT.length] as string };
}

export interface GenerationResult {
  doneReason: 'stop' | 'length';
  totalNs: number;
  loadNs: number;
  promptCount: number;
  promptNs: number;
  evalCount: number;
  evalNs: number;
}

/** How a generation ended: normally with metrics, with a mid-stream error, or cut off (client gone, load abandoned). */
export type GenerationEnd = { kind: 'done'; result: GenerationResult } | { kind: 'error'; message: string } | { kind: 'aborted'; loadFailed: boolean };

function* plannedTokens(job: GenerationJob): Generator<Token, 'stop' | 'length'> {
  const answer = job.mode === 'wrong_answer' ? WRONG_ANSWER : job.mode === 'empty_answer' ? '' : job.answer;
  const content = tokenize(answer);
  if (job.mode === 'endless') {
    // Cycle the answer forever (a single space if it is empty) so the stream has something to carry.
    const cycle = content.length ? content : [' '];
    for (let i = 0; ; i++) yield { kind: 'content', text: cycle[i % cycle.length] as string };
  }
  const thinks = job.think && job.mode !== 'empty_answer';
  const inline = job.thinkStyle === 'inline';
  const soft = thinks && job.softOff === true && job.model.softSwitch;
  const thinking = thinks && !soft ? tokenize(THINKING_TEXT) : [];
  const asContent = (text: string): Token => ({ kind: 'content', text });
  // qwen3 writes <think>, its reasoning, </think> and a blank line; with /no_think the block is empty. A
  // server with a reasoning parser strips the tags and sends the reasoning apart.
  const block: Token[] = inline
    ? thinks
      ? [asContent('<think>'), ...(soft ? [asContent('\n\n')] : thinking.map(asContent)), asContent('</think>'), asContent('\n\n')]
      : []
    : thinking.map((text): Token => ({ kind: 'thinking', text }));
  const all: Token[] = [
    ...block,
    ...content.map((text): Token => ({ kind: 'content', text: job.mode === 'invalid_utf8' ? text + INVALID_MARK : text })),
  ];
  const stopAt = job.mode === 'mid_stream_error' ? Math.max(1, Math.min(3, all.length - 1)) : all.length;
  let emitted = 0;
  for (const token of all.slice(0, stopAt)) {
    if (job.limit !== undefined && emitted >= job.limit) return 'length';
    yield token;
    emitted++;
  }
  return 'stop';
}

/**
 * Runs one simulated generation: obtain the model (cold load if needed), "evaluate the prompt", then emit
 * tokens one `tokenDelayMs` apart. Yields tokens; returns how it ended. Durations are measured, so
 * eval_count / eval_duration matches the pace the client actually saw.
 */
export async function* runGeneration(
  job: GenerationJob,
  registry: ModelRegistry,
  tokenDelayMs: number,
  signal: AbortSignal,
  slots?: Slots,
): AsyncGenerator<Token, GenerationEnd> {
  const acquired = await registry.acquire(job.model, job.keepAliveMs, signal);
  if (!acquired) return { kind: 'aborted', loadFailed: !signal.aborted };
  let slot = false;
  try {
    // load_duration ends here: the wait for a slot below is in total_duration only (llm/llama_server.go
    // acquires the semaphore in Completion, after the scheduler has loaded the model).
    const loadNs = nsSince(job.startNs);
    slot = slots ? await slots.acquire(signal) : true;
    if (!slot) return { kind: 'aborted', loadFailed: false };
    const promptStart = nowNs();
    await wait(tokenDelayMs, signal);
    const promptNs = nsSince(promptStart);
    const evalStart = nowNs();
    const draft = job.draftMs !== undefined && job.mode === 'normal' ? job.draftMs : undefined;
    const plan = draft !== undefined ? draftTokens() : plannedTokens(job);
    const pace = job.mode === 'endless' ? ENDLESS_INTERVAL_MS : tokenDelayMs;
    let evalCount = 0;
    for (let step = plan.next(); ; step = plan.next()) {
      if (draft !== undefined && evalCount > 0 && nsSince(evalStart) / 1e6 >= draft) step = { done: true, value: 'stop' };
      if (job.limit !== undefined && draft !== undefined && evalCount >= job.limit) step = { done: true, value: 'length' };
      if (step.done) {
        if (job.mode === 'mid_stream_error') return { kind: 'error', message: RUNNER_STOPPED };
        const evalNs = evalCount ? nsSince(evalStart) : 0;
        return {
          kind: 'done',
          result: { doneReason: step.value, totalNs: nsSince(job.startNs), loadNs, promptCount: job.promptTokens, promptNs, evalCount, evalNs },
        };
      }
      await wait(pace, signal);
      // A hung runner keeps its slot and sends nothing until it is cleared or the client leaves.
      if (slots?.stalled) await slots.whileStalled(signal);
      if (signal.aborted) return { kind: 'aborted', loadFailed: false };
      evalCount++;
      yield step.value;
    }
  } finally {
    if (slot) slots?.release();
    registry.release(job.model, job.keepAliveMs);
  }
}

/** Drives a generation to its end and gathers the text (for `stream:false`). */
export async function collectGeneration(gen: AsyncGenerator<Token, GenerationEnd>): Promise<{ content: string; thinking: string; end: GenerationEnd }> {
  let content = '';
  let thinking = '';
  for (;;) {
    const step = await gen.next();
    if (step.done) return { content, thinking, end: step.value };
    if (step.value.kind === 'thinking') thinking += step.value.text;
    else content += step.value.text;
  }
}
