import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { discover, type Discovery } from '../init/discover';
import { chooseModel, DEFAULT_WITNESSES, problemHint, renderConfig, SECRET_NAMES } from '../init/render';
import { lookupAccount } from '../install/secret-access';
import { TARGET_DEFAULTS, unreachablePaths, type InstallTarget } from '../install/values';
import { nextInstallCommand } from '../init/next';
import { run as check } from './check';
import { parseFlags, reportError, UsageError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel init --primary URL --fallback URL [--model M] [--email-to ADDR]...
                         [--smtp-host HOST[:PORT]] [--smtp-user USER] [--email-from ADDR]
                         [--listen HOST:PORT] [--witness TARGET]... [--out FILE] [--yes]
                         [--access-client-id ID] [--systemd | --launchd [--user NAME]]

Asks both servers what they are (Ollama or OpenAI-compatible, version, installed and loaded models, Cloudflare
or Cloudflare Access in front), writes a commented config (default ./llm-sentinel.yaml) and its secrets (one
file each, mode 0600, in credentials/ next to it), runs \`check\` and prints the command that installs the service.

  --model M          the model apps use (default: per node, the one loaded now, else the newest installed)
  --email-to ADDR    mail alerts to ADDR (repeatable); needs --smtp-host, and SMTP_PASSWORD with --smtp-user
  --listen H:P       serve the status page, /state and /metrics there, with a generated token (peers and
                     anything published through a tunnel need it)
  --access-client-id ID
                     Cloudflare Access service token id (ID.access) for the nodes behind Access; its secret
                     comes from the CF_ACCESS_CLIENT_SECRET environment variable, never from a flag
  --witness TARGET   http(s)://… or tcp://host:port proving the monitor's own network (repeatable; default
                     two public DNS resolvers, ${DEFAULT_WITNESSES.join(' and ')})
  --yes              overwrite existing files, and write the config even when a node does not work (marked)
  --systemd, --launchd
                     the service manager the config is for (default: this OS's). --launchd makes the
                     secret files owned by the daemon's account (--user, default ${TARGET_DEFAULTS.launchd.user}),
                     which must exist, and checks they are readable for it
  SMTP_PASSWORD      (environment) the SMTP password with --smtp-user; with sudo, pass the variables
                     through: sudo --preserve-env=SMTP_PASSWORD,CF_ACCESS_CLIENT_SECRET llm-sentinel init …

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
      'access-client-id': { type: 'string' },
      systemd: { type: 'boolean' },
      launchd: { type: 'boolean' },
      user: { type: 'string' },
      out: { type: 'string', short: 'o' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (values.systemd && values.launchd) throw new UsageError('--systemd and --launchd exclude each other');
    const target: InstallTarget = values.launchd ? 'launchd' : values.systemd ? 'systemd' : process.platform === 'darwin' ? 'launchd' : 'systemd';
    if (values.user !== undefined && target !== 'launchd') throw new UsageError('--user goes with --launchd (the systemd unit allocates its own user)');
    const daemonUser = values.user ?? TARGET_DEFAULTS.launchd.user;
    const out = resolve(values.out ?? 'llm-sentinel.yaml');
    // The systemd unit loads { credential: NAME } from credentials/NAME next to the config; launchd's account reads it there.
    const secretsDirName = 'credentials';
    const secretsDir = join(dirname(out), secretsDirName);
    const yes = values.yes === true;

    const primary = httpUrl('primary', await ask.need('primary', 'Primary node URL (e.g. https://llm.example.com)?', values.primary));
    const fallback = httpUrl('fallback', await ask.need('fallback', 'Fallback node URL (e.g. http://10.0.0.5:11434)?', values.fallback));
    const witnesses = values.witness ?? DEFAULT_WITNESSES;
    for (const w of witnesses) if (!/^(https?:\/\/\S+|tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5})$/.test(w)) throw new UsageError(`--witness must be http(s)://… or tcp://host:port, got ${JSON.stringify(w)}`);
    if (values.listen !== undefined && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(values.listen)) throw new UsageError(`--listen must be host:port (e.g. 127.0.0.1:9470), got ${JSON.stringify(values.listen)}`);
    const accessClientId = values['access-client-id'];
    let accessSecret: string | undefined;
    if (accessClientId !== undefined) {
      if (!/^[A-Za-z0-9._-]+$/.test(accessClientId)) throw new UsageError(`--access-client-id must be a service token id (e.g. 0123abcd.access), got ${JSON.stringify(accessClientId)}`);
      accessSecret = io.env.CF_ACCESS_CLIENT_SECRET || undefined;
      if (accessSecret === undefined) throw new UsageError('--access-client-id needs the service token\'s secret in the CF_ACCESS_CLIENT_SECRET environment variable (it goes to a secret file, never into the config or a flag; with sudo: sudo --preserve-env=CF_ACCESS_CLIENT_SECRET …)');
    }
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
        if (smtpPassword === undefined) throw new UsageError('--smtp-user needs the password in the SMTP_PASSWORD environment variable (it goes to a secret file, never into the config; with sudo: sudo --preserve-env=SMTP_PASSWORD …)');
      }
      email = { to: emailTo, host: m[1] as string, ...(m[2] ? { port: Number(m[2]) } : {}), ...(user !== undefined ? { user } : {}), from: values['email-from'] ?? `llm-sentinel <llm-sentinel@${hostname()}>` };
    }
    // Every listener gets a token: beyond loopback the config requires one, peers poll GET /peer with it, and a
    // loopback listener is usually published (cloudflared, Caddy), where a token is the only lock on it.
    const httpToken = values.listen !== undefined ? randomBytes(24).toString('base64url') : undefined;
    const account = target === 'launchd' ? lookupAccount(daemonUser) : undefined;
    if (target === 'launchd' && account === undefined) {
      throw new UsageError(`--launchd: no account ${daemonUser} to own the secret files; create it first (docs/deploy-macos.md: sudo sysadminctl -addUser ${daemonUser} -roleAccount …) or name another with --user`);
    }
    if (account && account.uid !== process.getuid?.() && process.getuid?.() !== 0) {
      throw new UsageError(`--launchd: only root can give the secret files to ${daemonUser}: run it with sudo`);
    }
    ask.close();

    io.stdout.write('Asking both servers what they are…\n');
    const found = await Promise.all([primary, fallback].map((url) => discover(url)));
    // Nodes behind Access are asked again with the service token: what the monitor will see.
    const accessHeaders = accessClientId !== undefined && accessSecret !== undefined ? { 'CF-Access-Client-Id': accessClientId, 'CF-Access-Client-Secret': accessSecret } : undefined;
    const [p, f] = (await Promise.all(found.map(async (d) => (d.access && accessHeaders ? { ...(await discover(d.url, { headers: accessHeaders })), access: true } : d)))) as [Discovery, Discovery];
    io.stdout.write(summary('primary', p, values.model) + summary('fallback', f, values.model));
    const broken = [p, f].filter((d) => d.problem);
    const behindAccess = [p, f].filter((d) => d.access);
    if (behindAccess.length > 0 && accessClientId === undefined) {
      io.stderr.write(
        `llm-sentinel init: ${behindAccess.map((d) => (d === p ? 'primary' : 'fallback')).join(' and ')} ${behindAccess.length > 1 ? 'are' : 'is'} behind Cloudflare Access: ` +
          'add --access-client-id <ID>.access and set CF_ACCESS_CLIENT_SECRET=<secret> in the environment (a service token: Zero Trust > Access > Service Auth; ' +
          'the Access application needs a Service Auth policy)\n',
      );
    }
    if (broken.length > 0 && !yes) {
      io.stderr.write(`llm-sentinel init: ${broken.map((d) => `${d === p ? 'primary' : 'fallback'} does not work (${d.problem?.reason})`).join('; ')}; nothing written. Fix it, or pass --yes to write the config with the node marked.\n`);
      return EXIT_UNAVAILABLE;
    }
    const accessUsed = accessHeaders !== undefined && behindAccess.length > 0;

    const secrets: Array<[string, string]> = [];
    if (httpToken) secrets.push([join(secretsDir, SECRET_NAMES.httpToken), httpToken]);
    if (smtpPassword) secrets.push([join(secretsDir, SECRET_NAMES.smtpPassword), smtpPassword]);
    if (accessUsed && accessSecret) secrets.push([join(secretsDir, SECRET_NAMES.accessSecret), accessSecret]);
    const existing = [out, ...secrets.map(([path]) => path)].filter((path) => existsSync(path));
    if (existing.length > 0 && !yes) {
      io.stderr.write(`llm-sentinel init: ${existing.join(', ')} already exists; not overwritten (pass --yes to overwrite)\n`);
      return EXIT_CANTCREAT;
    }

    const yaml = renderConfig({
      primary: p,
      fallback: f,
      model: values.model,
      witnesses,
      listen: values.listen,
      email,
      secretsDir: secretsDirName,
      secretFiles: { httpToken: httpToken !== undefined, smtpPassword: smtpPassword !== undefined, accessSecret: accessUsed },
      ...(accessUsed ? { accessClientId } : {}),
      writtenAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    if (secrets.length > 0) {
      mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
      chmodSync(secretsDir, 0o700);
    }
    for (const [path, value] of secrets) {
      writeFileSync(path, `${value}\n`, { mode: 0o600, flag: yes ? 'w' : 'wx' });
      chmodSync(path, 0o600); // an overwritten file keeps its old mode otherwise
    }
    // launchd hands the daemon nothing: its account reads the files itself, so it owns them (and the folder).
    if (account && secrets.length > 0) for (const path of [secretsDir, ...secrets.map(([f2]) => f2)]) chownSync(path, account.uid, -1);
    writeFileSync(out, yaml, { mode: 0o644, flag: yes ? 'w' : 'wx' });
    io.stdout.write(`\nWrote ${out}${secrets.length > 0 ? ` and ${secrets.length} secret file(s) in ${secretsDir} (mode 0600${account ? `, owned by ${account.name}` : ''})` : ''}.\n`);
    if (httpToken) io.stdout.write(`The status page and peers need the token in ${join(secretsDir, SECRET_NAMES.httpToken)} (Authorization: Bearer <token>).\n`);

    const checkArgs = ['--config', out, ...(account ? ['--user', account.name] : [])];
    io.stdout.write(`\nllm-sentinel check ${checkArgs.join(' ')}\n`);
    const checked = await check(checkArgs, io);
    const next = nextInstallCommand(target, { config: out, node: process.execPath, user: values.user, exists: existsSync, unreachable: (v) => unreachablePaths(target, v) });
    io.stdout.write(`\n${next.join('\n')}\n`);
    return checked === 0 ? 0 : 1;
  } catch (e) {
    return reportError(e, io, 'init');
  } finally {
    ask.close();
  }
}
