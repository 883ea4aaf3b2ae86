/**
 * Public types of the Ollama simulator. They live apart from index.ts so the internal modules can share them
 * without importing the entry point.
 */

export const FAULTS = [
  'none',
  'refuse',
  'reset',
  'hang',
  'slow_first_token',
  'stall_mid_stream',
  'slowloris',
  'endless_stream',
  'huge_body',
  'cf_tunnel_down',
  'cf_origin_unreachable',
  'cf_timeout',
  'cf_challenge',
  'cf_waf_block',
  'cf_rate_limit',
  'access_redirect',
  'access_401',
  'forbidden_host',
  'html_200',
  'redirect_loop',
  'server_error',
  'busy',
  'mid_stream_error',
  'wrong_answer',
  'empty_answer',
  'model_missing',
  'bad_json',
  'truncated_json',
  'invalid_utf8',
] as const;

/**
 * A failure the simulator can show. See docs/simulator.md for what each one looks like on the wire.
 * - `refuse`: the listening socket is closed (ECONNREFUSED); clearing it re-listens on the same port.
 * - `reset`: the connection is accepted, then reset (ECONNRESET).
 * - `hang`: the request is read and never answered.
 * - `slow_first_token`: generation routes send nothing until `delayMs` (default 10000) has passed.
 * - `stall_mid_stream`: headers and a first chunk, then silence forever.
 * - `slowloris`: headers at once, then the body one byte per second (or per `delayMs`).
 * - `endless_stream`: generation streams never send `done`.
 * - `huge_body`: a 200 JSON body of 50 MB, streamed.
 * - `cf_tunnel_down` / `cf_origin_unreachable` / `cf_timeout`: Cloudflare 530 (1033) / 502 / 524 pages.
 * - `cf_challenge` / `cf_waf_block` / `cf_rate_limit`: Cloudflare's protections: a Managed Challenge (403,
 *   `cf-mitigated: challenge`), a WAF block (403, error 1020), a rate limit (429, error 1015, `Retry-After: 30`).
 * - `access_redirect` / `access_401`: Cloudflare Access login redirect / 401.
 * - `forbidden_host`: Ollama's own 403 with an empty body (Host header not allowed).
 * - `html_200`: a 200 HTML login-ish page on every route.
 * - `redirect_loop`: 302 to the same URL.
 * - `server_error` / `busy`: Ollama's real 500 and 503 error bodies.
 * - `mid_stream_error`: a few chunks, then an error line; the stream ends without `done` (SSE: without [DONE]).
 * - `wrong_answer` / `empty_answer`: generation completes with the wrong text / no text.
 * - `model_missing`: the installed models vanish (tags, /v1/models, chat, generate, show).
 * - `bad_json` / `truncated_json` / `invalid_utf8`: broken payloads.
 */
export type Fault = (typeof FAULTS)[number];

export type FaultScope = 'all' | 'generation' | 'liveness';

export interface FaultOptions {
  /** Used by `slow_first_token` (default 10000), `cf_timeout` (default 0) and `slowloris` (ms per byte, default 1000). */
  delayMs?: number;
  /**
   * Which routes the fault applies to: 'all' (default), 'generation' (chat/generate/v1 chat only),
   * 'liveness' (/, version, tags, ps, v1/models only). Connection-level `refuse` ignores it.
   */
  scope?: FaultScope;
  /**
   * Cloudflare's error pages (cf_* faults): 'negotiate' (default) answers as Cloudflare does, JSON for
   * `Accept: application/json`; 'html' sends the HTML page whatever Accept asks (a zone with a custom Error Page,
   * which Cloudflare serves without negotiation, or a zone before the 2026-03 JSON rollout).
   */
  format?: 'negotiate' | 'html';
}

/**
 * Which server the simulator plays (docs/simulator.md "Flavours"):
 * - `ollama`: current Ollama (think / reasoning_effort honoured; thinking in message.thinking / delta.reasoning).
 * - `ollama-legacy`: Ollama before 0.9 (version 0.6.8): `think` and `reasoning_effort` are ignored and a
 *   thinking model writes `<think>…</think>` inline in the content.
 * - `llamacpp`: llama.cpp's llama-server: no /api/* routes, `server: llama.cpp`, owned_by "llamacpp",
 *   `chat_template_kwargs.enable_thinking`, reasoning in delta.reasoning_content.
 * - `vllm`: vLLM's OpenAI server: no /api/* routes, `server: uvicorn`, owned_by "vllm",
 *   `chat_template_kwargs.enable_thinking`, reasoning in delta.reasoning.
 * Every flavor's thinking model honours qwen3's `/no_think` soft switch (an empty think block, then the answer).
 */
