import { isAbsolute, join, resolve } from 'node:path';
import { Secret } from '../util/secret';
import type { SecretSource } from './schema-parts';

/** What resolving a secret needs from the outside world (a file read). */
export interface SecretIo {
  readFile(path: string): string;
}

/** The folder next to the config that `init` writes secrets to and the systemd unit loads credentials from. */
export const CREDENTIALS_FOLDER = 'credentials';

/** Where `{ credential: NAME }` is read outside systemd: `credentials/NAME` next to the config. */
export function credentialFile(configDir: string, name: string): string {
  return join(configDir, CREDENTIALS_FOLDER, name);
}

/**
 * Where `{ credential: NAME }` is read: `$CREDENTIALS_DIRECTORY/NAME` when a service manager handed the
 * process credentials (systemd sets it only then), else the file next to the config. Never both: under the
 * unit the originals are root-only, and a silent second place would hide a missing LoadCredential=.
 */
export function credentialLocation(name: string, env: NodeJS.ProcessEnv, configDir: string): { path: string; underSystemd: boolean } {
  const dir = env.CREDENTIALS_DIRECTORY?.split(':')[0];
  return dir ? { path: join(dir, name), underSystemd: true } : { path: credentialFile(configDir, name), underSystemd: false };
}

/**
 * A secret source (string, `{ credential }`, `{ file }`, `{ env }`) → its value. Problems are appended
 * (naming `where` and the place looked at), never thrown, so the config error lists them all.
 */
export function resolveSecret(src: SecretSource, where: string, env: NodeJS.ProcessEnv, io: SecretIo, problems: string[], baseDir: string): Secret | undefined {
  const fromFile = (full: string, what: string, missing: (code: string) => string = () => ''): Secret | undefined => {
    try {
      const value = io.readFile(full).replace(/\r?\n$/, '');
      // An empty credential (systemd's SetCredential= fallback for a missing file) would silently disable auth.
      if (value === '') {
        problems.push(`${where}: secret file ${full}${what} is empty${missing('EMPTY')}`);
        return undefined;
      }
      return new Secret(value);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      problems.push(`${where}: cannot read secret file ${full}${what} (${code})${missing(code)}`);
      return undefined;
    }
  };
  if (typeof src === 'string') {
    if (src === '') problems.push(`${where}: must not be empty`);
    return src === '' ? undefined : new Secret(src);
  }
  if ('credential' in src) {
    const name = src.credential;
    const at = credentialLocation(name, env, baseDir);
    const original = credentialFile(baseDir, name);
    return fromFile(at.path, ` (credential ${name})`, (code) =>
      at.underSystemd
        ? `: the service was not given credential ${name}; the unit needs LoadCredential=${name}:${original} (rerun \`llm-sentinel install systemd\`, which adds one for each credential the config uses) and that file must exist and hold the secret`
        : code === 'EACCES'
          ? ': this user cannot read it; on macOS make the daemon\'s user own it (sudo chown _llmsentinel FILE; chmod 0600 FILE)'
          : code === 'ENOENT' || code === 'EMPTY'
            ? `: put the secret there (one line, mode 0600; \`llm-sentinel init\` writes it)`
            : '',
    );
  }
  if ('file' in src) return fromFile(isAbsolute(src.file) ? src.file : resolve(baseDir, src.file), '');
  const direct = env[src.env];
  if (direct !== undefined && direct !== '') return new Secret(direct);
  const file = env[`${src.env}_FILE`];
  if (file) return fromFile(isAbsolute(file) ? file : resolve(baseDir, file), ` (from ${src.env}_FILE)`);
  problems.push(`${where}: environment variable ${src.env} (or ${src.env}_FILE) is not set${env.CREDENTIALS_DIRECTORY || env.INVOCATION_ID ? '; a service manager sets neither: use { credential: NAME } instead' : ''}`);
  return undefined;
}

/** One secret source found in a config, with the field path it sits at (for install's checks). */
export interface SecretUse {
  where: string;
  source: Exclude<SecretSource, string>;
}

/**
 * Every `{ credential }`, `{ file }` and `{ env }` secret in a schema-parsed config, found by shape (an object
 * with that single key): no list of secret fields to forget when a new one is added.
 */
export function secretUses(value: unknown, path = ''): SecretUse[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretUses(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const keys = Object.keys(value);
  const only = keys.length === 1 ? keys[0] : undefined;
  if ((only === 'credential' || only === 'file' || only === 'env') && typeof (value as Record<string, unknown>)[only] === 'string') {
    return [{ where: path, source: value as SecretUse['source'] }];
  }
  return keys.flatMap((k) => secretUses((value as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`));
}
