import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, parse as parsePath, resolve } from 'node:path';
import YAML from 'yaml';
import { configSchema } from '../config/schema';
import { credentialFile, secretUses, type SecretUse } from '../config/secrets';
import type { InstallTarget } from './values';

/**
 * Can the service manager's process read every secret the config names? systemd runs the daemon as a
 * throw-away user (DynamicUser=) that reads nothing root owns: it gets `{ credential }` secrets through
 * LoadCredential= and nothing else. launchd runs it as the plist's UserName with only the plist's variables:
 * files must be readable by that account. `install` refuses what cannot work and `check --user` warns.
 */

/** An account's ids, for judging file modes. */
export interface Account {
  name: string;
  uid: number;
  gids: number[];
}

/** The account's uid and groups from `id` (macOS and Linux alike); undefined when it does not exist. */
export function lookupAccount(name: string): Account | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gids = execFileSync('id', ['-G', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).map(Number);
    return Number.isInteger(uid) ? { name, uid, gids } : undefined;
  } catch {
    return undefined;
  }
}

interface ModeFacts {
  uid: number;
  gid: number;
  mode: number;
}

/** Whether `who` has permission `bit` (4 read, 1 search) on a file with these facts (root: always). */
export function permits(f: ModeFacts, who: Account, bit: 4 | 1): boolean {
  if (who.uid === 0) return true;
  if (f.uid === who.uid) return (f.mode & (bit << 6)) !== 0;
  if (who.gids.includes(f.gid)) return (f.mode & (bit << 3)) !== 0;
  return (f.mode & bit) !== 0;
}

/** Why `who` cannot read `path` (a folder on the way it cannot enter, or the file's mode), or undefined if it can. */
export function unreadableBy(path: string, who: Account, stat: (p: string) => ModeFacts = statSync): string | undefined {
  let f: ModeFacts;
  try {
    f = stat(path);
  } catch (e) {
    return `${path} does not exist (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
  const root = parsePath(path).root;
  for (let d = dirname(path); ; d = dirname(d)) {
    try {
      if (!permits(stat(d), who, 1)) return `${who.name} cannot enter the folder ${d}`;
    } catch {
      return `${d} cannot be read`;
    }
    if (d === root) break;
  }
  if (!permits(f, who, 4)) return `${who.name} cannot read ${path} (owner uid ${f.uid}, mode ${(f.mode & 0o777).toString(8).padStart(4, '0')})`;
  return undefined;
}

/** The file a `{ credential }` or `{ file }` secret is read from outside systemd; undefined for `{ env }`. */
export function secretPath(use: SecretUse, configDir: string): string | undefined {
  const s = use.source;
  if ('credential' in s) return credentialFile(configDir, s.credential);
  if ('file' in s) return isAbsolute(s.file) ? s.file : resolve(configDir, s.file);
  return undefined;
}

/** The secret sources of a config file, schema-checked (no secret is read). Throws with the problems. */
export function configSecretUses(configPath: string): SecretUse[] {
  const doc = YAML.parseDocument(readFileSync(configPath, 'utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${configPath}: YAML syntax error: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) throw new Error(`${configPath} is not a valid config (run llm-sentinel validate --config ${configPath})`);
  return secretUses(parsed.data);
}

export interface SecretPlan {
  /** `{ credential }` names, for LoadCredential=. */
  credentials: string[];
  /** Secrets the service could not read: install refuses (each names the field and how to provide it). */
  problems: string[];
  warnings: string[];
}

/**
 * Judges each secret source for the service manager. `account` is the launchd daemon's account (undefined
 * when it does not exist yet: readability is then only a warning).
 */
export function planSecrets(target: InstallTarget, configPath: string, uses: SecretUse[], account: Account | undefined, userName: string, stat: (p: string) => ModeFacts = statSync): SecretPlan {
  const configDir = dirname(configPath);
  const credentials: string[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const use of uses) {
    const s = use.source;
    const field = use.where;
    if ('env' in s) {
      const name = s.env.toLowerCase().replace(/_/g, '-');
      problems.push(
        target === 'systemd'
          ? `${field}: { env: ${s.env} }: the unit sets neither ${s.env} nor ${s.env}_FILE. Write { credential: ${name} } instead and put the secret in ${credentialFile(configDir, name)} (root, mode 0600): the unit then loads it with LoadCredential=`
          : `${field}: { env: ${s.env} }: the LaunchDaemon's plist sets no ${s.env}. Write { credential: ${name} } instead and put the secret in ${credentialFile(configDir, name)}, owned by ${userName}, mode 0600`,
      );
      continue;
    }
    const path = secretPath(use, configDir) as string;
    if ('credential' in s) credentials.push(s.credential);
    // The older spelling of a credential under systemd: %d/NAME, read in place while the unit runs.
    const legacy = target === 'systemd' && 'file' in s ? /^\/run\/credentials\/llm-sentinel\.service\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(s.file)?.[1] : undefined;
    if (legacy !== undefined && 'file' in s) {
      credentials.push(legacy);
      if (!existsSync(credentialFile(configDir, legacy))) problems.push(`${field}: ${credentialFile(configDir, legacy)} does not exist: the unit loads ${s.file} from it. Create it (root, mode 0600), or write { credential: ${legacy} }`);
      continue;
    }
    if (target === 'systemd') {
      let facts: ModeFacts | undefined;
      try {
        facts = stat(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
        problems.push(`${field}: ${path} does not exist (${code}). Create it: sudo install -d -m 0700 ${dirname(path)} && sudo sh -c 'umask 077; cat > ${path}' (type the secret, Enter, Ctrl-D)`);
        continue;
      }
      // { file }: the dynamic user reads only what anyone may read; a 0600 root file is out of its reach.
      if ('file' in s && (facts.mode & 0o004) === 0) {
        const name = s.file.split('/').pop() ?? 'secret';
        problems.push(`${field}: { file: ${s.file} }: the unit's user (DynamicUser=) cannot read ${path} (mode ${(facts.mode & 0o777).toString(8).padStart(4, '0')}). Write { credential: ${name} } instead and move the file to ${credentialFile(configDir, name)}`);
      }
      continue;
    }
    if (!account) {
      warnings.push(`${field}: cannot check that ${userName} can read ${path}: no account ${userName} here (create it first, docs/deploy-macos.md)`);
      continue;
    }
    const why = unreadableBy(path, account, stat);
    if (!why) continue;
    const blocked = /cannot enter the folder (.*)$/.exec(why)?.[1];
    const fix =
      blocked !== undefined && blocked !== dirname(path)
        ? `sudo chmod o+x ${blocked}`
        : `sudo chown ${userName} ${dirname(path)} ${path} && sudo chmod 0700 ${dirname(path)} && sudo chmod 0600 ${path} (\`sudo llm-sentinel init --launchd\` writes them so)`;
    problems.push(`${field}: the daemon's account ${userName} cannot read its secret: ${why}. Fix: ${fix}`);
  }
  return { credentials, problems, warnings };
}

/**
 * `check`'s warnings for a config run by launchd as `userName`: each secret file that account could not
 * read (the daemon would exit 78 at every start). Nothing when the account does not exist here.
 */
export function daemonReadWarnings(configPath: string, userName: string): string[] {
  const account = lookupAccount(userName);
  if (!account) return [];
  let uses: SecretUse[];
  try {
    uses = configSecretUses(configPath);
  } catch {
    return [];
  }
  return planSecrets('launchd', configPath, uses, account, userName).problems;
}
