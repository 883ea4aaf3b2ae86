import { reasonInfo } from '../core/reasons';
import type { Discovery } from './discover';

/**
 * The config `llm-sentinel init` writes, as a pure function of what it found and was told. YAML is written
 * by hand so every choice carries its comment; string values go through JSON.stringify, which YAML reads as
 * a double-quoted scalar.
 */

/**
 * Two public resolvers run by different organisations (Cloudflare, Quad9): the monitor's own network is down
 * only when both are unreachable. The same two as config.example.yaml and the deploy guides.
 */
export const DEFAULT_WITNESSES = ['tcp://1.1.1.1:53', 'tcp://9.9.9.9:53'];
export const DEFAULT_MODEL = 'llama3.2';
/** File names of the secrets init writes, inside the secrets folder. */
export const SECRET_NAMES = { httpToken: 'http-token', smtpPassword: 'smtp-password', accessSecret: 'cf-access-secret' } as const;

export interface InitInput {
  primary: Discovery;
  fallback: Discovery;
  /** --model: the model apps use, if they use one everywhere. */
  model?: string;
  witnesses: string[];
  /** --listen host:port for the status page and /state; absent: no HTTP server. */
  listen?: string;
  email?: { to: string[]; host: string; port?: number; user?: string; from: string };
  /** Folder of the secret files, as written in the config (relative to it). */
  secretsDir: string;
  /** Which secrets init wrote (each a file in secretsDir). */
  secretFiles: { httpToken?: boolean; smtpPassword?: boolean; accessSecret?: boolean };
  /** --access-client-id: the Cloudflare Access service token's id, sent to the nodes found behind Access. */
  accessClientId?: string;
  /** ISO time, for the header. */
  writtenAt: string;
}

const q = (s: string) => JSON.stringify(s);
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export function isLoopbackListen(listen: string): boolean {
  const host = /^(\[[^\]]+\]|[^:]+):\d+$/.exec(listen)?.[1] ?? '';
  return LOOPBACK.test(host);
}

/** `llama3.2` matches `llama3.2:latest` and the other way round (Ollama's default tag). */
export function sameModel(a: string, b: string): boolean {
  const norm = (s: string) => (s.includes(':') ? s : `${s}:latest`);
  return norm(a) === norm(b);
}

export interface ModelChoice {
  /** Undefined: none written; the monitor discovers it when the node answers (never a built-in name). */
  model?: string;
  why: string;
  /** Set when the node cannot serve the model as things stand. */
  warning?: string;
}

/**
 * Which model a node is probed with: --model when given (warning when the node lacks it); else the one in
 * memory now (the one apps use, and a canary on it costs no load); else the most recently installed one.
 */
export function chooseModel(d: Discovery, wanted?: string): ModelChoice {
  if (wanted !== undefined) {
    if (d.problem || d.installed.some((m) => sameModel(m, wanted))) return { model: wanted, why: 'from --model' };
    return { model: wanted, why: 'from --model', warning: `${wanted} is not installed on this node (installed: ${d.installed.join(', ') || 'none'}): run \`ollama pull ${wanted}\` there` };
  }
  const loaded = d.loaded.find((m) => d.installed.length === 0 || d.installed.some((i) => sameModel(i, m)));
  if (loaded) return { model: loaded, why: 'loaded in memory when init ran' };
  const first = d.installed[0];
  if (first) return { model: first, why: d.api === 'ollama' ? 'most recently installed' : 'first model the server lists' };
  // No guessed name: the monitor takes the node's loaded model, else its only one, once it can ask.
  if (d.problem) return { why: 'none written: the node could not be asked; the monitor discovers it (the loaded model, else the only one), or set the model your apps use' };
  return { why: 'none written: nothing is installed yet', warning: `no model is installed on this node: run \`ollama pull <model>\` there (e.g. ${DEFAULT_MODEL}); the monitor then uses it` };
}

/** What to do about a node init could not use, in words for a comment and for the terminal (Access: what init leaves to fill in). */
export function problemHint(d: Discovery): string {
  const p = d.problem;
  if (!p) return '';
  if (d.access || (p.reason === 'auth_required' && d.cloudflare)) {
    return 'Cloudflare Access protects this hostname. Create a service token (Zero Trust > Access > Service Auth), give the Access application a Service Auth policy, put the id and the secret (in its own file, mode 0600) under headers below, and uncomment them.';
  }
  // Every other reason's advice is its row in the reason table, the same words `check` prints.
  const hint = reasonInfo(p.reason).hint;
  return hint === '' ? 'Check the URL and the server, then run `llm-sentinel check`.' : `${hint}.`;
}

function describe(d: Discovery): string {
  const via = d.access ? ', behind Cloudflare Access' : d.cloudflare ? ', behind Cloudflare' : '';
  if (d.problem) return `could not be used when init ran (${d.problem.reason})${via}`;
  const what = d.api === 'ollama' ? `Ollama ${d.version ?? ''}`.trim() : 'an OpenAI-compatible server';
  return `${what}${via}`;
}

function listLine(label: string, items: string[]): string {
  const shown = items.slice(0, 8).join(', ') + (items.length > 8 ? `, … (${items.length} in all)` : '');
  return `${label}: ${shown || 'none'}`;
}

