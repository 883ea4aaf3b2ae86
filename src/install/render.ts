import { basename, dirname } from 'node:path';
import { credentialFile } from '../config/secrets';
import { TARGET_DEFAULTS, type InstallTarget, type InstallValues } from './values';

/**
 * Replaces each @NAME@ (upper case) in a template. A placeholder without a value is a template bug, so it
 * throws rather than shipping a unit that would start `@NODE@`. Values are inserted as given: escape first.
 */
export function fillPlaceholders(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/@([A-Z][A-Z_]*)@/g, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template placeholder ${whole} has no value`);
    return v;
  });
}

/** Needs double quotes in a unit file command line: whitespace splits words, quotes and backslashes are syntax. */
const NEEDS_QUOTES = /[\s"'\\;]/;

/**
 * One word of a systemd command line (ExecStart=), so that the process receives exactly `value`.
 * '%' starts a specifier everywhere (→ '%%'). '$' expands variables in arguments but not in the executable
 * itself (→ '$$' only when !executable, checked with systemd-analyze). Quoting uses C-style escapes.
 */
export function systemdWord(value: string, executable = false): string {
  let s = value.replace(/%/g, '%%');
  if (!executable) s = s.replace(/\$/g, '$$$$');
  if (!NEEDS_QUOTES.test(s)) return s;
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Text content or attribute value for XML: the five predefined entities. */
export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * LoadCredential= for each credential the config uses, from credentials/NAME next to the config, with an
 * empty SetCredential= default so a missing file is the daemon's exit 78 naming it, not systemd's 243.
 */
export function credentialLines(v: InstallValues): string {
  const names = [...new Set(v.credentials ?? [])].sort();
  if (names.length === 0) return '# (the config uses no { credential: NAME } secrets: none loaded)';
  return names.map((n) => `LoadCredential=${n}:${credentialFile(dirname(v.config), n).replace(/%/g, '%%')}\nSetCredential=${n}:\\n`).join('\n');
}

export function renderSystemdUnit(template: string, v: InstallValues): string {
  return fillPlaceholders(template, {
    CREDENTIALS: credentialLines(v),
    NODE: systemdWord(v.node, true),
    CLI: systemdWord(v.cli),
    CONFIG: systemdWord(v.config),
    // checkUserName allows nothing systemd would interpret.
    USER: v.user,
  });
}

export function renderLaunchdPlist(template: string, v: InstallValues): string {
  return fillPlaceholders(template, {
    NODE: xmlEscape(v.node),
    CLI: xmlEscape(v.cli),
    CONFIG: xmlEscape(v.config),
    USER: xmlEscape(v.user),
  });
}

/** The template for `target`, rendered. Call validateInstallValues first: this only escapes. */
export function renderInstallFile(target: InstallTarget, template: string, v: InstallValues): string {
  return target === 'systemd' ? renderSystemdUnit(template, v) : renderLaunchdPlist(template, v);
}

/** A path as a shell word, for commands we print for people to copy (never run). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What to run after installing to `destination`: printed, never executed. */
export function nextSteps(target: InstallTarget, destination: string): string[] {
  if (target === 'systemd') {
    const unit = basename(destination).replace(/\.service$/, '');
    const steps: string[] = [];
    if (dirname(destination) !== dirname(TARGET_DEFAULTS.systemd.destination)) {
      steps.push(`sudo systemctl link ${shellQuote(destination)}`);
    }
    return [...steps, 'sudo systemctl daemon-reload', `sudo systemctl enable --now ${shellQuote(unit)}`, `journalctl -u ${shellQuote(unit)} -f`];
  }
  return [
    // bootstrap fails with "Input/output error" when the job is already loaded: bootout first.
    'sudo launchctl bootout system/com.llm-sentinel 2>/dev/null || true',
    `sudo launchctl bootstrap system ${shellQuote(destination)}`,
    'sudo launchctl kickstart -k system/com.llm-sentinel',
    // Umask 077 in the plist: the logs are readable by the daemon's account and root only.
    'sudo tail -f /usr/local/var/log/llm-sentinel/*.log',
    'launchctl print system/com.llm-sentinel',
  ];
}
