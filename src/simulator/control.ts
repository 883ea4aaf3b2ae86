/**
 * A tiny HTTP control plane for a running simulator, so the standalone CLI (`llm-sentinel simulate`) and the
 * demo can switch faults from outside the process:
 *   GET  /fault                              → {"fault":"none"}
 *   POST /fault {"fault","delayMs","scope","format"}  → {"fault":"hang"} | 400 {"error":"…"}
 *   POST /answer {"answer":"…"}              → {"answer":"…"}
 *   POST /unload {"models":["qwen3:8b"]}     → {"loaded":[…]}  (models dropped from memory; omit models: all)
 *   GET  /stats                              → {"requestCount","generations","loads","loaded","modelLoads","evictions"}
 *   POST /runner {"parallel":1,"stalled":true} → {"parallel","running","queued","stalled"}  (slots, a hung runner)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseJsonBody, readBody, type JsonObject } from './request';
import { FAULTS, type Fault, type FaultOptions, type FaultScope, type Simulator } from './types';

const SCOPES: readonly FaultScope[] = ['all', 'generation', 'liveness'];

export interface SimulatorControl {
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Validates a POST /fault body; returns the fault and options, or a message saying what is wrong. */
export function parseFaultRequest(value: JsonObject | undefined): { fault: Fault; opts: FaultOptions } | { error: string } {
  if (!value) return { error: 'body must be a JSON object like {"fault":"hang"}' };
  const fault = value['fault'];
  if (typeof fault !== 'string' || !(FAULTS as readonly string[]).includes(fault)) {
    return { error: `unknown fault ${JSON.stringify(fault ?? null)}; expected one of: ${FAULTS.join(', ')}` };
  }
  const opts: FaultOptions = {};
  const delayMs = value['delayMs'];
  if (delayMs !== undefined && delayMs !== null) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) return { error: 'delayMs must be a non-negative number of milliseconds' };
    opts.delayMs = delayMs;
  }
  const scope = value['scope'];
  if (scope !== undefined && scope !== null) {
    if (typeof scope !== 'string' || !(SCOPES as readonly string[]).includes(scope)) return { error: `scope must be one of: ${SCOPES.join(', ')}` };
    opts.scope = scope as FaultScope;
  }
  const format = value['format'];
  if (format !== undefined && format !== null) {
    if (format !== 'negotiate' && format !== 'html') return { error: 'format must be one of: negotiate, html' };
    opts.format = format;
  }
  return { fault: fault as Fault, opts };
}

async function handle(sim: Simulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const body = await readBody(req);
  if (path === '/fault' && req.method === 'GET') return send(res, 200, { fault: sim.fault });
  if (path === '/stats' && req.method === 'GET') return send(res, 200, { requestCount: sim.requestCount, generations: sim.generations, loads: sim.loads.length, loaded: sim.loaded(), modelLoads: sim.modelLoads.length, evictions: sim.modelLoads.reduce((n, l) => n + l.evicted.length, 0) });
  if (path === '/unload' && req.method === 'POST') {
    // A model unloaded behind the monitor's back (memory pressure, a restart, a short keep_alive).
    const parsed = parseJsonBody(body, 'ControlRequest');
    if (!parsed.ok) return send(res, 400, { error: `invalid JSON: ${parsed.message}` });
    const models = parsed.value?.['models'];
    if (models !== undefined && !(Array.isArray(models) && models.every((m) => typeof m === 'string'))) return send(res, 400, { error: 'models must be a list of model names' });
    sim.unload(models as string[] | undefined);
    return send(res, 200, { loaded: sim.loaded() });
  }
  if (path === '/runner' && req.method === 'POST') {
    const parsed = parseJsonBody(body, 'ControlRequest');
    if (!parsed.ok) return send(res, 400, { error: `invalid JSON: ${parsed.message}` });
    const parallel = parsed.value?.['parallel'];
    const stalled = parsed.value?.['stalled'];
    if (parallel !== undefined && !(typeof parallel === 'number' && Number.isInteger(parallel) && parallel >= 0)) return send(res, 400, { error: 'parallel must be a whole number >= 0 (0 = no limit)' });
    if (stalled !== undefined && typeof stalled !== 'boolean') return send(res, 400, { error: 'stalled must be true or false' });
    if (typeof parallel === 'number') sim.setParallel(parallel);
    if (typeof stalled === 'boolean') sim.setRunnerStalled(stalled);
    return send(res, 200, sim.slots);
  }
  if ((path === '/fault' || path === '/answer') && req.method === 'POST') {
    const parsed = parseJsonBody(body, 'ControlRequest');
    if (!parsed.ok) return send(res, 400, { error: `invalid JSON: ${parsed.message}` });
    if (path === '/answer') {
      const answer = parsed.value?.['answer'];
      if (typeof answer !== 'string') return send(res, 400, { error: 'answer must be a string' });
      sim.setAnswer(answer);
      return send(res, 200, { answer });
    }
    const request = parseFaultRequest(parsed.value);
    if ('error' in request) return send(res, 400, { error: request.error });
    await sim.setFault(request.fault, request.opts);
    return send(res, 200, { fault: sim.fault });
  }
  if (path === '/fault' || path === '/answer' || path === '/stats' || path === '/unload' || path === '/runner') return send(res, 405, { error: 'method not allowed' });
  return send(res, 404, { error: 'not found; try GET /fault, POST /fault, POST /answer, POST /unload, POST /runner, GET /stats' });
}

export function startSimulatorControl(sim: Simulator, port: number, host = '127.0.0.1'): Promise<SimulatorControl> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(sim, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const boundPort = addr && typeof addr === 'object' ? addr.port : port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${shownHost}:${boundPort}`,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          })),
      });
    });
  });
}
