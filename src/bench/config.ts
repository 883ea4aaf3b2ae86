/** Config pieces every benchmark daemon shares, so each bench states only what it changes. */

/** `instance: bench` and the two simulated nodes. */
export const benchNodes = (primary: string, fallback: string): string =>
  `instance: bench
nodes:
  - { name: primary, url: "${primary}", model: llama3.2 }
  - { name: fallback, url: "${fallback}", model: llama3.2 }
`;

/** The default cadence divided by `scale`: a time-compressed outage (every timeout and interval ÷ scale). */
export function compressedCadence(scale: number): string {
  const ms = (realMs: number) => Math.max(1, Math.round(realMs / scale));
  return `probes:
  liveness: { interval: ${ms(10_000)}, timeout: ${ms(3_000)} }
  canary: { interval: ${ms(60_000)}, timeout: ${ms(30_000)} }
  connectTimeout: ${ms(2_000)}
decision: { fastInterval: ${ms(2_000)}, failbackHold: ${ms(60_000)} }
state: { heartbeat: ${ms(10_000)}, staleAfter: ${ms(30_000)} }
`;
}

/** Files in the bench's own temp folder, and the log level. */
export const benchFiles = (logLevel: 'info' | 'warn' = 'warn'): string => `stateFile: state.json
database: sentinel.db
log: { level: ${logLevel} }
`;
