import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { discover, type Discovery } from '../init/discover';
import { chooseModel, DEFAULT_WITNESSES, isLoopbackListen, problemHint, renderConfig, SECRET_NAMES } from '../init/render';
import { run as check } from './check';
import { parseFlags, reportError, UsageError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel init --primary URL --fallback URL [--model M] [--email-to ADDR]...
                         [--smtp-host HOST[:PORT]] [--smtp-user USER] [--email-from ADDR]
                         [--listen HOST:PORT] [--witness TARGET]... [--out FILE] [--yes]

Asks both servers what they are (Ollama or OpenAI-compatible, version, installed and loaded models, Cloudflare
or Cloudflare Access in front), writes a commented config (default ./llm-sentinel.yaml) and its secrets (one
file each, mode 0600, in credentials/ next to it), runs \`check\` and prints the command that installs the service.

  --model M          the model apps use (default: per node, the one loaded now, else the newest installed)
  --email-to ADDR    mail alerts to ADDR (repeatable); needs --smtp-host, and SMTP_PASSWORD with --smtp-user
  --listen H:P       serve the status page, /state and /metrics there; beyond loopback a token is generated
  --witness TARGET   http(s)://… or tcp://host:port proving the monitor's own network (repeatable; default
                     two public DNS resolvers, ${DEFAULT_WITNESSES.join(' and ')})
  --yes              overwrite existing files, and write the config even when a node does not work (marked)

On a terminal a missing --primary, --fallback or --smtp-host is asked for. Without one it is an error (64).
Exit 0 when written and at least one node is healthy, 1 when written but none is, 69 when a node does not
work and --yes was not given (nothing written), 73 when a file exists and --yes was not given.
`;

const EXIT_UNAVAILABLE = 69;
const EXIT_CANTCREAT = 73;

type Stdin = NodeJS.ReadableStream & { isTTY?: boolean };

function httpUrl(flag: string, v: string): string {
  try {
    const u = new URL(v);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '') return v.replace(/\/+$/, '');
  } catch {
    // fall through
  }
  throw new UsageError(`--${flag} must be an http:// or https:// URL, got ${JSON.stringify(v)}`);
}

/** Asks on a terminal, one short question each; without one, a missing value is a usage error naming its flag. */
function asker(stdin: Stdin | undefined, io: CliIo) {
  const tty = stdin?.isTTY === true;
  let rl: ReturnType<typeof createInterface> | undefined;
  return {
    tty,
    async need(flag: string, question: string, given: string | undefined): Promise<string> {
      if (given !== undefined && given !== '') return given;
      if (!tty || !stdin) throw new UsageError(`--${flag} is required (no terminal to ask: ${question})`);
      rl ??= createInterface({ input: stdin, output: io.stdout, terminal: true });
      for (;;) {
        const a = (await rl.question(`${question} `)).trim();
        if (a !== '') return a;
      }
    },
    close(): void {
      rl?.close();
    },
  };
}

