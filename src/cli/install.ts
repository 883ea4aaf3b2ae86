import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderInstallFile, nextSteps } from '../install/render';
import { fragilePaths, INSTALL_TARGETS, TARGET_DEFAULTS, unreachablePaths, validateInstallValues, type InstallTarget, type InstallValues } from '../install/values';
import { configSecretUses, lookupAccount, planSecrets } from '../install/secret-access';
import { packageRoot } from '../version';
import { parseFlags, reportError, UsageError, type CliIo } from './io';

/** sysexits EX_CANTCREAT: the destination exists and differs, or cannot be written. */
const EXIT_CANTCREAT = 73;
/** sysexits EX_CONFIG: the config names a secret the service could not read. */
const EXIT_CONFIG = 78;

const HELP = `Usage: llm-sentinel install systemd|launchd [options]

Renders the systemd unit (Linux) or the launchd LaunchDaemon (macOS) for this host, with the absolute
paths of node, of this package's dist/cli.js and of the config, and installs it. It runs nothing: it
prints the commands to run next.

It reads the config's secret sources: systemd gets one LoadCredential= per { credential: NAME } (from
credentials/NAME next to the config); launchd's account must be able to read each secret file. A secret the
service could not read (an { env: NAME } the unit does not set, a missing credential file, a file the
daemon's user cannot read) is refused with the reason and the fix (exit 78; --force installs anyway).

Options:
  --config FILE   config the daemon reads (default ${TARGET_DEFAULTS.systemd.config};
                  launchd: ${TARGET_DEFAULTS.launchd.config})
  --user NAME     account the daemon runs as (default ${TARGET_DEFAULTS.systemd.user}, allocated by systemd's
                  DynamicUser= unless it exists; launchd: ${TARGET_DEFAULTS.launchd.user}, create it first)
  --print         write the rendered file to standard output instead of installing it
  --output PATH   install here instead of ${TARGET_DEFAULTS.systemd.destination}
                  (launchd: ${TARGET_DEFAULTS.launchd.destination})
  --force         replace an existing file that differs; accept paths under home folders
  --node PATH     node binary to run (default: the one running this command)
  --cli PATH      llm-sentinel's dist/cli.js (default: this package's)
`;

const FLAGS = {
  config: { type: 'string', short: 'c' },
  user: { type: 'string' },
  print: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  force: { type: 'boolean' },
  node: { type: 'string' },
  cli: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function isTarget(s: string | undefined): s is InstallTarget {
  return (INSTALL_TARGETS as readonly (string | undefined)[]).includes(s);
}

function mustBeFile(what: string, p: string): void {
  let isFile = false;
  try {
    isFile = statSync(p).isFile();
  } catch (e) {
    throw new UsageError(`${what} ${p} does not exist (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!isFile) throw new UsageError(`${what} ${p} is not a file`);
}

function readIfExists(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Write next to the destination, then rename: a crash never leaves systemd or launchd half a file. */
function writeAtomically(destination: string, content: string): void {
  const tmp = join(dirname(destination), `.${Date.now()}-${process.pid}.llm-sentinel-install.tmp`);
  try {
    writeFileSync(tmp, content, { mode: 0o644, flag: 'wx' });
    // The umask may have cleared bits from the mode above; both managers want a root-owned 0644 file.
    chmodSync(tmp, 0o644);
    renameSync(tmp, destination);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseFlags(argv, FLAGS, true);
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const [target, ...extra] = positionals;
    if (!isTarget(target)) {
      throw new UsageError(target === undefined ? 'which one: install systemd or install launchd?' : `unknown target '${target}': use systemd or launchd`);
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (values.print && values.output !== undefined) throw new UsageError('--print and --output exclude each other');

    const defaults = TARGET_DEFAULTS[target];
    const root = packageRoot();
    const v: InstallValues = {
      node: values.node !== undefined ? resolve(values.node) : process.execPath,
      cli: values.cli !== undefined ? resolve(values.cli) : join(root, 'dist', 'cli.js'),
      config: values.config !== undefined ? resolve(values.config) : defaults.config,
      user: values.user ?? defaults.user,
    };
    const problems = validateInstallValues(target, v);
    if (problems.length > 0) throw new UsageError(problems.join('\n  '));
    mustBeFile('node', v.node);
    mustBeFile('cli', v.cli);

    const unreachable = unreachablePaths(target, v);
    if (unreachable.length > 0 && !values.force) throw new UsageError(`${unreachable.join('\n  ')}\n  (--force installs anyway)`);
    for (const w of [...unreachable, ...fragilePaths(v)]) io.stderr.write(`llm-sentinel install: warning: ${w}\n`);
    if (!existsSync(v.config)) {
      io.stderr.write(`llm-sentinel install: note: ${v.config} does not exist yet; create it, then run this again (the unit loads the credentials the config names)\n`);
    } else {
      let uses;
      try {
        uses = configSecretUses(v.config);
      } catch (e) {
        io.stderr.write(`llm-sentinel install: ${(e as Error).message}\n`);
        return EXIT_CONFIG;
      }
      const plan = planSecrets(target, v.config, uses, target === 'launchd' ? lookupAccount(v.user) : undefined, v.user);
      v.credentials = plan.credentials;
      for (const w of plan.warnings) io.stderr.write(`llm-sentinel install: warning: ${w}\n`);
      if (plan.problems.length > 0) {
        const how = target === 'systemd' ? 'the unit' : `the LaunchDaemon (user ${v.user})`;
        io.stderr.write(`llm-sentinel install: ${how} could not read ${plan.problems.length === 1 ? 'a secret' : `${plan.problems.length} secrets`} of ${v.config}:\n${plan.problems.map((p) => `  - ${p}\n`).join('')}`);
        if (!values.force) {
          io.stderr.write('  (nothing written; --force installs anyway)\n');
          return EXIT_CONFIG;
        }
      }
    }

    const rendered = renderInstallFile(target, readFileSync(join(root, defaults.template), 'utf8'), v);
    if (values.print) {
      io.stdout.write(rendered);
      return 0;
    }

    const destination = resolve(values.output ?? defaults.destination);
    let existing: string | undefined;
    try {
      existing = readIfExists(destination);
    } catch (e) {
      io.stderr.write(`llm-sentinel install: cannot read ${destination}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return EXIT_CANTCREAT;
    }
    if (existing === rendered) {
      io.stdout.write(`${destination} is already up to date\n`);
    } else {
      if (existing !== undefined && !values.force) {
        io.stderr.write(
          `llm-sentinel install: ${destination} exists and differs from what would be written; ` +
            `compare with 'llm-sentinel install ${target} --print', then rerun with --force to replace it\n`,
        );
        return EXIT_CANTCREAT;
      }
      try {
        writeAtomically(destination, rendered);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        const hint = code === 'EACCES' || code === 'EPERM' ? ' (run it with sudo)' : '';
        io.stderr.write(`llm-sentinel install: cannot write ${destination}: ${code}${hint}\n`);
        return EXIT_CANTCREAT;
      }
      io.stdout.write(`wrote ${destination}\n`);
    }
    io.stdout.write(`\nNext:\n${nextSteps(target, destination).map((s) => `  ${s}\n`).join('')}`);
    return 0;
  } catch (e) {
    return reportError(e, io, 'install');
  }
}
