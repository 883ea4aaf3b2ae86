import { isAbsolute } from 'node:path';

/** Where the daemon can be installed: a systemd unit (Linux) or a launchd LaunchDaemon (macOS). */
export type InstallTarget = 'systemd' | 'launchd';
export const INSTALL_TARGETS: readonly InstallTarget[] = ['systemd', 'launchd'];

/** What a template is filled with: absolute paths and an account name, already checked by validateInstallValues. */
export interface InstallValues {
  /** The node binary (process.execPath by default). */
  node: string;
  /** The package's dist/cli.js. */
  cli: string;
  /** The config file the daemon reads. */
  config: string;
  /** The account the daemon runs as. */
  user: string;
  /** The `{ credential: NAME }` names the config uses (systemd: one LoadCredential= each). */
  credentials?: readonly string[];
}

export interface TargetDefaults {
  /** Template path relative to the package root. */
  template: string;
  destination: string;
  config: string;
  user: string;
}

export const TARGET_DEFAULTS: Readonly<Record<InstallTarget, TargetDefaults>> = {
  systemd: {
    template: 'systemd/llm-sentinel.service',
    destination: '/etc/systemd/system/llm-sentinel.service',
    config: '/etc/llm-sentinel/config.yaml',
    // With DynamicUser=yes this name is allocated at start unless a system user of that name exists.
    user: 'llm-sentinel',
  },
  launchd: {
    template: 'launchd/com.llm-sentinel.plist',
    destination: '/Library/LaunchDaemons/com.llm-sentinel.plist',
    config: '/usr/local/etc/llm-sentinel/config.yaml',
    // macOS convention for daemon accounts: a leading underscore, hidden from the login window.
    user: '_llmsentinel',
  },
};

/**
 * A portable account name: what both useradd (without --badname) and sysadminctl accept. No '$', '.',
 * '@' or spaces, so it needs no escaping anywhere it is written.
 */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,31}$/;

// C0 controls and DEL: a newline would start a new unit-file directive, and XML 1.0 forbids most of them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** systemd refuses an executable path containing these, even quoted ("Executable name contains special characters"). */
const SYSTEMD_EXECUTABLE_FORBIDDEN = /["'\\]/;

/** Home folders are invisible to the systemd unit (ProtectHome=yes): a node from nvm under /root would not start. */
const HOME_PREFIXES = ['/home/', '/root/', '/run/user/'];

export function checkUserName(name: string): string | undefined {
  if (!USER_NAME.test(name)) {
    return `--user ${JSON.stringify(name)} is not a valid account name: use letters, digits, '_' and '-' (at most 32), starting with a letter or '_'`;
  }
  if (name === 'root') return `--user root: the daemon needs no privileges; run it as its own account`;
  return undefined;
}

function checkPath(what: string, p: string): string | undefined {
  if (CONTROL.test(p)) return `${what} ${JSON.stringify(p)} contains a control character (newline, tab, ...)`;
  if (!isAbsolute(p)) return `${what} ${JSON.stringify(p)} must be an absolute path`;
  return undefined;
}

/** Every problem with the values, one message each (empty when they can be rendered). */
export function validateInstallValues(target: InstallTarget, v: InstallValues): string[] {
  const problems: string[] = [];
  const user = checkUserName(v.user);
  if (user) problems.push(user);
  for (const [what, p] of [
    ['node path', v.node],
    ['cli path', v.cli],
    ['config path', v.config],
  ] as const) {
    const problem = checkPath(what, p);
    if (problem) problems.push(problem);
  }
  if (target === 'systemd' && SYSTEMD_EXECUTABLE_FORBIDDEN.test(v.node)) {
    problems.push(`node path ${JSON.stringify(v.node)}: systemd refuses an executable path containing quotes or backslashes; pass --node with another path`);
  }
  return problems;
}

/** Paths the rendered unit could not reach at run time, as warnings (the caller decides whether they are fatal). */
export function unreachablePaths(target: InstallTarget, v: InstallValues): string[] {
  const out: string[] = [];
  for (const [what, p] of [
    ['node', v.node],
    ['cli', v.cli],
    ['config', v.config],
  ] as const) {
    const fix =
      what === 'config'
        ? `keep the config in ${TARGET_DEFAULTS[target].config} (\`sudo llm-sentinel init --out ${TARGET_DEFAULTS[target].config} …\` writes it there) and pass --config with that path`
        : what === 'node'
          ? 'install Node system-wide and pass --node with its path'
          : 'install llm-sentinel system-wide (sudo npm install -g …) or pass --cli with its dist/cli.js';
    if (target === 'systemd' && HOME_PREFIXES.some((h) => p.startsWith(h))) {
      out.push(`${what} ${p} is under a home folder, which the unit hides (ProtectHome=yes): the service would fail to start. Fix: ${fix} (see docs/deploy-linux.md)`);
    }
    if (target === 'launchd' && p.startsWith('/Users/')) {
      out.push(`${what} ${p} is under /Users, which the daemon's account (${v.user}) usually cannot read. Fix: ${fix} (see docs/deploy-macos.md)`);
    }
  }
  return out;
}

/** Paths that work today but break on a routine upgrade: warnings only. */
export function fragilePaths(v: InstallValues): string[] {
  // process.execPath is the real path; Homebrew's versioned Cellar folder disappears on `brew upgrade node`.
  if (/\/Cellar\/node(@[\d.]+)?\//.test(v.node)) {
    const opt = v.node.replace(/\/Cellar\/(node(?:@[\d.]+)?)\/[^/]+\//, '/opt/$1/');
    return [`node ${v.node} is inside Homebrew's Cellar, which 'brew upgrade' deletes; pass --node ${opt}, Homebrew's link that survives upgrades`];
  }
  return [];
}