function summary(name: string, d: Discovery, model?: string): string {
  if (d.problem) return `${name.padEnd(9)} ${d.url}\n          NOT WORKING (${d.problem.reason}): ${d.problem.detail}\n          ${problemHint(d)}\n`;
  const what = d.api === 'ollama' ? `Ollama ${d.version ?? '?'}` : 'OpenAI-compatible';
  const via = d.access ? ', behind Cloudflare Access' : d.cloudflare ? ', behind Cloudflare' : '';
  const choice = chooseModel(d, model);
  return `${name.padEnd(9)} ${d.url}\n          ${what}${via}; ${d.installed.length} model(s) installed, ${d.loaded.length} loaded; model ${choice.model ?? '(discovered by the monitor)'} (${choice.why})${choice.warning ? `\n          warning: ${choice.warning}` : ''}\n`;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const ask = asker(io.stdin, io);
  try {
    const { values } = parseFlags(argv, {
      primary: { type: 'string' },
      fallback: { type: 'string' },
      model: { type: 'string' },
      'email-to': { type: 'string', multiple: true },
      'smtp-host': { type: 'string' },
      'smtp-user': { type: 'string' },
      'email-from': { type: 'string' },
      listen: { type: 'string' },
      witness: { type: 'string', multiple: true },
      out: { type: 'string', short: 'o' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const out = resolve(values.out ?? 'llm-sentinel.yaml');
    // The systemd unit loads credentials from credentials/<name> next to /etc/llm-sentinel/config.yaml: same names here.
    const secretsDirName = 'credentials';
    const secretsDir = join(dirname(out), secretsDirName);
    const yes = values.yes === true;

    const primary = httpUrl('primary', await ask.need('primary', 'Primary node URL (e.g. https://llm.example.com)?', values.primary));
    const fallback = httpUrl('fallback', await ask.need('fallback', 'Fallback node URL (e.g. http://10.0.0.5:11434)?', values.fallback));
    const witnesses = values.witness ?? DEFAULT_WITNESSES;
    for (const w of witnesses) if (!/^(https?:\/\/\S+|tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5})$/.test(w)) throw new UsageError(`--witness must be http(s)://… or tcp://host:port, got ${JSON.stringify(w)}`);
    if (values.listen !== undefined && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(values.listen)) throw new UsageError(`--listen must be host:port (e.g. 127.0.0.1:9470), got ${JSON.stringify(values.listen)}`);
    const emailTo = values['email-to'] ?? [];
    for (const a of emailTo) if (!/^[^<>\s@]+@[^<>\s@]+$/.test(a)) throw new UsageError(`--email-to must be an e-mail address, got ${JSON.stringify(a)}`);
    let email: Parameters<typeof renderConfig>[0]['email'];
    let smtpPassword: string | undefined;
    if (emailTo.length > 0) {
      const server = await ask.need('smtp-host', 'SMTP server for the alert mails (host or host:port)?', values['smtp-host']);
      const m = /^([^:\s]+)(?::(\d{1,5}))?$/.exec(server);
      if (!m) throw new UsageError(`--smtp-host must be host or host:port, got ${JSON.stringify(server)}`);
      const user = values['smtp-user'];
      if (user !== undefined) {
        smtpPassword = io.env.SMTP_PASSWORD || undefined;
        if (smtpPassword === undefined) throw new UsageError('--smtp-user needs the password in the SMTP_PASSWORD environment variable (it goes to a secret file, never into the config)');
      }
      email = { to: emailTo, host: m[1] as string, ...(m[2] ? { port: Number(m[2]) } : {}), ...(user !== undefined ? { user } : {}), from: values['email-from'] ?? `llm-sentinel <llm-sentinel@${hostname()}>` };
    }
    const httpToken = values.listen !== undefined && !isLoopbackListen(values.listen) ? randomBytes(24).toString('base64url') : undefined;
    ask.close();

    const secrets: Array<[string, string]> = [];
    if (httpToken) secrets.push([join(secretsDir, SECRET_NAMES.httpToken), httpToken]);
    if (smtpPassword) secrets.push([join(secretsDir, SECRET_NAMES.smtpPassword), smtpPassword]);
    const existing = [out, ...secrets.map(([p]) => p)].filter((p) => existsSync(p));
    if (existing.length > 0 && !yes) {
      io.stderr.write(`llm-sentinel init: ${existing.join(', ')} already exists; not overwritten (pass --yes to overwrite)\n`);
      return EXIT_CANTCREAT;
    }

    io.stdout.write('Asking both servers what they are…\n');
    const [p, f] = await Promise.all([discover(primary), discover(fallback)]);
    io.stdout.write(summary('primary', p, values.model) + summary('fallback', f, values.model));
    const broken = [p, f].filter((d) => d.problem);
    if (broken.length > 0 && !yes) {
      io.stderr.write(`llm-sentinel init: ${broken.map((d) => `${d === p ? 'primary' : 'fallback'} does not work (${d.problem?.reason})`).join('; ')}; nothing written. Fix it, or pass --yes to write the config with the node marked.\n`);
      return EXIT_UNAVAILABLE;
    }

    const yaml = renderConfig({
      primary: p,
      fallback: f,
      model: values.model,
      witnesses,
      listen: values.listen,
      email,
      secretsDir: secretsDirName,
      secretFiles: { httpToken: httpToken !== undefined, smtpPassword: smtpPassword !== undefined },
      writtenAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    if (secrets.length > 0) mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
    for (const [path, value] of secrets) {
      writeFileSync(path, `${value}\n`, { mode: 0o600, flag: yes ? 'w' : 'wx' });
      chmodSync(path, 0o600); // an overwritten file keeps its old mode otherwise
    }
    writeFileSync(out, yaml, { mode: 0o644, flag: yes ? 'w' : 'wx' });
    io.stdout.write(`\nWrote ${out}${secrets.length > 0 ? ` and ${secrets.length} secret file(s) in ${secretsDir} (mode 0600)` : ''}.\n`);
    if (httpToken) io.stdout.write(`The status page needs the token in ${join(secretsDir, SECRET_NAMES.httpToken)} (Authorization: Bearer <token>).\n`);

    io.stdout.write(`\nllm-sentinel check --config ${out}\n`);
    const checked = await check(['--config', out], io);
    const target = process.platform === 'darwin' ? 'launchd' : 'systemd';
    io.stdout.write(`\nNext: sudo llm-sentinel install ${target} --config ${out}\n`);
    return checked === 0 ? 0 : 1;
  } catch (e) {
    return reportError(e, io, 'init');
  } finally {
    ask.close();
  }
}
