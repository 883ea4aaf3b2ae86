/**
 * The one table of probe outcomes. Everything that asks a question about a reason reads it here: how the
 * decision core counts it, whether it is a failure of the path (so a direct URL can tell the tunnel from
 * Ollama), whether any answer came back at all (the monitor-offline guard and the client), its words in a
 * mail and the hint `check` prints. `Record<Reason, …>` makes the compiler name every row a new reason needs.
 *
 * This module imports nothing: the client library (src/client) reads it too, so apps pay nothing for it.
 * docs/reasons.md says how each reason is recognised; src/probes/classify.ts is the code that does it.
 */

export const REASONS = [
  'ok',
  'refused',
  'dns',
  'tls',
  'connect_timeout',
  'timeout',
  'reset',
  'cloudflare_tunnel_down',
  'cloudflare_origin_unreachable',
  'cloudflare_timeout',
  'cloudflare_challenge',
  'cloudflare_blocked',
  'cloudflare_rate_limited',
  'auth_required',
  'not_ollama',
  'model_missing',
  'overloaded',
  'server_error',
  'stream_error',
  'stalled',
  'bad_response',
  'too_large',
  'wrong_answer',
  'empty_answer',
  'thinking_budget',
  'aborted',
] as const;
export type Reason = (typeof REASONS)[number];

export interface ReasonInfo {
  /**
   * How the decision core counts a failure with this reason:
   *   hard: a fact (the server said no, or the path to it is gone); `fall` of them flip a node.
   *   soft: could be noise (timeouts, resets, 5xx, broken streams, wrong answers); needs `softFall`.
   *   none: not a failure (`ok`), or never judged (`aborted`: the monitor cancelled the probe itself).
   */
  weight: 'hard' | 'soft' | 'none';
  /** Could not talk to the server at all: a canary failing this way counts against reachability, not generation. */
  network: boolean;
  /** A failure of the path to the node, not of its model: probing the direct URL tells the tunnel from Ollama. */
  path: boolean;
  /**
   * No answer came back at all. If every node and every witness fails this way the monitor's own network is
   * gone. Cloudflare errors are not among them: Cloudflare answered, so the monitor's network works.
   */
  noAnswer: boolean;
  /**
   * The node itself is silent: the same silence a request waiting for headers gets. A liveness probe that
   * fails this way (after retries) makes a waiting client ask the next node (suspicion, src/client/suspicion.ts).
   * Cloudflare's tunnel errors count (the node behind it is gone); a node that answers, even with an error,
   * does not, and neither do failures on the monitor's side of the path (DNS, TLS).
   */
  silent: boolean;
  /** Short words for a mail or a page; the detail line says the rest. */
  words: string;
  /** What to do, in one line, for `check`. docs/reasons.md has the long form. */
  hint: string;
}

const row = (weight: ReasonInfo['weight'], flags: { network?: boolean; path?: boolean; noAnswer?: boolean; silent?: boolean }, words: string, hint: string): ReasonInfo => ({
  weight,
  network: flags.network ?? false,
  path: flags.path ?? false,
  noAnswer: flags.noAnswer ?? false,
  silent: flags.silent ?? false,
  words,
  hint,
});

