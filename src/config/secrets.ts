import { isAbsolute, resolve } from 'node:path';
import { Secret } from '../util/secret';
import type { SecretSource } from './schema-parts';

/** What resolving a secret needs from the outside world (a file read). */
export interface SecretIo {
  readFile(path: string): string;
}

/**
 * A secret source (string, `{ file }`, `{ env }`) → its value. Problems are appended (naming `where`), never
 * thrown, so the config error lists them all.
 */
export function resolveSecret(src: SecretSource, where: string, env: NodeJS.ProcessEnv, io: SecretIo, problems: string[], baseDir: string): Secret | undefined {
  const fromFile = (path: string, what: string): Secret | undefined => {
    const full = isAbsolute(path) ? path : resolve(baseDir, path);
    try {
      const value = io.readFile(full).replace(/\r?\n$/, '');
      // An empty credential (systemd's SetCredential= fallback for a missing file) would silently disable auth.
      if (value === '') {
        problems.push(`${where}: secret file ${full}${what} is empty`);
        return undefined;
      }
      return new Secret(value);
    } catch (e) {
      problems.push(`${where}: cannot read secret file ${full}${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return undefined;
    }
  };
  if (typeof src === 'string') {
    if (src === '') problems.push(`${where}: must not be empty`);
    return src === '' ? undefined : new Secret(src);
  }
  if ('file' in src) return fromFile(src.file, '');
  const direct = env[src.env];
  if (direct !== undefined && direct !== '') return new Secret(direct);
  const file = env[`${src.env}_FILE`];
  if (file) return fromFile(file, ` (from ${src.env}_FILE)`);
  problems.push(`${where}: environment variable ${src.env} (or ${src.env}_FILE) is not set`);
  return undefined;
}

