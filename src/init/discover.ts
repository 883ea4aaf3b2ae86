import { Agent, request } from '../undici';
import { classifyHttp, classifyNetworkError, viaCloudflare, type HttpFacts, type Verdict } from '../probes/classify';
import type { Reason } from '../probes/types';

/**
 * What `llm-sentinel init` learns about a server from a few read-only requests: which API it speaks, its
 * version, its models (installed and loaded), and whether Cloudflare or Cloudflare Access sits in front.
 * Facts only; judging them into a config is src/init/render.ts. Routes and shapes follow
 * /work/shared/reference/ollama-cloudflare.md A.2-A.4 (Ollama), A.7 (`GET /v1/models`), B.1/B.5 (Cloudflare).
 */
export interface Discovery {
  url: string;
  /** `ollama`: /api/version answered; `openai`: only /v1/models did; `unknown`: neither (see `problem`). */
  api: 'ollama' | 'openai' | 'unknown';
  version?: string;
  /** Installed models, most recently modified first (Ollama's /api/tags order, or /v1/models). */
  installed: string[];
  /** Models in memory now (/api/ps). */
  loaded: string[];
  /** An answer carried Cloudflare's headers (server: cloudflare or cf-ray). */
  cloudflare: boolean;
  /** Cloudflare Access asked for a login (302 to *.cloudflareaccess.com, or 401/403 via Cloudflare). */
  access: boolean;
  /** Why the server could not be used as it is (absent: it answered as an LLM API). */
  problem?: { reason: Reason; detail: string };
}

interface Answer {
  facts: HttpFacts;
  verdict: Verdict;
  json?: unknown;
}

const BODY_MAX = 256 * 1024;

async function get(url: string, path: string, agent: Agent, timeoutMs: number, extra: Record<string, string> = {}): Promise<Answer | { error: Verdict }> {
  try {
    const res = await request(`${url}${path}`, { method: 'GET', dispatcher: agent, headers: { ...extra, 'user-agent': 'llm-sentinel init', accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    let body = '';
    for await (const c of res.body) {
      body += Buffer.from(c as Buffer).toString('utf8');
      if (body.length > BODY_MAX) break;
    }
    const facts: HttpFacts = { status: res.statusCode, headers: res.headers, expect: 'json', body, path };
    const verdict = classifyHttp(facts);
    let json: unknown;
    try {
      json = verdict.reason === 'ok' ? (JSON.parse(body) as unknown) : undefined;
    } catch {
      json = undefined;
    }
    return { facts, verdict, json };
  } catch (e) {
    return { error: classifyNetworkError(e) };
  }
}

function names(json: unknown, list: 'models' | 'data', field: 'name' | 'id'): string[] | undefined {
  const arr = (json as Record<string, unknown> | undefined)?.[list];
  if (!Array.isArray(arr)) return undefined;
  return arr.map((m) => (m as Record<string, unknown>)[field]).filter((n): n is string => typeof n === 'string');
}

/** Access answers a missing service token with a 302 to its login, or 401/403 through Cloudflare (reference B.5). */
function isAccess(a: Answer): boolean {
  if (a.verdict.reason !== 'auth_required') return false;
  if (a.facts.status >= 300 && a.facts.status < 400) return true; // classifyHttp calls only a redirect to Access auth_required
  // Ollama's own 403 for a Host header it refuses has an empty body, tunnelled or not: that is not Access.
  return viaCloudflare(a.facts.headers) && !(a.facts.status === 403 && (a.facts.body ?? '').trim() === '');
}

/** Probes one server. Never throws for a server that fails: the failure is `problem`. */
export async function discover(rawUrl: string, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<Discovery> {
  const url = rawUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 5000;
  // No redirects (an Access login redirect is a finding, not a place to go), no keep-alive worth keeping.
  const agent = new Agent({ connectTimeout: timeoutMs, keepAliveTimeout: 1000 });
  const d: Discovery = { url, api: 'unknown', installed: [], loaded: [], cloudflare: false, access: false };
  const note = (a: Answer) => {
    if (viaCloudflare(a.facts.headers)) d.cloudflare = true;
    if (isAccess(a)) d.access = true;
  };
  try {
    const version = await get(url, '/api/version', agent, timeoutMs, opts.headers);
    if ('error' in version) {
      d.problem = { reason: version.error.reason, detail: version.error.detail };
      return d;
    }
    note(version);
    const v = (version.json as { version?: unknown } | undefined)?.version;
    if (version.verdict.reason === 'ok' && typeof v === 'string') {
      d.api = 'ollama';
      d.version = v;
      const [tags, ps] = await Promise.all([get(url, '/api/tags', agent, timeoutMs, opts.headers), get(url, '/api/ps', agent, timeoutMs, opts.headers)]);
      if (!('error' in tags)) d.installed = names(tags.json, 'models', 'name') ?? [];
      if (!('error' in ps)) d.loaded = names(ps.json, 'models', 'name') ?? [];
      return d;
    }
    // Cloudflare's own failures and Access answer every path alike: no point asking /v1/models.
    const own = version.verdict.reason;
    if (own !== 'not_ollama' && own !== 'bad_response' && own !== 'ok') {
      d.problem = { reason: own, detail: version.verdict.detail };
      return d;
    }
    const models = await get(url, '/v1/models', agent, timeoutMs, opts.headers);
    if (!('error' in models)) {
      note(models);
      const ids = models.verdict.reason === 'ok' ? names(models.json, 'data', 'id') : undefined;
      if (ids !== undefined) {
        d.api = 'openai';
        d.installed = ids;
        return d;
      }
    }
    d.problem = { reason: own === 'ok' ? 'not_ollama' : own, detail: own === 'ok' ? `/api/version answered without a version: not Ollama` : version.verdict.detail };
    return d;
  } finally {
    await agent.close().catch(() => undefined);
  }
}