export const REASON_INFO: Readonly<Record<Reason, ReasonInfo>> = {
  ok: row('none', {}, 'ok', ''),
  refused: row('hard', { network: true, path: true, noAnswer: true, silent: true }, 'connection refused', 'start Ollama (ollama serve); check the port and OLLAMA_HOST'),
  dns: row('hard', { network: true, path: true, noAnswer: true }, 'DNS lookup failed', "check the host name in the node URL and the monitor's DNS"),
  tls: row('hard', { network: true, path: true, noAnswer: true }, 'TLS failed', 'use the right scheme (Ollama speaks plain HTTP) or fix the certificate'),
  connect_timeout: row('soft', { network: true, path: true, noAnswer: true, silent: true }, 'no answer (connect timeout)', 'the machine is off, asleep or firewalled'),
  timeout: row('soft', { path: true, noAnswer: true, silent: true }, 'timed out', 'a hung or busy server, or a cold model load: keep the model loaded'),
  reset: row('soft', { network: true, path: true, noAnswer: true, silent: true }, 'connection reset', 'Ollama crashed or restarted, or a proxy dropped the connection'),
  cloudflare_tunnel_down: row('hard', { network: true, path: true, silent: true }, 'Cloudflare tunnel down', 'cloudflared is not running or not connected: restart it; is the Mac awake?'),
  cloudflare_origin_unreachable: row('hard', { network: true, path: true, silent: true }, 'Cloudflare cannot reach Ollama', "start Ollama; check the ingress rule's service URL and scheme"),
  cloudflare_timeout: row('soft', { silent: true }, 'Cloudflare timeout', 'the first byte took longer than Cloudflare waits: keep the model warm, stream'),
  // Cloudflare's own protections (src/core/cloudflare.ts says how each is recognised). Apps meet the same answer,
  // so the hints name the Cloudflare setting, never Access tokens or Ollama's queue. A challenge or a block is
  // the path refusing us, a fact: hard. A rate limit passes: soft, and the monitor waits out its Retry-After
  // (core/schedule.ts), since Cloudflare says retrying early may extend the block.
  cloudflare_challenge: row('hard', { network: true, path: true }, 'Cloudflare challenged this request', "Cloudflare answers scripts (your apps too) with a challenge: find the ray id in the Security Events log (Security > Analytics > Events). Bot Fight Mode cannot be skipped by a WAF skip rule: turn it off, or allow the callers' IPs with an IP Access rule; a skip rule can skip Super Bot Fight Mode, Browser Integrity Check or the rule that challenges"),
  cloudflare_blocked: row('hard', { network: true, path: true }, 'Cloudflare blocked this request', "Cloudflare blocks this request (your apps too): find the ray id in the Security Events log (Security > Analytics > Events) to see which WAF custom rule (1020), IP Access or country rule (1005-1009) or Browser Integrity Check (1010) it was, and exempt the API hostname or the callers' IPs"),
  cloudflare_rate_limited: row('soft', { network: true, path: true }, 'Cloudflare rate-limited this request', "a Cloudflare rate limiting rule (1015) throttles this hostname, and your apps count against it too: find it in the Security Events log (Security > Analytics > Events), raise its threshold or exempt the API hostname; the monitor waits out Retry-After"),
  auth_required: row('hard', { network: true, path: true }, 'access denied (auth)', 'send the Access service token in the node headers, or fix the Host header'),
  not_ollama: row('hard', { network: true, path: true }, 'not the Ollama API', 'the URL points at something else, or `api:` is wrong'),
  model_missing: row('hard', {}, 'model missing', 'ollama pull <model> on that node, or fix `model` in the config'),
  overloaded: row('soft', { path: true }, 'overloaded', 'too many queued requests: raise OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL'),
  server_error: row('soft', { path: true }, 'server error', "read the detail and Ollama's log"),
  stream_error: row('soft', {}, 'stream broke off', "the runner died mid-generation or a proxy cut the stream: check Ollama's log"),
  // Judged by core/busy (judgeStall) from a canary timeout while liveness passed: the server answers, the
  // runner does not generate. Hard: `fall` of them in a row (each a whole canary deadline) flip the node.
  stalled: row('hard', {}, 'generation stalled (the server answers, no tokens come)', "a runner hung behind a stuck request: check Ollama's log, restart it; or a queue longer than probes.canary.timeout"),
  bad_response: row('soft', {}, 'bad response', 'a proxy in between or a wrong URL: the detail names what was wrong'),
  too_large: row('soft', {}, 'response too large', 'a wrong URL or a misbehaving server; raise maxResponseBytes for a huge model list'),
  wrong_answer: row('soft', {}, 'canary answered wrongly', 'check the answer: a different model behind the name, a system prompt, or adjust prompt/expect'),
  empty_answer: row('soft', {}, 'canary answered nothing', 'a broken template, or a model that cannot follow the prompt'),
  // Not a node failure: the server generated, the canary ran out of tokens while the model was thinking.
  // The decision core counts it as reachable and leaves the generation verdict alone (core/decide.ts).
  thinking_budget: row('none', {}, 'canary cut off while the model was thinking', 'raise probes.canary.thinkingBudget (maxTokens where thinking is switched off), or use a server/model whose thinking can be switched off'),
  aborted: row('none', {}, 'aborted', ''),
};

export const reasonInfo = (r: Reason): ReasonInfo => REASON_INFO[r];
export const isReason = (s: string): s is Reason => Object.prototype.hasOwnProperty.call(REASON_INFO, s);

/**
 * Socket-level error codes, by what they mean. The probe classifier (src/probes/classify.ts) and the client
 * (src/client/classify.ts) both map codes through this one table, so an app's report and a probe name the
 * same failure the same way. Order matters where an error chain holds several codes: see `reasonForCodes`.
 */
export const ERROR_CODES = {
  refused: ['ECONNREFUSED'],
  dns: ['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA', 'EAI_ADDRFAMILY'],
  tls: [
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'HOSTNAME_MISMATCH'
  ],
  connect_timeout: ['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN'],
  reset: ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED'],
  timeout: ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ABORT_ERR', 'UND_ERR_ABORTED', 'UND_ERR_ABORT'],
  bad_response: ['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'],
} as const satisfies Partial<Record<Reason, readonly string[]>>;

type CodedReason = keyof typeof ERROR_CODES;
const CODE_ORDER: readonly CodedReason[] = ['refused', 'dns', 'tls', 'connect_timeout', 'reset', 'timeout', 'bad_response'];
const BY_CODE: ReadonlyMap<string, CodedReason> = new Map(CODE_ORDER.flatMap((r) => ERROR_CODES[r].map((c) => [c, r] as const)));

const isTlsCode = (c: string) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_') || c.startsWith('CERT_');

/** The reason one error code stands for, if it is a known one. */
export function reasonForCode(code: string): CodedReason | undefined {
  return BY_CODE.get(code) ?? (isTlsCode(code) ? 'tls' : code.startsWith('HPE_') ? 'bad_response' : undefined);
}

/**
 * The reason a chain of error codes stands for (an error, its causes, an AggregateError's members): the
 * first reason in CODE_ORDER that any code names, so "refused" on one address beats "reset" on another.
 */
export function reasonForCodes(codes: readonly string[]): { reason: CodedReason; code: string } | undefined {
  let best: { reason: CodedReason; code: string } | undefined;
  for (const code of codes) {
    const reason = reasonForCode(code);
    if (reason && (!best || CODE_ORDER.indexOf(reason) < CODE_ORDER.indexOf(best.reason))) best = { reason, code };
  }
  return best;
}
