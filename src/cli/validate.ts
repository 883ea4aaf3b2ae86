import { loadConfig } from '../config';
import { parseFlags, reportError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel validate [--config FILE]

Validates the configuration (file plus environment overrides) and prints a summary.
Exit 0 when valid, 78 with one line per problem when not.
`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const config = loadConfig(values.config ?? io.env.LLM_SENTINEL_CONFIG, io.env);
    io.stdout.write(`configuration is valid: instance ${config.instance}, ${config.nodes.length} nodes\n`);
    for (const n of config.nodes) {
      io.stdout.write(`  ${n.priority === 0 ? 'primary ' : 'fallback'} ${n.name}: ${n.url} (${n.api}, model ${n.model})\n`);
    }
    io.stdout.write(`  state file: ${config.stateFile}\n  database:   ${config.database}\n`);
    return 0;
  } catch (e) {
    return reportError(e, io, 'validate');
  }
}
