import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version, read when asked (src/ and dist/ are both one level below the package root). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0-unknown';
  }
}

/** The package root folder (where migrations/, systemd/, launchd/ live). */
export const packageRoot = (): string => join(__dirname, '..');
