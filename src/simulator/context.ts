import type { IncomingHttpHeaders } from 'node:http';
import type { GenerationMode } from './generation';
import type { ModelInfo, ModelRegistry } from './models';
import type { Slots } from './slots';
import type { SimFlavor } from './types';
import type { Reply } from './wire';

/** The simulator's live settings, read by handlers on every request. */
export interface SimSettings {
  readonly flavor: SimFlavor;
  readonly rejectThinkingKnob: boolean;
  /** Bookkeeping for tests: load requests and generations served. */
  readonly record: { load(model: string, keepAlive: unknown, options: unknown): void; generation(): void };
  readonly registry: ModelRegistry;
  /** Generation slots (`--parallel`): the FIFO wait every generation passes after the model load. */
  readonly slots: Slots;
  /** llama.cpp's /slots and llama.cpp's or vLLM's /metrics answer (busy-endpoints.ts). */
  readonly busyEndpoints: { readonly slots: boolean; readonly metrics: boolean };
  /** Changed at run time by setTokenDelay (a node that becomes slow without failing). */
  tokenDelayMs: number;
  readonly version: string;
  answer(): string;
}

/** Everything a route handler needs about one request. */
export interface RequestContext {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Aborts when the client goes away or the simulator closes. */
  signal: AbortSignal;
  /** Handler entry, monotonic ns. */
  startNs: bigint;
  sim: SimSettings;
  /** Set by a generation fault (wrong_answer, endless_stream, …). */
  mode: GenerationMode;
  /** Set by `model_missing`: installed models are invisible to this request. */
  modelsHidden: boolean;
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

export function findModel(ctx: RequestContext, name: string): ModelInfo | undefined {
  return ctx.modelsHidden ? undefined : ctx.sim.registry.find(name);
}

export function listModels(ctx: RequestContext): ModelInfo[] {
  return ctx.modelsHidden ? [] : ctx.sim.registry.list();
}
