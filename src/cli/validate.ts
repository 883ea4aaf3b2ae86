import { ConfigError, loadConfig } from '../config';
import { discoverModels } from './discover';
import { setupWarnings } from './warnings';
import { parseFlags, reportError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel validate [--config FILE]

Validates the configuration (file plus environment overrides) and prints a summary. Nodes without a model
are asked which one they would use (loaded, else the only one installed); if one answers and no choice can be
made, that is a configuration error listing its models.
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
    // Nodes without a model are asked which one they would use: a choice that cannot be made is a config error.
    const found = await discoverModels(config);
    if (found.problems.length > 0) throw new ConfigError(found.problems);
    io.stdout.write(`configuration is valid: instance ${config.instance}, ${config.nodes.length} nodes\n`);
    for (const n of config.nodes) {
      io.stdout.write(`  ${n.priority === 0 ? 'primary ' : 'fallback'} ${n.name}: ${n.url} (${n.api}, model ${n.model ?? 'discovered'}${n.models.length > 1 ? `; app models ${n.models.join(', ')}` : ''})\n`);
    }
    for (const note of found.notes) io.stdout.write(`  ${note}\n`);
    for (const w of setupWarnings(config, config.nodes.map((node) => ({ node })))) io.stdout.write(`  warning: ${w}\n`);
    io.stdout.write(`  state file: ${config.stateFile}\n  database:   ${config.database}\n`);
    return 0;
  } catch (e) {
    return reportError(e, io, 'validate');
  }
}
