import type * as NodeCron from 'node-cron';
import { parseCron } from '../core/cron';

/**
 * node-cron, loaded on first use. Loading it costs the daemon about 0.5 MB of heap and pulls in
 * `child_process` and `crypto`; at the defaults nothing needs it: the history job's hourly schedule runs on
 * core/cron, and only an expression core/cron does not read, a recurring maintenance window or the weekly
 * digest load it (issue 13's footprint).
 */
export function nodeCron(): typeof NodeCron {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous on purpose: zod refinements and job starts are synchronous
  return require('node-cron') as typeof NodeCron;
}

/**
 * Whether `expr` is a cron expression node-cron accepts. A plain one (core/cron reads it; every expression it
 * reads is one node-cron accepts, test/unit/cron.test.ts checks a table of them) is judged without loading
 * node-cron.
 */
export function isCronExpression(expr: string): boolean {
  return parseCron(expr) !== undefined || nodeCron().validate(expr);
}
