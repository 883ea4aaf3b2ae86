import type { NodeConfig } from '../config';
import type { ServerDurations } from '../core/busy';
import { sameModel } from '../core/keep-warm';
import { describePlan, planThinking, type Flavor, type ThinkingPlan } from '../core/flavor';
import { judgeAnswer } from '../core/thinking';
import { formatDuration } from '../util/duration';
import { classifyHttp, classifyNetworkError, clip } from './classify';
import { discard, getJson, guard, isFailure, judgeError, readCapped, runProbe, send, type Outcome, type ProbeContext, type ProbeRun, type ProbeSettings, type Reply } from './http';
import { LineDecoder, NdjsonParser, SseParser, type DoneStats, type StreamEvent, type StreamParser } from './stream';
import type { ProbeResult } from './types';
import { NO_SIGNAL, type BusyReading } from '../core/busy-signal';
import { hasBusySignal, readMetricsBeside, readSlotsBefore } from './busy-signal';

/**
 * Canary: a real, streamed, tiny generation with a known answer. It proves the model loads and generates,
 * and measures time to first byte, time to first token and generation speed. Three deadlines apply:
 * connect (the Agent), first token and the whole probe (both timers on the probe's Deadline).
 */

interface StreamState {
  text: string;
  /** Reasoning from a separate field (message.thinking, delta.reasoning, delta.reasoning_content). */
  reasoning: string;
  /** Complete (newline-terminated) lines seen. */
  lines: number;
  contentChunks: number;
  bytes: number;
  firstTokenAt?: number;
  lastTokenAt?: number;
  done?: DoneStats;
}

/** What the daemon (or `check`) knows about the node's server; without it the canary plays safe. */
export interface ServerView {
  flavor: Flavor;
  /** The node answered the thinking knob with 400 before: leave it out. */
  knobRejected: boolean;
  /** The node was cut off while thinking although the knob was sent: add /no_think and the larger budget. */
  thinksAnyway?: boolean;
}

const UNKNOWN_SERVER: ServerView = { flavor: 'unknown', knobRejected: false };

const isOllama = (server: ServerView): boolean => server.flavor === 'ollama' || server.flavor === 'ollama-legacy';

/**
 * The API the canary speaks. A node configured `api: openai` on a server known to be Ollama (its /api/version
 * answered liveness, so /api/* is reachable) gets the native /api/chat: /v1 carries no durations, and without
 * them a wait for a generation slot cannot be told from slowness (docs/busy.md).
 */
export function canaryApi(node: NodeConfig, server: ServerView = UNKNOWN_SERVER): NodeConfig['api'] {
  return node.api === 'openai' && isOllama(server) ? 'ollama' : node.api;
}

export function canaryPlan(node: NodeConfig, settings: ProbeSettings, server: ServerView = UNKNOWN_SERVER): ThinkingPlan {
  const c = settings.canary;
  return planThinking({ api: canaryApi(node, server), flavor: server.flavor, knobRejected: server.knobRejected, thinksAnyway: server.thinksAnyway, prompt: c.prompt, maxTokens: c.maxTokens, thinkingBudget: c.thinkingBudget });
}

function requestFor(node: NodeConfig, server: ServerView, model: string, settings: ProbeSettings, plan: ThinkingPlan, loadedCtx?: number): { path: string; json: unknown; accept: string; expect: 'ndjson' | 'sse' } {
  const c = settings.canary;
  const messages = [{ role: 'user', content: plan.prompt }];
  if (canaryApi(node, server) === 'openai') {
    const knob = plan.knob === 'reasoning_effort' ? { reasoning_effort: 'none' } : plan.knob === 'chat_template_kwargs' ? { chat_template_kwargs: { enable_thinking: false } } : {};
    return {
      path: '/v1/chat/completions',
      accept: 'text/event-stream, application/json;q=0.9',
      expect: 'sse',
      json: { model, messages, stream: true, max_tokens: plan.maxTokens, temperature: 0, stream_options: { include_usage: true }, ...knob },
    };
  }
  const options: Record<string, number> = { temperature: 0, num_predict: plan.maxTokens };
  // The same num_ctx as the apps (and the keep-warm loads): a different one makes Ollama reload the model.
  // Without numCtx, the context the loaded runner has (/api/ps context_length): any other makes Ollama wait for
  // the apps' requests to drain and reload the model (needsReload), which the apps would pay for.
  const numCtx = c.numCtx ?? loadedCtx;
  if (numCtx !== undefined) options.num_ctx = numCtx;
  return {
    path: '/api/chat',
    // Ollama ignores Accept; asking for JSON makes Cloudflare's own error pages RFC 9457 JSON.
    accept: 'application/json',
    expect: 'ndjson',
    // On a node the apps use through /v1 the canary sends no keep_alive, like the apps' own requests (/v1
    // cannot set one): Ollama's default applies and the model's keep_alive is left as the apps have it.
    json: { model, messages, stream: true, ...(plan.knob === 'think' ? { think: false } : {}), ...(node.api === 'ollama' ? { keep_alive: c.keepAlive } : {}), options },
  };
}