function nodeBlock(name: string, d: Discovery, choice: ModelChoice, accessClientId: string | undefined): string[] {
  const out: string[] = [`  # ${name}: ${describe(d)}.`];
  if (!d.problem) out.push(`  # ${listLine('Installed', d.installed)}. ${listLine('Loaded', d.loaded)}.`);
  if (d.problem) {
    for (const line of wrap(`NOT WORKING when init ran: ${d.problem.detail}`, 104)) out.push(`  # !! ${line}`);
    for (const line of wrap(problemHint(d), 104)) out.push(`  # !! ${line}`);
    out.push('  # !! The node stays in the config; the monitor reports it down until this is fixed (llm-sentinel check).');
  }
  if (choice.warning) out.push(`  # !! ${choice.warning}`);
  out.push(`  - name: ${name}`, `    url: ${q(d.url)}`, choice.model !== undefined ? `    model: ${q(choice.model)}   # ${choice.why}` : `    # model: ${choice.why}`);
  if (d.api === 'openai') out.push('    api: openai                      # no /api/version here: probed through /v1 (OpenAI-compatible)');
  if (d.access && accessClientId !== undefined) {
    out.push(
      '    headers:                         # Cloudflare Access service token (init --access-client-id)',
      `      CF-Access-Client-Id: ${q(accessClientId)}     # the id is not a secret`,
      `      CF-Access-Client-Secret: { credential: ${SECRET_NAMES.accessSecret} }   # from $CF_ACCESS_CLIENT_SECRET when init ran`,
    );
  } else if (d.access) {
    out.push(
      '    # headers:                       # Cloudflare Access service token (or rerun init with --access-client-id)',
      '    #   CF-Access-Client-Id: "<id>.access"     # the id is not a secret',
      `    #   CF-Access-Client-Secret: { credential: ${SECRET_NAMES.accessSecret} }   # put the secret in credentials/${SECRET_NAMES.accessSecret}, mode 0600`,
    );
  } else if (d.cloudflare && !d.problem) {
    out.push('    # directUrl: "http://127.0.0.1:11434"   # on the Ollama machine itself: tells a tunnel failure from an Ollama one');
  }
  return out;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/)) {
    if (cur !== '' && cur.length + word.length + 1 > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur === '' ? word : `${cur} ${word}`;
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

export function renderConfig(input: InitInput): string {
  const { primary, fallback } = input;
  const lines: string[] = [
    `# llm-sentinel configuration, written by \`llm-sentinel init\` at ${input.writtenAt}.`,
    '# Every key is described in config.example.yaml and docs/ (shipped with the package).',
    '# Secrets are not in this file: each is a file in credentials/ next to it (mode 0600), referenced as',
    '# { credential: NAME }. Run by hand (check, validate) it reads credentials/NAME; under systemd it reads',
    '# $CREDENTIALS_DIRECTORY/NAME, which `llm-sentinel install systemd` loads from that same file; under',
    '# launchd the daemon\'s account reads the file itself. Nothing to edit for the service.',
    '# Check with: llm-sentinel validate --config FILE; llm-sentinel check --config FILE',
    '',
    '# Apps use the first healthy node in this order: primary first, then fallback.',
    'nodes:',
    ...nodeBlock('primary', primary, chooseModel(primary, input.model), input.accessClientId),
    ...nodeBlock('fallback', fallback, chooseModel(fallback, input.model), input.accessClientId),
    '',
    'selfCheck:',
    '  # Witnesses prove the monitor\'s own network works: when every node AND every witness is unreachable, the',
    '  # monitor knows it is cut off itself and freezes node statuses instead of reporting a false outage.',
  ];
  if (input.witnesses.join() === DEFAULT_WITNESSES.join()) {
    lines.push(
      '  # These are two public DNS resolvers run by different organisations (Cloudflare 1.1.1.1, Quad9 9.9.9.9), reached',
      '  # over TCP port 53. Use any two hosts independent of your nodes (http(s)://… or tcp://host:port), e.g. your',
      '  # router (tcp://192.168.1.1:53) when the monitor must not reach the Internet. `init --witness` sets them.',
    );
  }
  lines.push('  witnesses:', ...input.witnesses.map((w) => `    - ${q(w)}`));
  if (input.listen !== undefined) {
    lines.push('', '# Status page, /state and /metrics.', 'http:', `  listen: ${q(input.listen)}`);
    if (input.secretFiles.httpToken) {
      lines.push(`  token: { credential: ${SECRET_NAMES.httpToken} }   # generated by init (Authorization: Bearer <token>); peers and anyone reaching it through a tunnel need it`);
    }
  }
  if (input.email) {
    const e = input.email;
    lines.push(
      '',
      'alerts:',
      '  # One mail when a node is confirmed down, one when it recovers (docs/alerts.md). Phone pushes: alerts.ntfy,',
      '  # alerts.telegram, alerts.discord, alerts.slack. Try them with: llm-sentinel alert test --config FILE',
      '  email:',
      `    host: ${q(e.host)}`,
      ...(e.port !== undefined ? [`    port: ${e.port}`] : []),
      ...(e.user !== undefined ? [`    user: ${q(e.user)}`] : []),
      ...(input.secretFiles.smtpPassword ? [`    password: { credential: ${SECRET_NAMES.smtpPassword} }`] : []),
      `    from: ${q(e.from)}`,
      `    to: [${e.to.map(q).join(', ')}]`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
