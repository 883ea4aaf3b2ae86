/**
 * The simulator's HTTP server: routing, request bookkeeping, fault switching and socket lifetime. Route
 * shapes live in ollama-api.ts / ollama-generate.ts / openai-api.ts; what faults do lives in faults.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setMaxListeners } from 'node:events';
import type { Handler, RequestContext, SimSettings } from './context';
import { planFault, type RouteInfo } from './faults';
import { ModelRegistry } from './models';
import { ps, root, show, tags, version } from './ollama-api';
import { chat, generate } from './ollama-generate';
import { chatCompletions, getV1Model, listV1Models } from './openai-api';
import { llamacppMetrics, llamacppSlots, vllmMetrics } from './busy-endpoints';
import { readBody } from './request';
import { Slots } from './slots';
import { nowNs, wait } from './time';
import { FAULTS, type Fault, type FaultOptions, type SimFlavor, type Simulator, type SimulatorOptions } from './types';
import { errorReply, jsonReply, sendReply, textReply, type Reply } from './wire';
import { mulberry32 } from '../util/random';

interface Route {
  methods: readonly string[];
  info: RouteInfo;
  handler: Handler;
}

const LIVENESS: RouteInfo = { class: 'liveness', openai: false };
const GENERATION: RouteInfo = { class: 'generation', openai: false };

/** Ollama's routes that the simulator serves (routes.go GenerateRoutes), by exact path. */
function routeTable(flavor: SimFlavor): ReadonlyMap<string, Route> {
  if (flavor === 'llamacpp' || flavor === 'vllm') {
    // OpenAI-compatible servers: no /api/*; both answer GET /health.
    return new Map<string, Route>([
      ['/health', { methods: ['GET'], info: LIVENESS, handler: () => jsonReply(200, { status: 'ok' }) }],
      ['/v1/chat/completions', { methods: ['POST'], info: { class: 'generation', openai: true }, handler: chatCompletions }],
      ['/v1/models', { methods: ['GET'], info: { class: 'liveness', openai: true }, handler: listV1Models }],
      // Their busy signals (busy-endpoints.ts): answered whatever the slots are doing.
      ...(flavor === 'llamacpp'
        ? ([
            ['/slots', { methods: ['GET'], info: LIVENESS, handler: llamacppSlots }],
            ['/metrics', { methods: ['GET'], info: LIVENESS, handler: llamacppMetrics }],
          ] as const)
        : ([['/metrics', { methods: ['GET'], info: LIVENESS, handler: vllmMetrics }]] as const)),
    ]);
  }
  return new Map<string, Route>([
    ['/', { methods: ['GET', 'HEAD'], info: LIVENESS, handler: root }],
    ['/api/version', { methods: ['GET', 'HEAD'], info: LIVENESS, handler: version }],
    ['/api/tags', { methods: ['GET', 'HEAD'], info: LIVENESS, handler: tags }],
    ['/api/ps', { methods: ['GET'], info: LIVENESS, handler: ps }],
    ['/api/show', { methods: ['POST'], info: { class: 'other', openai: false }, handler: show }],
    ['/api/generate', { methods: ['POST'], info: GENERATION, handler: generate }],
    ['/api/chat', { methods: ['POST'], info: GENERATION, handler: chat }],
    ['/v1/chat/completions', { methods: ['POST'], info: { class: 'generation', openai: true }, handler: chatCompletions }],
    ['/v1/models', { methods: ['GET'], info: { class: 'liveness', openai: true }, handler: listV1Models }],
  ]);
}

const V1_MODEL_PREFIX = '/v1/models/';

/** What each server says in its `server` header (Ollama's gin sends none; vLLM runs on uvicorn). */
const SERVER_HEADERS: Record<SimFlavor, Record<string, string>> = {
  ollama: {},
  'ollama-legacy': {},
  llamacpp: { server: 'llama.cpp' },
  vllm: { server: 'uvicorn' },
};

class SimulatorServer implements Simulator {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly flavor: SimFlavor;
  private readonly bodies = new Map<string, Buffer>();
  private readonly loadLog: Array<{ model: string; keepAlive: unknown; options: unknown; at: number }> = [];
  private generationCount = 0;
  private readonly settings: SimSettings;
  /** Aborted by close(): ends every wait, stream and load in flight. */
  private readonly lifetime = new AbortController();
  private readonly counts = new Map<string, number>();
  private readonly host: string;
  private boundPort: number;
  private listening = false;
  private closing: Promise<void> | undefined;
  /** setFault and close run one at a time, so listen/unlisten never interleave. */
  private queue: Promise<void> = Promise.resolve();
  private currentFault: Fault = 'none';
  private faultOptions: FaultOptions = {};
  private answerText: string;
  private flaky: { rate: number; random: () => number } | undefined;
  private total = 0;
  private lastHeaders: Record<string, string | string[] | undefined> | undefined;

