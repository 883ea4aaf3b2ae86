import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A config with fast cadence so end-to-end tests finish in seconds; extra YAML appended verbatim. */
export function writeFastConfig(dir: string, primaryUrl: string, fallbackUrl: string, extra = '', overrides: { instance?: string; decision?: string; failbackHold?: string; liveness?: string; canary?: string; primary?: string; probes?: string; stateFile?: string } = {}): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `instance: ${overrides.instance ?? 'e2e'}
nodes:
  - { name: primary, url: "${primaryUrl}", model: llama3.2${overrides.primary ? `, ${overrides.primary}` : ''} }
  - { name: fallback, url: "${fallbackUrl}", model: llama3.2 }
probes:
  liveness: ${overrides.liveness ?? '{ interval: 500ms, timeout: 400ms }'}
  canary: ${overrides.canary ?? '{ interval: 2s, timeout: 1500ms }'}
  connectTimeout: 300ms${overrides.probes ? `\n  ${overrides.probes}` : ''}
decision: { fall: 3, rise: 2, fastInterval: 200ms, failbackHold: ${overrides.failbackHold ?? '2s'}${overrides.decision ? `, ${overrides.decision}` : ''} }
state: { heartbeat: 500ms, staleAfter: 5s }
stateFile: ${overrides.stateFile ?? 'state.json'}
database: sentinel.db
log: { level: info }
${extra}`,
  );
  return file;
}

export interface AlertRow {
  kind: string;
  node: string;
  status: string;
  suppressed: string | null;
  facts: string;
}

/** The alerts table of a daemon's database, read from outside while it runs (oldest first). */
export function alertRows(file: string): AlertRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT kind, node, status, suppressed, facts FROM alerts ORDER BY id').all() as AlertRow[];
  } finally {
    db.close();
  }
}
