import { NODE_STATUSES } from '../core/status';
import { STATE_SCHEMA_VERSION, type PublishedEndpoint, type PublishedLiveness, type PublishedNode, type PublishedPeer, type PublishedState, type PublishedStatus, type NodeMemoryState, type PublishedQueue } from './types';

/*
 * Hand-written on purpose: the client library imports this file, and apps (some serverless) must not pay for
 * zod at cold start. The reader copies only the fields it knows into fresh objects, reading own properties
 * only, so unknown fields (allowed: additive changes within a schema version), `__proto__` keys and deep junk
 * never reach the caller and are never walked.
 */

/** A state document is a few KiB; anything far larger is not one of ours, so do not even parse it. */
export const MAX_STATE_BYTES = 1024 * 1024;
const MAX_NODES = 256;
const MAX_STRING = 4096;

export type ParseStateResult = { ok: true; state: PublishedState } | { ok: false; error: string };

const STATUSES: readonly PublishedStatus[] = NODE_STATUSES;
const APIS: readonly PublishedEndpoint['api'][] = ['ollama', 'openai'];

/** Thrown inside this module only; parseState turns it into a value. */
class Invalid extends Error {}

type Obj = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** `got` is a rest parameter so that an explicit `undefined` (a missing field) still reads as "missing". */
function fail(path: string, expected: string, ...got: [unknown?]): never {
  throw new Invalid(`${path}: expected ${expected}${got.length === 0 ? '' : `, got ${describe(got[0])}`}`);
}

function field(o: Obj, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  return v as Obj;
}

function str(o: Obj, key: string, path: string, opts: { nonEmpty?: boolean } = {}): string {
  const v = field(o, key);
  const p = join(path, key);
  if (typeof v !== 'string') fail(p, 'a string', v);
  if (v.length > MAX_STRING) fail(p, `at most ${MAX_STRING} characters`);
  if (opts.nonEmpty && v.length === 0) fail(p, 'a non-empty string');
  return v;
}

function iso(o: Obj, key: string, path: string): string {
  const v = str(o, key, path);
  if (Number.isNaN(Date.parse(v))) fail(join(path, key), 'an ISO date');
  return v;
}

function isoOrNull(o: Obj, key: string, path: string): string | null {
  return field(o, key) === null ? null : iso(o, key, path);
}