export const FLAVORS = ['ollama', 'ollama-legacy', 'llamacpp', 'vllm'] as const;
export type SimFlavor = (typeof FLAVORS)[number];

export interface SimulatorOptions {
  /** Default 'ollama'. */
  flavor?: SimFlavor;
  /** An older server that validates strictly: any thinking knob (think, reasoning_effort, chat_template_kwargs) is answered 400. */
  rejectThinkingKnob?: boolean;
  /** 0 / undefined = a random free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Installed models, default ['llama3.2']. */
  models?: string[];
  /** Default 'PONG'. */
  answer?: string;
  /** Delay between streamed tokens, default 5. */
  tokenDelayMs?: number;
  /**
   * Simulated cold load on the first request for a model that is not loaded (reported as load_duration),
   * default 0. A model stays loaded for its keep_alive.
   */
  loadMs?: number;
  /** Reported by /api/version, default '0.12.6' ('0.6.8' for ollama-legacy). */
  version?: string;
  /**
   * Memory for models, in bytes (default unlimited). A model that does not fit beside the loaded ones evicts
   * the least recently used idle one first, like Ollama's scheduler (docs/simulator.md "Memory").
   */
  memoryBytes?: number;
  /** Model sizes in bytes by name (default: ~0.63 bytes per parameter from the tag, e.g. 8b → 5.05 GB). */
  modelSizes?: Record<string, number>;
  /**
   * Generations served at once, like OLLAMA_NUM_PARALLEL (src/simulator/slots.ts): the rest wait in FIFO order
   * after the model load, in total_duration only, with no header sent; a client that leaves leaves the queue.
   * Default 0 = no limit.
   */
  parallel?: number;
  /**
   * The busy signals llama.cpp and vLLM expose (src/simulator/busy-endpoints.ts): llama.cpp `GET /slots`
   * (default on; off answers 501 as with --no-slots) and `GET /metrics` (default off on llama.cpp, as without
   * --metrics; on for vLLM).
   */
  busyEndpoints?: { slots?: boolean; metrics?: boolean };
}

export interface Simulator {
  /** e.g. http://127.0.0.1:43123 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly fault: Fault;
  /** Resolves once in effect (e.g. socket closed for 'refuse', re-listening for anything else). */
  setFault(fault: Fault, opts?: FaultOptions): Promise<void>;
  setAnswer(text: string): void;
  /** Changes the pace of generation from now on: a node that turns slow (first token and every token) without failing. */
  setTokenDelay(ms: number): void;
  /**
   * Beside the fault in force, each liveness request (/, version, tags, ps, v1/models) independently goes
   * unanswered (like `hang`) with probability `rate`, from a seeded PRNG; 0 turns it off.
   */
  setFlakyLiveness(rate: number, seed?: number): void;
  /** Changes the number of generation slots (0 = no limit). */
  setParallel(n: number): void;
  /**
   * A hung runner: generations holding a slot stop producing tokens (keeping their slot, so the rest queue)
   * until cleared; liveness still answers.
   */
  setRunnerStalled(on: boolean): void;
  /** Generation slots now: how many, how many generate, how many wait, whether the runner is stalled. */
  readonly slots: { parallel: number; running: number; queued: number; stalled: boolean };
  /** Total requests received (connections reset or refused before a request arrived are not counted). */
  readonly requestCount: number;
  /** Requests received for a path (without query string). */
  requestsTo(path: string): number;
  lastRequestHeaders(): Record<string, string | string[] | undefined> | undefined;
  /** The body of the last request to a path, parsed (undefined when none or not JSON). */
  lastRequestBody(path: string): unknown;
  /** Load requests (empty prompt or messages, keep_alive ≠ 0) and real generations served, per model. */
  readonly loads: ReadonlyArray<{ model: string; keepAlive: unknown; options: unknown; at: number }>;
  readonly generations: number;
  /** Every model load (a model brought into memory) with the models it evicted to make room. */
  readonly modelLoads: ReadonlyArray<{ model: string; at: number; evicted: string[] }>;
  /** Unloads models from memory behind the monitor's back (all, or the ones named), like memory pressure or a restart. */
  unload(names?: string[]): void;
  /** Models in memory now (what /api/ps lists). */
  loaded(): string[];
  /** Closes the server AND destroys every open socket (hung and endless ones too). */
  close(): Promise<void>;
}
