import { shellQuote } from '../install/render';
import { TARGET_DEFAULTS, type InstallTarget, type InstallValues } from '../install/values';

/** Homebrew's stable links to node (Apple silicon, Intel): they survive `brew upgrade node`, the Cellar path does not. */
const BREW_NODE_LINKS = ['/opt/homebrew/bin/node', '/usr/local/bin/node'];

/** `<prefix>/Cellar/<formula>/<version>/bin/node` → `<prefix>/opt/<formula>/bin/node`, Homebrew's link that survives upgrades. */
export function brewOptLink(node: string): string | undefined {
  const m = /^(.*)\/Cellar\/(node(?:@[\d.]+)?)\/[^/]+\/bin\/node$/.exec(node);
  return m ? `${m[1]}/opt/${m[2]}/bin/node` : undefined;
}

export interface NextInput {
  config: string;
  /** The node running init (process.execPath). */
  node: string;
  /** --user given to init (launchd). */
  user?: string;
  exists(path: string): boolean;
  /** install's own check of the paths (unreachablePaths), so init never prints a command install refuses. */
  unreachable(v: InstallValues): string[];
}

/**
 * The lines init ends with: the `install` command exactly as it will be accepted (absolute config path,
 * `--node` where the running node's path would not survive or not be visible), or what to do first.
 */
export function nextInstallCommand(target: InstallTarget, i: NextInput): string[] {
  let node: string | undefined;
  const notes: string[] = [];
  if (target === 'launchd') {
    // Always named on macOS: process.execPath is the Cellar's versioned real path under Homebrew.
    const opt = brewOptLink(i.node);
    node = opt !== undefined && i.exists(opt) ? opt : i.node;
  }
  const values: InstallValues = { node: node ?? i.node, cli: '/', config: i.config, user: i.user ?? TARGET_DEFAULTS[target].user };
  const problems = i.unreachable(values);
  if (problems.some((p) => p.startsWith('config '))) {
    return [
      `Next: the ${target === 'systemd' ? 'systemd unit' : 'LaunchDaemon'} cannot read ${i.config}. Write the config where it can:`,
      `  sudo llm-sentinel init … --out ${TARGET_DEFAULTS[target].config}${target === 'launchd' ? ' --launchd' : ''}`,
      `then: sudo llm-sentinel install ${target} --config ${TARGET_DEFAULTS[target].config}`,
    ];
  }
  if (problems.some((p) => p.startsWith('node '))) {
    notes.push(`(node ${i.node} is where the service cannot run it: install Node system-wide and put its path after --node; docs/deploy-${target === 'systemd' ? 'linux' : 'macos'}.md)`);
    node = target === 'systemd' ? '/usr/bin/node' : BREW_NODE_LINKS[0];
  }
  const words = ['sudo', 'llm-sentinel', 'install', target, '--config', shellQuote(i.config)];
  if (node !== undefined) words.push('--node', shellQuote(node));
  if (i.user !== undefined) words.push('--user', shellQuote(i.user));
  return [`Next: ${words.join(' ')}`, ...notes];
}
