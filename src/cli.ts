#!/usr/bin/env node
import { processIo, type CliIo } from './cli/io';
import { lightDaemonV8 } from './util/v8';
import { packageVersion } from './version';

type Command = { summary: string; load: () => Promise<{ run(argv: string[], io: CliIo): Promise<number> }> };

/** Commands load their module only when run, so `--version` and `help` stay instant. */
const COMMANDS: Record<string, Command> = {
  init: { summary: 'probe two URLs and write a commented config for them (then check, then install)', load: () => import('./cli/init') },
  run: {
    summary: 'run the monitor daemon',
    load: () => {
      lightDaemonV8();
      return import('./cli/run');
    },
  },
  check: { summary: 'probe every node once and print a table', load: () => import('./cli/check') },
  status: { summary: "print the published state: who is preferred, each node's status", load: () => import('./cli/status') },
  alert: { summary: 'send a test alert through the configured channels, or list recent alerts', load: () => import('./cli/alert') },
  maintenance: { summary: 'start, end or list maintenance windows (alerts for a node are held)', load: () => import('./cli/maintenance') },
  report: { summary: 'uptime, coverage, incidents and latency over a window (--since 7d | --from/--to, --json)', load: () => import('./cli/report') },
  validate: { summary: 'validate a config file and exit (78 when invalid)', load: () => import('./cli/validate') },
  install: { summary: 'write (or print) the systemd unit or launchd daemon for this host', load: () => import('./cli/install') },
  simulate: { summary: 'run a simulated Ollama node (for demos and tests)', load: () => import('./cli/simulate') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return [
    `llm-sentinel ${packageVersion()}: health monitor and failover guide for self-hosted LLM nodes`,
    '',
    'Usage: llm-sentinel <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    "Most commands take --config FILE (YAML). Without it, OLLAMA_PRIMARY_URL and OLLAMA_FALLBACK_URL are enough.",
    'Run llm-sentinel <command> --help for its options.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`llm-sentinel: unknown command '${name}'\n\n${usage()}`);
    return 64;
  }
  const mod = await command.load();
  return mod.run(rest, io);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`llm-sentinel: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
