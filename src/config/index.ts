import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { Secret } from '../util/secret';
import { resolvePush, type PushConfig } from './push';
import { configSchema, type ParsedConfig } from './schema';
import { resolveSecret } from './secrets';

export type { ChatWebhookConfig, NtfyConfig, PushConfig, TelegramConfig } from './push';

/** Exit code for bad configuration (sysexits EX_CONFIG); systemd does not restart on it with our unit. */
export const EXIT_CONFIG = 78;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface NodeConfig {
  name: string;
  url: string;
  /** The canary's model; undefined: discovered from the node (loaded model, else its only one). */
  model?: string;
  /** Models apps use on this node, kept warm; empty when the canary's model is still to be discovered. */
  models: string[];
  api: 'ollama' | 'openai';
  /** Header values are secrets (Cloudflare Access service tokens): they print as [redacted]. */
  headers: Record<string, Secret>;
  /** 0 = primary, then fallbacks in order. */
  priority: number;
  /** A second, direct path to the same server, for telling a tunnel failure from an Ollama one. */
  directUrl?: string;
  exposureCheck: boolean;
}

type Parsed = ParsedConfig;
export interface Config {
  instance: string;
  nodes: NodeConfig[];
  probes: Parsed['probes'];
  decision: Omit<Parsed['decision'], 'softFall'> & { softFall: number };
  stateFile: string;
  database: string;
  state: Parsed['state'];
  log: Parsed['log'];
  selfCheck: { pingUrl?: Secret; witnesses: string[]; witnessTimeout: number };
  history: Parsed['history'];
  alerts: AlertsConfig;
  maintenance: Parsed['maintenance'];
  /** Absent: the HTTP server is off. */
  http?: {
    host: string;
    port: number;
    token?: Secret;
    reportsPerMinute: number;
    maxConnectionsPerAddress: number;
    maxConnections: number;
    timeouts: { headersMs: number; requestMs: number; keepAliveMs: number };
  };
  /** Absent: this monitor works alone and sends every alert itself. */
  peers?: PeersConfig;
}

export interface PeerConfig {
  name: string;
  /** Base URL of the peer's HTTP API (no trailing slash); polled at `${url}/peer`. */
  url: string;
  /** The peer's http.token. */
  token: Secret;
  /** The node on the peer's host: from `sharesHostWith`, or inferred when the peer URL's host is a node URL's host. */
  sharesHostWith?: string;
  sharedHostFrom?: 'config' | 'url';
  /** Extra request headers for its /peer (values are credentials: a Cloudflare Access service token). */
  headers?: Record<string, Secret>;
}

export interface PeersConfig {
  interval: number;
  silentAfter: number;
  /** A disagreement with a peer about a node lasting this long sends an alert (core/peer-disagree.ts). */
  disagreeAfter?: number;
  timeout: number; // deadline of one poll (independent of interval)
  /** A follower sends what its speaker has not reported sent after this long × its place (core/peer-gate). */
  takeoverAfter: number;
  /** Opens /peer only (besides http.token). */
  token?: Secret;
  /** Every monitor (this one included), best first: the first live one sends. */
  rank: string[];
  monitors: PeerConfig[];
}

export interface EmailConfig {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: Secret;
  from: string;
  to: string[];
  timeout: number;
}

export interface WebhookConfig {
  /** Unique channel name (`webhook`, `webhook-2`, … when not given). */
  name: string;
  url: string;
  headers: Record<string, Secret>;
  timeout: number;
}

export type AlertsConfig = Omit<Parsed['alerts'], 'email' | 'webhooks' | keyof PushConfig> & { email?: EmailConfig; webhooks: WebhookConfig[] } & PushConfig;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

export interface ConfigIo {
  readFile(path: string): string;
  hostname(): string;
  cwd(): string;
}
export const realIo: ConfigIo = { readFile: (p) => readFileSync(p, 'utf8'), hostname, cwd: () => process.cwd() };

