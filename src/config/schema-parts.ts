import { z } from 'zod';
import { parseDuration } from '../util/duration';

/** Schema pieces shared by the config sections (kept apart so section files can use them without a cycle). */

/** A duration string (`500ms`, `10s`, `5m`) or a number of milliseconds, turned into milliseconds. */
export const duration = (min = 0) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === undefined || !Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500ms, 10s, 5m, 1h)` });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${min}ms, got ${ms}ms` });
      return z.NEVER;
    }
    return ms;
  });

/** A credential's name: a file name in `$CREDENTIALS_DIRECTORY` and in `credentials/` next to the config. */
export const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * A secret: a plain string, `{ credential: NAME }` (`$CREDENTIALS_DIRECTORY/NAME` under systemd, else
 * `credentials/NAME` next to the config), `{ file: path }` or `{ env: NAME }` (reads NAME or NAME_FILE).
 */
export const secretSource = z.union([
  z.string(),
  z.object({ credential: z.string().regex(CREDENTIAL_NAME, 'a credential name (letters, digits, ".", "_", "-"; no "/")') }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
]);
export type SecretSource = z.infer<typeof secretSource>;

export const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL' },
);