function int(o: Obj, key: string, path: string, min: number): number {
  const v = field(o, key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(join(path, key), `an integer >= ${min}`, v);
  return v;
}

function numOrNull(o: Obj, key: string, path: string): number | null {
  const v = field(o, key);
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(join(path, key), 'a number or null', v);
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[]): T {
  const v = field(o, key);
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(join(path, key), `one of ${allowed.join('|')}`);
  return v as T;
}

function httpUrl(o: Obj, key: string, path: string): string {
  const v = str(o, key, path, { nonEmpty: true });
  let ok = false;
  try {
    const u = new URL(v);
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) fail(join(path, key), 'an http:// or https:// URL');
  return v;
}

const CAUSES = ['tunnel', 'ollama_or_host'] as const;

function bool(o: Obj, key: string): boolean {
  const v = field(o, key);
  if (typeof v !== 'boolean') fail(key, 'a boolean', v);
  return v;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function endpoint(o: Obj, path: string): PublishedEndpoint {
  return {
    name: str(o, 'name', path, { nonEmpty: true }),
    url: httpUrl(o, 'url', path),
    model: str(o, 'model', path),
    api: oneOf(o, 'api', path, APIS),
  };
}

function liveness(o: Obj, path: string): PublishedLiveness | null {
  const raw = field(o, 'lastLiveness');
  if (raw === null) return null;
  const p = join(path, 'lastLiveness');
  const l = obj(raw, p);
  const ok = field(l, 'ok');
  if (typeof ok !== 'boolean') fail(join(p, 'ok'), 'a boolean', ok);
  return { ok, reason: str(l, 'reason', p), at: iso(l, 'at', p), attempts: int(l, 'attempts', p, 1) };
}

function node(v: unknown, path: string): PublishedNode {
  const o = obj(v, path);
  const lastErrorRaw = field(o, 'lastError');
  let lastError: PublishedNode['lastError'] = null;
  if (lastErrorRaw !== null) {
    const p = join(path, 'lastError');
    const e = obj(lastErrorRaw, p);
    lastError = { reason: str(e, 'reason', p), message: str(e, 'message', p), at: iso(e, 'at', p) };
    const cause = field(e, 'cause');
    if (cause !== undefined) lastError.cause = oneOf(e, 'cause', p, CAUSES);
  }
  const latencyRaw = field(o, 'latency');
  let latency: PublishedNode['latency'] = null;
  if (latencyRaw !== null) {
    const p = join(path, 'latency');
    const l = obj(latencyRaw, p);
    latency = {
      ttftMs: numOrNull(l, 'ttftMs', p),
      totalMs: numOrNull(l, 'totalMs', p),
      tokensPerSec: numOrNull(l, 'tokensPerSec', p),
      loadMs: numOrNull(l, 'loadMs', p),
    };
  }
  return {
    ...endpoint(o, path),
    priority: int(o, 'priority', path, 0),
    status: oneOf(o, 'status', path, STATUSES),
    since: iso(o, 'since', path),
    statusReason: str(o, 'statusReason', path),
    lastCheckAt: isoOrNull(o, 'lastCheckAt', path),
    lastOkAt: isoOrNull(o, 'lastOkAt', path),
    consecutiveFailures: int(o, 'consecutiveFailures', path, 0),
    consecutiveSuccesses: int(o, 'consecutiveSuccesses', path, 0),
    lastError,
    latency,
    // Optional fields added within schemaVersion 1: absent in documents from older monitors.
    ...(field(o, 'lastColdStartAt') !== undefined ? { lastColdStartAt: isoOrNull(o, 'lastColdStartAt', path) } : {}),
    ...(field(o, 'coldEvents') !== undefined ? { coldEvents: int(o, 'coldEvents', path, 0) } : {}),
    ...(field(o, 'lastColdEvent') !== undefined ? { lastColdEvent: coldEvent(field(o, 'lastColdEvent'), `${path}.lastColdEvent`) } : {}),
    ...(field(o, 'lastLiveness') !== undefined ? { lastLiveness: liveness(o, path) } : {}),
    ...(field(o, 'memory') !== undefined ? { memory: memory(field(o, 'memory'), join(path, 'memory')) } : {}),
    ...(field(o, 'queue') !== undefined ? { queue: queue(o, path) } : {}),
  };
}

function memory(raw: unknown, path: string): NodeMemoryState {
  const o = obj(raw, path);
  const c = field(o, 'conflict');
  let conflict: NodeMemoryState['conflict'] = null;
  if (c !== null) {
    const co = obj(c, join(path, 'conflict'));
    const models = field(co, 'models');
    if (!Array.isArray(models) || models.length !== 2 || models.some((m) => typeof m !== 'string')) fail(join(path, 'conflict.models'), 'two model names', models);
    conflict = { models: [models[0] as string, models[1] as string], keeping: str(co, 'keeping', join(path, 'conflict')) };
  }
  const ni = field(o, 'notInstalled');
  if (!Array.isArray(ni) || ni.length > MAX_NODES || ni.some((m) => typeof m !== 'string')) fail(join(path, 'notInstalled'), 'an array of model names', ni);
  const canary = field(o, 'canaryModel');
  return {
    canaryModel: canary === null ? null : str(o, 'canaryModel', path),
    firstLoads: int(o, 'firstLoads', path, 0),
    conflict,
    notInstalled: [...(ni as string[])],
    monitorEvictions: int(o, 'monitorEvictions', path, 0),
    appModelsEvicted: int(o, 'appModelsEvicted', path, 0),
    appSwitches: int(o, 'appSwitches', path, 0),
  };
}

function queue(o: Obj, path: string): PublishedQueue {
  const p = join(path, 'queue');
  const q = obj(field(o, 'queue'), p);
  const busy = field(q, 'busy');
  if (typeof busy !== 'boolean') fail(join(p, 'busy'), 'a boolean', busy);
  return { busy, waitMs: numOrNull(q, 'waitMs', p), at: isoOrNull(q, 'at', p) };
}

function coldEvent(raw: unknown, path: string): { model: string; at: string } | null {
  if (raw === null) return null;
  const o = obj(raw, path);
  return { model: str(o, 'model', path), at: iso(o, 'at', path) };
}

const MAX_PEERS = 64;

function peer(v: unknown, path: string): PublishedPeer {
  const o = obj(v, path);
  const nodesRaw = field(o, 'nodes');
  if (!Array.isArray(nodesRaw)) fail(join(path, 'nodes'), 'an array', nodesRaw);
  if (nodesRaw.length > MAX_NODES) fail(join(path, 'nodes'), `at most ${MAX_NODES} nodes`);
  const silent = field(o, 'silent');
  if (typeof silent !== 'boolean') fail(join(path, 'silent'), 'a boolean', silent);
  return {
    name: str(o, 'name', path, { nonEmpty: true }),
    lastSeen: isoOrNull(o, 'lastSeen', path),
    silent,
    nodes: nodesRaw.map((n, i) => {
      const p = `${path}.nodes[${i}]`;
      const x = obj(n, p);
      const cause = field(x, 'cause');
      return { name: str(x, 'name', p, { nonEmpty: true }), status: oneOf(x, 'status', p, STATUSES), since: iso(x, 'since', p), reason: str(x, 'reason', p), cause: cause === null ? null : str(x, 'cause', p) };
    }),
  };
}

function peers(raw: unknown): PublishedPeer[] {
  if (!Array.isArray(raw)) fail('peers', 'an array', raw);
  if (raw.length > MAX_PEERS) fail('peers', `at most ${MAX_PEERS} peers`);
  return raw.map((p, i) => peer(p, `peers[${i}]`));
}

function document(raw: unknown): PublishedState {
  const o = obj(raw, '(top level)');
  const version = field(o, 'schemaVersion');
  if (version !== STATE_SCHEMA_VERSION) {
    if (version === undefined) fail('schemaVersion', String(STATE_SCHEMA_VERSION));
    // A newer monitor wrote a format this reader cannot promise to understand: say so plainly.
    throw new Invalid(`unsupported schemaVersion ${JSON.stringify(version)?.slice(0, 40) ?? '?'} (this reader knows ${STATE_SCHEMA_VERSION})`);
  }
  const staleAfterMs = int(o, 'staleAfterMs', '', 1);
  const m = obj(field(o, 'monitor'), 'monitor');
  const nodesRaw = field(o, 'nodes');
  if (!Array.isArray(nodesRaw)) fail('nodes', 'an array', nodesRaw);
  if (nodesRaw.length === 0) fail('nodes', 'at least one node');
  if (nodesRaw.length > MAX_NODES) fail('nodes', `at most ${MAX_NODES} nodes`);
  const allDown = field(o, 'allDown');
  if (typeof allDown !== 'boolean') fail('allDown', 'a boolean', allDown);
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    updatedAt: iso(o, 'updatedAt', ''),
    staleAfterMs,
    monitor: {
      instance: str(m, 'instance', 'monitor'),
      version: str(m, 'version', 'monitor'),
      pid: int(m, 'pid', 'monitor', 0),
      startedAt: iso(m, 'startedAt', 'monitor'),
    },
    preferred: endpoint(obj(field(o, 'preferred'), 'preferred'), 'preferred'),
    allDown,
    ...(field(o, 'monitorOffline') !== undefined ? { monitorOffline: bool(o, 'monitorOffline') } : {}),
    nodes: nodesRaw.map((n, i) => node(n, `nodes[${i}]`)),
    ...(field(o, 'peers') !== undefined ? { peers: peers(field(o, 'peers')) } : {}),
  };
}

/** Parses and validates a state document; never throws, and the error names the first bad field. */
export function parseState(text: string): ParseStateResult {
  if (typeof text !== 'string') return { ok: false, error: `invalid state: expected text, got ${describe(text)}` };
  if (text.length > MAX_STATE_BYTES) return { ok: false, error: `invalid state: larger than ${MAX_STATE_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `state is not JSON: ${(e as Error).message}` };
  }
  try {
    return { ok: true, state: document(raw) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: `invalid state: ${e.message}` };
    // Only a stack overflow or similar can land here; still a value, never a throw.
    return { ok: false, error: `invalid state: ${(e as Error)?.message ?? 'unreadable'}` };
  }
}

/** The monitor is presumed dead when the document was not refreshed within staleAfterMs (or the override). */
export function isStale(state: PublishedState, now: number, staleAfterMs = state.staleAfterMs): boolean {
  const updated = Date.parse(state.updatedAt);
  return Number.isNaN(updated) || now - updated > staleAfterMs;
}