  constructor(opts: SimulatorOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.boundPort = opts.port ?? 0;
    this.answerText = opts.answer ?? 'PONG';
    this.flavor = opts.flavor ?? 'ollama';
    this.routes = routeTable(this.flavor);
    const registry = new ModelRegistry(opts.models ?? ['llama3.2'], opts.loadMs ?? 0, { capacityBytes: opts.memoryBytes, sizes: opts.modelSizes });
    this.settings = {
      flavor: this.flavor,
      rejectThinkingKnob: opts.rejectThinkingKnob ?? false,
      record: {
        load: (model, keepAlive, options) => void this.loadLog.push({ model, keepAlive, options, at: Date.now() }),
        generation: () => void this.generationCount++,
      },
      registry,
      slots: new Slots(opts.parallel ?? 0),
      busyEndpoints: { slots: opts.busyEndpoints?.slots ?? true, metrics: opts.busyEndpoints?.metrics ?? this.flavor === 'vllm' },
      tokenDelayMs: opts.tokenDelayMs ?? 5,
      version: opts.version ?? (this.flavor === 'ollama-legacy' ? '0.6.8' : '0.12.6'),
      answer: () => this.answerText,
    };
    // Ollama's http.Server has no read/write timeouts; Node's requestTimeout would otherwise cut hung tests.
    this.server = createServer({ requestTimeout: 0, noDelay: true }, (req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => this.onConnection(socket));
    // Every request in flight listens for the simulator closing (and stops listening when it ends): many
    // concurrent slow generations are normal here, not a listener leak.
    setMaxListeners(0, this.lifetime.signal);
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get fault(): Fault {
    return this.currentFault;
  }

  get requestCount(): number {
    return this.total;
  }

  requestsTo(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  lastRequestHeaders(): Record<string, string | string[] | undefined> | undefined {
    return this.lastHeaders ? { ...this.lastHeaders } : undefined;
  }

  lastRequestBody(path: string): unknown {
    const b = this.bodies.get(path);
    if (!b) return undefined;
    try {
      return JSON.parse(b.toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  get loads(): ReadonlyArray<{ model: string; keepAlive: unknown; options: unknown; at: number }> {
    return [...this.loadLog];
  }

  get modelLoads(): ReadonlyArray<{ model: string; at: number; evicted: string[] }> {
    return this.settings.registry.loadLog.map((l) => ({ ...l, evicted: [...l.evicted] }));
  }

  get generations(): number {
    return this.generationCount;
  }

  unload(names?: string[]): void {
    const reg = this.settings.registry;
    for (const m of reg.list()) if (!names || names.some((n) => reg.find(n) === m)) reg.unload(m);
  }

  loaded(): string[] {
    return this.settings.registry.running(Date.now()).map((r) => r.model.name);
  }

  setTokenDelay(ms: number): void {
    this.settings.tokenDelayMs = Math.max(0, ms);
  }

  setParallel(n: number): void {
    this.settings.slots.setParallel(n);
  }

  setRunnerStalled(on: boolean): void {
    this.settings.slots.setStalled(on);
  }

  get slots(): { parallel: number; running: number; queued: number; stalled: boolean } {
    const s = this.settings.slots;
    return { parallel: s.parallel, running: s.running, queued: s.queued, stalled: s.stalled };
  }

  setFlakyLiveness(rate: number, seed = 1): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`rate must be between 0 and 1, got ${rate}`);
    this.flaky = rate > 0 ? { rate, random: mulberry32(seed) } : undefined;
  }

  setAnswer(text: string): void {
    this.answerText = text;
  }

  setFault(fault: Fault, opts: FaultOptions = {}): Promise<void> {
    if (!(FAULTS as readonly string[]).includes(fault)) return Promise.reject(new TypeError(`unknown fault ${JSON.stringify(fault)}`));
    if (this.closing) return Promise.reject(new Error('simulator is closed'));
    const run = this.queue.then(async () => {
      if (fault === 'refuse') {
        this.currentFault = fault;
        this.faultOptions = { ...opts };
        if (this.listening) await this.unlisten();
        return;
      }
      if (!this.listening) await this.listen();
      this.currentFault = fault;
      this.faultOptions = { ...opts };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lifetime.abort();
      await this.queue;
      if (this.listening) await this.unlisten();
      for (const socket of this.sockets) socket.destroy();
    })();
    return this.closing;
  }

  /** First start: binds the requested (or a random) port and remembers it for later re-listens. */
  async start(): Promise<void> {
    await this.listen();
    const addr = this.server.address();
    if (addr && typeof addr === 'object') this.boundPort = addr.port;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        this.listening = true;
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(this.boundPort, this.host);
    });
  }

  /** Stops accepting and drops every open connection, like a process that died. */
  private unlisten(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.listening = false;
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // With scope 'all' the reset comes before any byte is read; scoped resets happen per request in handle().
    if (this.currentFault === 'reset' && (this.faultOptions.scope ?? 'all') === 'all') socket.resetAndDestroy();
  }

  private route(method: string, path: string): { route?: Route; pathExists: boolean } {
    const exact = this.routes.get(path);
    if (exact) return exact.methods.includes(method) ? { route: exact, pathExists: true } : { pathExists: true };
    if (path.startsWith(V1_MODEL_PREFIX) && path.length > V1_MODEL_PREFIX.length) {
      const name = decodeURIComponent(path.slice(V1_MODEL_PREFIX.length));
      const route: Route = { methods: ['GET'], info: { class: 'liveness', openai: true }, handler: (ctx) => getV1Model(ctx, name) };
      return method === 'GET' ? { route, pathExists: true } : { pathExists: true };
    }
    return { pathExists: false };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startNs = nowNs();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    this.total++;
    this.counts.set(path, (this.counts.get(path) ?? 0) + 1);
    this.lastHeaders = { ...req.headers };
    // The fault in force when the request arrived decides its fate, even if it is switched while the body is read.
    const fault = this.currentFault;
    const faultOptions = this.faultOptions;

    // One signal per request: the client leaving or the simulator closing stops all its waits and streams.
    const request = new AbortController();
    const onLifetimeAbort = (): void => request.abort();
    this.lifetime.signal.addEventListener('abort', onLifetimeAbort, { once: true });
    res.on('close', () => {
      request.abort();
      this.lifetime.signal.removeEventListener('abort', onLifetimeAbort);
    });
    // Writes racing a client that left must not crash the simulator.
    res.on('error', () => undefined);
    const signal = request.signal;

    try {
      const { route, pathExists } = this.route(method, path);
      const info: RouteInfo = route?.info ?? { class: 'other', openai: false };
      const body = await readBody(req);
      if (body.length > 0) this.bodies.set(path, body);
      if (signal.aborted) return;

      // Flaky liveness, beside whatever fault is in force: this request is read and never answered.
      if (info.class === 'liveness' && this.flaky && this.flaky.random() < this.flaky.rate) return;
      const plan = planFault(fault, faultOptions, info, req.headers, url);
      if (plan.kind === 'hang') return;
      if (plan.kind === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      await wait(plan.delayMs, signal);
      if (signal.aborted) return;
      if (plan.kind === 'replace') return await sendReply(res, plan.reply, { kind: 'normal' }, signal);

      let reply: Reply;
      if (!route) {
        // gin: a known path with the wrong method is 405, anything else 404; both plain text.
        reply = pathExists ? textReply(405, '405 method not allowed') : textReply(404, '404 page not found');
      } else {
        const ctx: RequestContext = { method, path, headers: req.headers, body, signal, startNs, sim: this.settings, mode: plan.mode, modelsHidden: plan.modelsHidden };
        reply = await route.handler(ctx);
      }
      await sendReply(res, { ...reply, headers: { ...SERVER_HEADERS[this.flavor], ...reply.headers } }, plan.delivery, signal);
    } catch (err) {
      // A bug in the simulator, not a simulated failure: answer 500 if still possible so the test sees it.
      if (!res.headersSent && !res.destroyed) {
        await sendReply(res, errorReply(500, `simulator bug: ${err instanceof Error ? err.message : String(err)}`), { kind: 'normal' }, signal);
      } else {
        res.destroy();
      }
    }
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new SimulatorServer(opts);
  await sim.start();
  return sim;
}