/** Applies parser events to the state; returns 'done', a failure, or undefined to keep reading. */
function apply(run: ProbeRun, state: StreamState, events: StreamEvent[]): 'done' | Outcome | undefined {
  for (const ev of events) {
    switch (ev.type) {
      case 'content':
      case 'thinking':
        // A thinking token is a token: the server is generating, so the first-token clock stops.
        if (state.firstTokenAt === undefined) {
          state.firstTokenAt = run.since();
          run.deadline.disarm('first_token');
        }
        state.lastTokenAt = run.since();
        if (ev.type === 'content') state.text += ev.text;
        else state.reasoning += ev.text;
        state.contentChunks += 1;
        break;
      case 'error':
        return { reason: 'stream_error', detail: `error mid-stream: ${ev.message}` };
      case 'invalid':
        // Chosen: malformed content is bad_response; stream_error is for streams cut short or reporting an error.
        return { reason: 'bad_response', detail: ev.detail };
      case 'done':
        state.done = ev.stats;
        return 'done';
    }
  }
  return undefined;
}

/** Reads the stream until its end marker, a failure, the byte cap or a deadline. */
async function readStream(run: ProbeRun, reply: Reply, parser: StreamParser, state: StreamState): Promise<Outcome | undefined> {
  const cap = run.settings.maxResponseBytes;
  const lines = new LineDecoder();
  const notUtf8: Outcome = { reason: 'bad_response', detail: 'stream is not valid UTF-8' };
  guard(reply.body);
  try {
    for await (const chunk of reply.body) {
      const buf = chunk as Buffer;
      if (state.bytes + buf.length > cap) {
        state.bytes = cap;
        return { reason: 'too_large', detail: `stream passed maxResponseBytes (${cap} bytes) without finishing; stopped reading` };
      }
      state.bytes += buf.length;
      const decoded = lines.push(buf);
      if (decoded === undefined) return notUtf8;
      for (const line of decoded) {
        state.lines += 1;
        const r = apply(run, state, parser.line(line));
        if (r === 'done') return undefined; // leaving the loop destroys whatever follows
        if (r) return r;
      }
    }
  } catch (err) {
    const fired = run.deadline.verdict();
    if (fired) return fired;
    return { reason: 'stream_error', detail: `stream cut after ${state.bytes} bytes: ${classifyNetworkError(err).detail}` };
  }
  // The stream ended. What is still buffered is an unterminated last line. If it does not parse after
  // complete lines went before, the stream was cut inside it: stream_error. If it is all there was, the
  // reply itself is malformed: bad_response.
  const cutShort = state.lines > 0;
  const cut: Outcome = { reason: 'stream_error', detail: `stream cut mid-line after ${state.bytes} bytes, without its end marker` };
  const rest = lines.end();
  if (rest === undefined) return cutShort ? cut : notUtf8;
  for (const events of [...rest.map((line) => parser.line(line)), parser.end()]) {
    const r = apply(run, state, events);
    if (r === 'done') return undefined;
    if (r) return r.reason === 'bad_response' && cutShort ? cut : r;
  }
  const marker = parser instanceof SseParser ? 'data: [DONE]' : 'a done:true line';
  return { reason: 'stream_error', detail: `stream ended after ${state.bytes} bytes without ${marker}` };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Server timing first (eval_count over eval_duration); else tokens over the time since the first token. */
function speed(stats: DoneStats, state: StreamState, totalMs: number): number | undefined {
  if (stats.tokensPerSec !== undefined) return round1(stats.tokensPerSec);
  if (stats.evalCount !== undefined && stats.evalDurationNs !== undefined && stats.evalDurationNs > 0) {
    return round1(stats.evalCount / (stats.evalDurationNs / 1e9));
  }
  const tokens = stats.evalCount ?? state.contentChunks;
  const streamingMs = state.firstTokenAt === undefined ? 0 : totalMs - state.firstTokenAt;
  return tokens > 0 && streamingMs > 0 ? round1(tokens / (streamingMs / 1000)) : undefined;
}

/** The final chunk's durations, as sent (core/busy judges whether to believe them). */
function durationsOf(stats: DoneStats): ServerDurations | undefined {
  if (stats.totalDurationNs === undefined && stats.evalDurationNs === undefined) return undefined;
  return { totalNs: stats.totalDurationNs, loadNs: stats.loadDurationNs, promptEvalNs: stats.promptEvalDurationNs, evalNs: stats.evalDurationNs };
}

/**
 * The context length the node's runner for `model` was loaded with (/api/ps `context_length`, Ollama ≥ 0.11),
 * or undefined: not loaded, an older Ollama, or /api/ps not answering (the canary then sends none, as before).
 */
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function loadedContext(run: ProbeRun, model: string): Promise<number | undefined> {
  const ps = await getJson(run, '/api/ps');
  if (isFailure(ps) || !isRecord(ps.value) || !Array.isArray(ps.value.models)) return undefined;
  for (const m of ps.value.models as unknown[]) {
    const names = isRecord(m) ? [m.name, m.model].filter((n): n is string => typeof n === 'string') : [];
    if (!isRecord(m) || !names.some((n) => sameModel(n, model))) continue;
    const n = m.context_length;
    return typeof n === 'number' && Number.isInteger(n) && n >= 256 && n <= 1_048_576 ? n : undefined;
  }
  return undefined;
}

/** Hooks for the busy-signal read beside the canary (probes/busy-signal.ts). */
interface Beside {
  /** Awaited before the canary's clock starts (not in its timings). */
  before(): Promise<void>;
  /** Called just before the generation request is sent. */
  sending(): void;
  /** The stream's state, once it exists (its firstTokenAt says whether the canary still waits). */
  state?: StreamState;
}

/**
 * On llama.cpp and vLLM the server's busy signal is read beside the canary: llama.cpp's /slots just before it,
 * else /metrics while it waits for its first token. The reading goes with the result (`busySignal`), whatever
 * the canary's outcome, and never fails it.
 */
async function canary(run: ProbeRun, server: ServerView): Promise<Outcome> {
  if (!hasBusySignal(server.flavor)) return canaryBody(run, server);
  let markEnded: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  let slots: BusyReading = NO_SIGNAL;
  let metrics: Promise<BusyReading> | undefined;
  const beside: Beside = {
    before: async () => {
      slots = await readSlotsBefore(run, server.flavor);
    },
    sending: () => {
      if (slots.signal === 'none') metrics ??= readMetricsBeside(run, server.flavor, () => beside.state?.firstTokenAt === undefined, ended);
    },
  };
  const outcome = await canaryBody(run, server, beside);
  markEnded();
  return { ...outcome, busySignal: slots.signal !== 'none' ? slots : metrics ? await metrics : NO_SIGNAL };
}

async function canaryBody(run: ProbeRun, server: ServerView, beside?: Beside): Promise<Outcome> {
  const c = run.settings.canary;
  const firstTokenMs = c.firstTokenTimeout ?? c.timeout;
  if (firstTokenMs < c.timeout) run.deadline.arm('first_token', firstTokenMs);
  const model = run.node.model;
  if (model === undefined) return { reason: 'model_missing', detail: 'no model configured and none discovered yet (see liveness)' };
  let plan = canaryPlan(run.node, run.settings, server);
  // Read before the clock of the generation starts: its time is taken off every timing below.
  // Only on a server known to be Ollama (liveness said so): /api/ps is Ollama's own route.
  const loadedCtx = isOllama(server) && c.numCtx === undefined ? await loadedContext(run, model) : undefined;
  await beside?.before();
  const offset = run.since();
  let req = requestFor(run.node, server, model, run.settings, plan, loadedCtx);

  const state: StreamState = { text: '', reasoning: '', lines: 0, contentChunks: 0, bytes: 0 };
  if (beside) {
    beside.state = state;
    beside.sending();
  }
  let reply = await send(run, req.path, { method: 'POST', accept: req.accept, json: req.json });
  if (!isFailure(reply) && reply.status === 400 && plan.knob !== 'none') {
    // An older server that validates strictly (vLLM before chat_template_kwargs, say) refuses the knob:
    // ask once more without it. The daemon remembers this for the node (result.thinking.knobRejected).
    discard(reply.body);
    plan = canaryPlan(run.node, run.settings, { ...server, knobRejected: true });
    req = requestFor(run.node, server, model, run.settings, plan, loadedCtx);
    reply = await send(run, req.path, { method: 'POST', accept: req.accept, json: req.json });
  }
  const thinking = { knob: plan.knob, knobRejected: plan.knobRejected, thought: false };
  if (isFailure(reply)) return reply.reason === 'timeout' ? { ...reply, detail: `${reply.detail}; no response headers yet`, thinking } : { ...reply, thinking };
  if (reply.status < 200 || reply.status >= 300) return { ...(await judgeError(run, reply, req.path, req.expect)), thinking };
  const facts = { httpStatus: reply.status, ttfbMs: reply.ttfbMs - offset, thinking };
  const shape = classifyHttp({ status: reply.status, headers: reply.headers, expect: req.expect, path: req.path });
  if (shape.reason === 'not_ollama') {
    discard(reply.body);
    return { ...shape, ...facts };
  }
  if (shape.reason !== 'ok') {
    // A 200 of the wrong type (e.g. JSON where a stream was asked for): read it, bounded, so a huge one is
    // reported as too_large like any other.
    const read = await readCapped(run, reply.body, run.settings.maxResponseBytes);
    if (isFailure(read)) return { ...read, ...facts };
    if (read.truncated) return { reason: 'too_large', detail: `reply to ${req.path} is larger than maxResponseBytes (${run.settings.maxResponseBytes} bytes); stopped reading`, ...facts };
    return { ...shape, ...facts };
  }

  const failed = await readStream(run, reply, req.expect === 'sse' ? new SseParser() : new NdjsonParser(), state);
  const totalMs = run.since() - offset;
  const ttftMs = state.firstTokenAt === undefined ? undefined : state.firstTokenAt - offset;
  const verdict = judgeAnswer({ content: state.text, reasoning: state.reasoning, evalCount: state.done?.evalCount, maxTokens: plan.maxTokens });
  const shown = verdict.kind === 'answer' ? verdict.text : state.text;
  const answer = clip(shown, 200) || undefined;
  if (failed) {
    const noToken = failed.reason === 'timeout' && ttftMs === undefined && run.deadline.fired?.kind === 'probe';
    const detail = noToken ? `no first token within ${formatDuration(c.timeout)} (deadline)` : failed.detail;
    return { ...failed, detail, ...facts, ttftMs, lastTokenMs: state.lastTokenAt === undefined ? undefined : state.lastTokenAt - offset, answer };
  }

  const stats = state.done ?? {};
  const measured = {
    ...facts,
    thinking: { ...thinking, thought: verdict.kind === 'answer' ? verdict.thought : verdict.kind === 'thinking_budget' || verdict.thought },
    ttftMs,
    totalMs,
    tokensPerSec: speed(stats, state, totalMs + offset),
    loadMs: stats.loadDurationNs === undefined ? undefined : round1(stats.loadDurationNs / 1e6),
    evalCount: stats.evalCount ?? (req.expect === 'sse' ? state.contentChunks : undefined),
    durations: durationsOf(stats),
    answer,
  };
  if (verdict.kind === 'thinking_budget') {
    const fix =
      plan.maxTokens >= c.thinkingBudget
        ? 'raise probes.canary.thinkingBudget, or use a server/model whose thinking can be switched off'
        : 'the server ignored the knob (llama-server needs --jinja; some models only take levels): the next canaries add /no_think and thinkingBudget';
    return { reason: 'thinking_budget', detail: clip(`the model was still thinking when the canary's ${plan.maxTokens} tokens ran out (${describePlan(plan)}): ${fix}`), ...measured };
  }
  if (verdict.kind === 'empty') return { reason: 'empty_answer', detail: `model finished with an empty answer after ${formatDuration(totalMs)}`, ...measured };
  if (!c.expect.test(verdict.text)) {
    return { reason: 'wrong_answer', detail: clip(`answer ${JSON.stringify(clip(verdict.text, 80))} does not match ${c.expect.source}`), ...measured };
  }
  const tps = measured.tokensPerSec === undefined ? '' : `, ${measured.tokensPerSec} tok/s`;
  const thought = measured.thinking.thought ? ', thinking stripped' : '';
  return { reason: 'ok', detail: clip(`answered ${JSON.stringify(clip(verdict.text, 60))} in ${formatDuration(totalMs)} (first token ${formatDuration(ttftMs ?? totalMs)}${tps}${thought})`), ...measured };
}

export function probeCanary(node: NodeConfig, settings: ProbeSettings, ctx: ProbeContext = {}, server?: ServerView): Promise<ProbeResult> {
  return runProbe('canary', node, settings, ctx, settings.canary.timeout, (run) => canary(run, server ?? UNKNOWN_SERVER));
}