export interface ParseOptions {
  /** Folder that relative paths in the file are resolved against (the config file's folder). */
  baseDir?: string;
  io?: ConfigIo;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(top level)' : out;
}

function zodProblems(error: z.ZodError): string[] {
  const out: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push(`${formatPath([...issue.path, k])}: unknown key`);
    } else if (issue.code === 'invalid_union' && issue.path.length > 0) {
      out.push(`${formatPath(issue.path)}: expected a string, { credential: NAME }, { file: path } or { env: NAME }`);
    } else {
      out.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  return out;
}

/** The alerts section with its secrets resolved; the SMTP password may also come from SMTP_PASSWORD(_FILE). */
function resolveAlerts(a: Parsed['alerts'], env: NodeJS.ProcessEnv, io: ConfigIo, problems: string[], baseDir: string): AlertsConfig {
  let email: EmailConfig | undefined;
  if (a.email) {
    const e = a.email;
    // Only with a user: a password nobody logs in with is unused, and an unused credential must never stop the
    // start (older units set SMTP_PASSWORD_FILE always, to an empty file when there was none).
    const fromEnv = e.user !== undefined && (env.SMTP_PASSWORD || env.SMTP_PASSWORD_FILE) ? ({ env: 'SMTP_PASSWORD' } as const) : undefined;
    const source = e.password ?? fromEnv;
    const password = source !== undefined ? resolveSecret(source, 'alerts.email.password', env, io, problems, baseDir) : undefined;
    if (e.user !== undefined && source === undefined) problems.push('alerts.email.password: required with alerts.email.user (or set SMTP_PASSWORD / SMTP_PASSWORD_FILE)');
    email = { host: e.host, port: e.port ?? (e.secure ? 465 : 587), secure: e.secure, user: e.user, password, from: e.from, to: e.to, timeout: e.timeout };
  }
  const names = new Set<string>(email ? ['email'] : []);
  const webhooks = a.webhooks.map((w, i): WebhookConfig => {
    const name = w.name ?? (i === 0 ? 'webhook' : `webhook-${i + 1}`);
    if (names.has(name)) problems.push(`alerts.webhooks[${i}].name: duplicate channel name ${JSON.stringify(name)}`);
    names.add(name);
    const headers: Record<string, Secret> = {};
    for (const [h, src] of Object.entries(w.headers)) {
      const s = resolveSecret(src, `alerts.webhooks[${i}].headers.${h}`, env, io, problems, baseDir);
      if (s) headers[h] = s;
    }
    return { name, url: w.url, headers, timeout: w.timeout };
  });
  const push = resolvePush(a, { env, io, problems, baseDir, names });
  if (a.retry.max < a.retry.initial) problems.push('alerts.retry.max: must not be shorter than alerts.retry.initial');
  return { ...a, email, webhooks, ...push };
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (keep_alive) in ms; negative means forever (Infinity). The schema has checked its shape. */
export function keepAliveMs(v: string): number {
  if (v.startsWith('-')) return Infinity;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (GO_UNITS[m[2] as string] ?? 0);
  return total;
}

/**
 * Validates a raw config object (parsed YAML) against the schema, applies environment overrides, resolves
 * secrets. Throws ConfigError listing every problem, each naming its field path.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, opts: ParseOptions = {}): Config {
  const io = opts.io ?? realIo;
  const baseDir = opts.baseDir ?? io.cwd();
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(zodProblems(result.error));
  const c = result.data;
  const problems: string[] = [];

  // OLLAMA_PRIMARY_URL / OLLAMA_FALLBACK_URL: the variables apps already use fill or override the first two nodes.
  const rawNodes = c.nodes.map((n) => ({ ...n }));
  const overrides: Array<[string, string]> = [
    ['OLLAMA_PRIMARY_URL', 'primary'],
    ['OLLAMA_FALLBACK_URL', 'fallback'],
  ];
  overrides.forEach(([variable, defaultName], i) => {
    const value = env[variable];
    if (value === undefined || value === '') return;
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems.push(`${variable}: must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
      return;
    }
    while (rawNodes.length <= i) rawNodes.push({ name: rawNodes.length === 0 ? 'primary' : defaultName, api: 'ollama', headers: {}, exposureCheck: false });
    (rawNodes[i] as { url?: string }).url = value;
  });

  if (rawNodes.length < 2) {
    problems.push(`nodes: need at least 2 nodes (a primary and a fallback), got ${rawNodes.length}; list them in the file or set OLLAMA_PRIMARY_URL and OLLAMA_FALLBACK_URL`);
  }
  const seen = new Set<string>();
  const nodes: NodeConfig[] = [];
  rawNodes.forEach((n, i) => {
    if (seen.has(n.name)) problems.push(`nodes[${i}].name: duplicate node name ${JSON.stringify(n.name)}`);
    seen.add(n.name);
    if (!n.url) problems.push(`nodes[${i}].url: required (or set ${i === 0 ? 'OLLAMA_PRIMARY_URL' : i === 1 ? 'OLLAMA_FALLBACK_URL' : 'it in the file'})`);
    const headers: Record<string, Secret> = {};
    for (const [h, src] of Object.entries(n.headers)) {
      const s = resolveSecret(src, `nodes[${i}].headers.${h}`, env, io, problems, baseDir);
      if (s) headers[h] = s;
    }
    // Never a built-in default: a guessed name is either missing on the node or loads a second model next to
    // the app's. Without one, the daemon discovers it (loaded model, else the only installed one).
    const model = n.model ?? (env.OLLAMA_MODEL || undefined);
    nodes.push({
      name: n.name,
      url: (n.url ?? '').replace(/\/+$/, ''),
      model,
      models: n.models ?? (model !== undefined ? [model] : []),
      api: n.api,
      headers,
      priority: i,
      directUrl: n.directUrl?.replace(/\/+$/, ''),
      exposureCheck: n.exposureCheck,
    });
  });

  const p = c.probes;
  if (p.canary.firstTokenTimeout !== undefined && p.canary.firstTokenTimeout > p.canary.timeout) {
    problems.push(`probes.canary.firstTokenTimeout: must not exceed probes.canary.timeout`);
  }
  let http: Config['http'];
  if (c.http) {
    const m = /^\[?(.*?)\]?:(\d+)$/.exec(c.http.listen) as RegExpExecArray;
    const host = m[1] as string;
    const port = Number(m[2]);
    if (port > 65535) problems.push(`http.listen: port ${port} is out of range`);
    const token = c.http.token !== undefined ? resolveSecret(c.http.token, 'http.token', env, io, problems, baseDir) : undefined;
    if (!token && !LOOPBACK.test(host)) {
      problems.push(`http.token: required when http.listen is not a loopback address (${host}); anyone who can reach it could read state and send reports`);
    }
    if (c.http.requestTimeout < c.http.headersTimeout) problems.push('http.requestTimeout: must be at least http.headersTimeout');
    if (c.http.maxConnectionsPerAddress > c.http.maxConnections) problems.push('http.maxConnectionsPerAddress: must not exceed http.maxConnections');
    http = {
      host,
      port,
      token,
      reportsPerMinute: c.http.reportsPerMinute,
      maxConnectionsPerAddress: c.http.maxConnectionsPerAddress,
      maxConnections: c.http.maxConnections,
      timeouts: { headersMs: c.http.headersTimeout, requestMs: c.http.requestTimeout, keepAliveMs: c.http.keepAliveTimeout },
    };
  }
  if (c.decision.softFall !== undefined && c.decision.softFall < c.decision.fall) problems.push('decision.softFall: must be at least decision.fall');
  const pingUrl = c.selfCheck.pingUrl !== undefined ? resolveSecret(c.selfCheck.pingUrl, 'selfCheck.pingUrl', env, io, problems, baseDir) : undefined;
  if (pingUrl && !/^https?:\/\/\S+$/.test(pingUrl.reveal())) problems.push('selfCheck.pingUrl: must be an http:// or https:// URL');
  nodes.forEach((n, i) => {
    if (n.exposureCheck && Object.keys(n.headers).length === 0) problems.push(`nodes[${i}].exposureCheck: needs auth headers to leave out (the node has none)`);
  });
  if (p.canary.enabled && p.canary.interval > keepAliveMs(p.canary.keepAlive)) {
    problems.push(`probes.canary.interval: ${p.canary.interval}ms is longer than probes.canary.keepAlive (${p.canary.keepAlive}): the model would unload between canaries; shorten the interval or lengthen keepAlive`);
  }
  if (c.state.staleAfter <= c.state.heartbeat) problems.push(`state.staleAfter: must be longer than state.heartbeat`);
  const alerts = resolveAlerts(c.alerts, env, io, problems, baseDir);
  c.maintenance.recurring.forEach((w, i) => {
    if (!seen.has(w.node)) problems.push(`maintenance.recurring[${i}].node: no node named ${JSON.stringify(w.node)}`);
  });
  const instance = c.instance ?? io.hostname();
  const peers = c.peers ? resolvePeers(c.peers, { instance, nodes, hasToken: http?.token !== undefined, hasHttp: http !== undefined }, env, io, problems, baseDir) : undefined;
  if (problems.length > 0) throw new ConfigError(problems);

  // systemd's StateDirectory= sets $STATE_DIRECTORY; otherwise a folder next to where we run.
  const stateDir = env.STATE_DIRECTORY?.split(':')[0] || resolve(io.cwd(), 'llm-sentinel-data');
  const path = (v: string | undefined, dflt: string) => (v === undefined ? resolve(stateDir, dflt) : isAbsolute(v) ? v : resolve(baseDir, v));
  return {
    instance,
    nodes,
    probes: p,
    decision: { ...c.decision, softFall: c.decision.softFall ?? c.decision.fall + 1 },
    stateFile: path(c.stateFile, 'state.json'),
    database: path(c.database, 'sentinel.db'),
    state: c.state,
    log: c.log,
    history: c.history,
    alerts,
    maintenance: c.maintenance,
    http,
    selfCheck: { pingUrl, witnesses: c.selfCheck.witnesses, witnessTimeout: c.selfCheck.witnessTimeout },
    ...(peers ? { peers } : {}),
  };
}

const hostOf = (url: string | undefined): string | undefined => {
  if (!url) return undefined;
  try {
    return new URL(url).hostname.toLowerCase().replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
};

/**
 * The peers section: names unique and not this instance, a token for each (the peer endpoint never answers
 * without one), a rank naming everyone once. A shared host is taken from `sharesHostWith`, else inferred when
 * the peer's URL has the same host name as a node's url or directUrl; loopback names are never inferred
 * (127.0.0.1 in this file says nothing about which machine a peer runs on).
 */
function resolvePeers(p: NonNullable<Parsed['peers']>, self: { instance: string; nodes: NodeConfig[]; hasToken: boolean; hasHttp: boolean }, env: NodeJS.ProcessEnv, io: ConfigIo, problems: string[], baseDir: string): PeersConfig {
  if (!self.hasHttp) problems.push('http: required with peers (peers poll each other at GET /peer on the HTTP API)');
  else if (!self.hasToken && p.token === undefined) problems.push('http.token or peers.token: required with peers (/peer needs a token, even from loopback)');
  if (p.silentAfter <= p.interval) problems.push('peers.silentAfter: must be longer than peers.interval');
  if (p.disagreeAfter <= p.interval) problems.push('peers.disagreeAfter: must be longer than peers.interval (a disagreement is seen through polls)');
  const timeout = p.timeout ?? 15_000;
  if (timeout >= p.silentAfter) problems.push('peers.timeout: must be shorter than peers.silentAfter');
  const peerToken = p.token === undefined ? undefined : resolveSecret(p.token, 'peers.token', env, io, problems, baseDir);
  const names = new Set<string>();
  const monitors: PeerConfig[] = [];
  p.monitors.forEach((m, i) => {
    const where = `peers.monitors[${i}]`;
    if (m.name === self.instance) problems.push(`${where}.name: ${JSON.stringify(m.name)} is this monitor's own instance name; a monitor cannot be its own peer`);
    else if (names.has(m.name)) problems.push(`${where}.name: duplicate peer name ${JSON.stringify(m.name)}`);
    names.add(m.name);
    let token: Secret | undefined;
    if (m.token === undefined) {
      if (p.token === undefined) problems.push(`${where}.token: required (the peer's peers.token or http.token; its /peer never answers without one), or set peers.token shared by all`);
    } else token = resolveSecret(m.token, `${where}.token`, env, io, problems, baseDir);
    const h = hostOf(m.url);
    if (m.url.toLowerCase().startsWith('http://') && h && !LOOPBACK.test(h) && m.insecure !== true) {
      problems.push(`${where}.url: https:// required for a peer on another host (its token would cross the network in clear); write insecure: true to allow ${m.url}`);
    }
    let headers: Record<string, Secret> | undefined;
    for (const [k, v] of Object.entries(m.headers ?? {})) {
      const secret = resolveSecret(v, `${where}.headers.${k}`, env, io, problems, baseDir);
      if (secret) (headers ??= {})[k.toLowerCase()] = secret;
    }
    let sharesHostWith = m.sharesHostWith;
    let sharedHostFrom: PeerConfig['sharedHostFrom'] = sharesHostWith ? 'config' : undefined;
    if (sharesHostWith !== undefined && !self.nodes.some((n) => n.name === sharesHostWith)) problems.push(`${where}.sharesHostWith: no node named ${JSON.stringify(sharesHostWith)}`);
    if (sharesHostWith === undefined) {
      const node = h && !LOOPBACK.test(h) ? self.nodes.find((n) => hostOf(n.url) === h || hostOf(n.directUrl) === h) : undefined;
      if (node) {
        sharesHostWith = node.name;
        sharedHostFrom = 'url';
      }
    }
    monitors.push({ name: m.name, url: m.url.replace(/\/+$/, ''), token: token ?? peerToken ?? new Secret(''), sharesHostWith, sharedHostFrom, ...(headers ? { headers } : {}) });
  });
  const everyone = [self.instance, ...monitors.map((m) => m.name)];
  let rank = [...everyone].sort();
  if (p.rank) {
    const listed = new Set(p.rank);
    if (listed.size !== p.rank.length) problems.push('peers.rank: names a monitor twice');
    for (const n of everyone) if (!listed.has(n)) problems.push(`peers.rank: must list ${JSON.stringify(n)} (this instance and every peer, best first)`);
    for (const n of p.rank) if (!everyone.includes(n)) problems.push(`peers.rank: ${JSON.stringify(n)} is neither this instance nor a peer`);
    rank = p.rank;
  }
  return { interval: p.interval, silentAfter: p.silentAfter, timeout, takeoverAfter: p.takeoverAfter, disagreeAfter: p.disagreeAfter, rank, monitors, ...(peerToken ? { token: peerToken } : {}) };
}

/** Reads and parses a YAML config file; without a path, builds the config from the environment alone. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env, io: ConfigIo = realIo): Config {
  if (path === undefined) return parseConfig({}, env, { io });
  let text: string;
  try {
    text = io.readFile(path);
  } catch (e) {
    throw new ConfigError([`${path}: cannot read config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${path}: YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  return parseConfig(doc.toJS(), env, { baseDir: dirname(resolve(path)), io });
}
