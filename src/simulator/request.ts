import type { IncomingMessage } from 'node:http';
import { DEFAULT_KEEP_ALIVE_MS } from './models';

/** Requests are small JSON; anything larger is not a client we simulate for. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Reads the whole request body (bounded). Resolves with what arrived if the client goes away. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      req.off('data', onData);
      req.off('end', finish);
      req.off('close', finish);
      resolve(Buffer.concat(parts));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) parts.push(chunk);
    };
    req.on('data', onData);
    req.on('end', finish);
    req.on('close', finish);
  });
}

/** Go's encoding/json names for a JSON value's type, used in its "cannot unmarshal" messages. */
function goKind(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

export type Parsed = { ok: true; value: JsonObject | undefined } | { ok: false; status: number; message: string };

/**
 * Parses a JSON request body the way Ollama's gin binding reports problems. An empty body gives
 * `value: undefined` (each route decides what that means). Messages imitate Go's decoder; they are close, not
 * byte-exact for every malformed input.
 */
export function parseJsonBody(body: Buffer, goType: string): Parsed {
  const text = body.toString('utf8');
  if (text.trim() === '') return { ok: true, value: undefined };
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch (err) {
    return { ok: false, status: 400, message: goSyntaxMessage(text, err) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, status: 400, message: `json: cannot unmarshal ${goKind(value)} into Go value of type api.${goType}` };
  }
  return { ok: true, value };
}

function goSyntaxMessage(text: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : '';
  if (/end of (json )?input|Unterminated/i.test(msg)) return 'unexpected EOF';
  const pos = /position (\d+)/.exec(msg);
  const at = pos ? Number(pos[1]) : text.search(/\S/);
  const ch = text.charAt(at) || text.trim().charAt(0);
  const before = text.slice(0, Math.max(0, at)).trimEnd().slice(-1);
  if (before === '{') return `invalid character '${ch}' looking for beginning of object key string`;
  if (before === '' || ':[,'.includes(before)) return `invalid character '${ch}' looking for beginning of value`;
  return `invalid character '${ch}' after object key:value pair`;
}

type FieldType = 'string' | 'bool' | 'number' | 'array' | 'object';

/** Checks field types like Go's decoder would; null is accepted (Go leaves the field unset). */
export function checkFields(obj: JsonObject, goType: string, fields: Record<string, FieldType>): string | undefined {
  for (const [key, want] of Object.entries(fields)) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    const kind = goKind(v);
    if (kind !== want) {
      const goWant = want === 'array' ? '[]api.Message' : want === 'object' ? 'map[string]interface {}' : want === 'number' ? 'int' : want;
      return `json: cannot unmarshal ${kind} into Go struct field ${goType}.${key} of type ${goWant}`;
    }
  }
  return undefined;
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds, with Go's error texts. */
export function parseGoDuration(text: string): { ms: number } | { error: string } {
  const quoted = JSON.stringify(text);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return { ms: 0 };
  if (s === '') return { error: `time: invalid duration ${quoted}` };
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(s);
    if (!num || num[0] === '' || num[0] === '.') return { error: `time: invalid duration ${quoted}` };
    s = s.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(s)?.[0] ?? '';
    if (unit === '') return { error: `time: missing unit in duration ${quoted}` };
    const factor = GO_UNITS[unit];
    if (factor === undefined) return { error: `time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}` };
    total += Number(num[0]) * factor;
    s = s.slice(unit.length);
  }
  return { ms: sign * total };
}

/**
 * Ollama's keep_alive: omitted → 5m; a number is seconds; a string is a Go duration (so "-1" fails: no unit);
 * anything negative means forever (reported back as a negative number here).
 */
export function parseKeepAlive(v: Json | undefined): { ms: number } | { error: string } {
  if (v === undefined || v === null) return { ms: DEFAULT_KEEP_ALIVE_MS };
  if (typeof v === 'number') return { ms: v < 0 ? -1 : Math.round(v * 1000) };
  if (typeof v === 'string') {
    const d = parseGoDuration(v);
    if ('error' in d) return d;
    return { ms: d.ms < 0 ? -1 : Math.round(d.ms) };
  }
  return { error: `json: cannot unmarshal ${goKind(v)} into Go value of type time.Duration` };
}

const THINK_LEVELS = ['high', 'medium', 'low', 'max'];

/** `think`: undefined (model default), true/false, or a level (treated as true here). */
export function parseThink(v: Json | undefined): { think: boolean | undefined } | { error: string } {
  if (v === undefined || v === null) return { think: undefined };
  if (typeof v === 'boolean') return { think: v };
  if (typeof v === 'string' && THINK_LEVELS.includes(v)) return { think: true };
  const shown = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  return { error: `invalid think value: ${shown} (must be "high", "medium", "low", "max", true, or false)` };
}

/** options.num_predict; only a positive value limits generation (-1 and -2 mean "until done"). */
export function parseNumPredict(options: Json | undefined): { limit: number | undefined } | { error: string } {
  if (options === undefined || options === null || typeof options !== 'object' || Array.isArray(options)) {
    return { limit: undefined };
  }
  const v = options['num_predict'];
  if (v === undefined || v === null) return { limit: undefined };
  if (typeof v !== 'number' || !Number.isInteger(v)) return { error: 'option "num_predict" must be of type integer' };
  return { limit: v > 0 ? v : undefined };
}

/** A rough token count for prompt_eval_count: ~4 characters a token plus the chat template's overhead. */
export function estimatePromptTokens(texts: string[]): number {
  const chars = texts.reduce((n, t) => n + t.length, 0);
  return Math.max(1, Math.ceil(chars / 4) + 10);
}

export function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}
