import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError, realIo, type ConfigIo } from './index';
import { configSchema } from './schema';

/**
 * Where the config's state file is, read from the file alone: `status` resolves no secret, so any user who
 * can read the config and the state file can run it, outside the service that holds the credentials.
 * Same rule as parseConfig: stateFile as written (relative to the config), else $STATE_DIRECTORY, else
 * ./llm-sentinel-data.
 */
export function loadStateFilePath(path: string | undefined, env: NodeJS.ProcessEnv, io: ConfigIo = realIo): string {
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = io.readFile(path);
    } catch (e) {
      throw new ConfigError([`${path}: cannot read config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
    }
    const doc = YAML.parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) throw new ConfigError([`${path}: YAML syntax error: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`]);
    raw = doc.toJS() ?? {};
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError([`${path ?? 'config'}: not a valid config (run llm-sentinel validate)`]);
  const stateFile = parsed.data.stateFile;
  const baseDir = path !== undefined ? dirname(resolve(path)) : io.cwd();
  if (stateFile !== undefined) return isAbsolute(stateFile) ? stateFile : resolve(baseDir, stateFile);
  const stateDir = env.STATE_DIRECTORY?.split(':')[0] || resolve(io.cwd(), 'llm-sentinel-data');
  return resolve(stateDir, 'state.json');
}
