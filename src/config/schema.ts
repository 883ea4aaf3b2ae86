import { z } from 'zod';
import { parseDuration } from '../util/duration';

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

/** A secret: a plain string, `{ file: path }` (systemd credentials) or `{ env: NAME }` (reads NAME or NAME_FILE). */
export const secretSource = z.union([
  z.string(),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
]);
export type SecretSource = z.infer<typeof secretSource>;

const httpUrl = z.string().refine(
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

/** `/regex/flags` or a plain substring (matched case-insensitively). */
const expectPattern = z.string().min(1).transform((s, ctx) => {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(s);
  if (!m) return { source: s, test: (t: string) => t.toLowerCase().includes(s.toLowerCase()) };
  try {
    const re = new RegExp(m[1] as string, m[2]);
    return { source: s, test: (t: string) => re.test(t) };
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(e as Error).message}` });
    return z.NEVER;
  }
});

const nodeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, . _ - (max 63), starting with a letter or digit'),
    url: httpUrl.optional(),
    model: z.string().min(1).optional(),
    api: z.enum(['ollama', 'openai']).prefault('ollama'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), secretSource).prefault({}),
  })
  .strict();

const livenessSchema = z
  .object({ interval: duration(100).prefault('10s'), timeout: duration(50).prefault('3s') })
  .strict();

const canarySchema = z
  .object({
    interval: duration(100).prefault('60s'),
    timeout: duration(50).prefault('30s'),
    firstTokenTimeout: duration(50).optional(),
    prompt: z.string().min(1).prefault('Reply with the single word PONG.'),
    expect: expectPattern.prefault('/pong/i'),
    maxTokens: z.number().int().min(1).max(4096).prefault(8),
    keepAlive: z.string().regex(/^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)+$/, 'a Go duration such as 30m or -1m (forever)').prefault('30m'),
    enabled: z.boolean().prefault(true),
  })
  .strict();

export const configSchema = z
  .object({
    instance: z.string().min(1).max(100).optional(),
    nodes: z.array(nodeSchema).prefault([]),
    probes: z
      .object({
        liveness: livenessSchema.prefault({}),
        canary: canarySchema.prefault({}),
        connectTimeout: duration(50).prefault('3s'),
        maxResponseBytes: z.number().int().min(1024).max(64 * 1024 * 1024).prefault(1024 * 1024),
        jitter: z.number().min(0).max(0.5).prefault(0.1),
      })
      .strict()
      .prefault({}),
    decision: z
      .object({
        fall: z.number().int().min(1).max(100).prefault(3),
        rise: z.number().int().min(1).max(100).prefault(2),
        fastInterval: duration(100).prefault('2s'),
        failbackHold: duration(0).prefault('60s'),
        slowTtft: duration(1).prefault('5s'),
        slowTotal: duration(1).prefault('20s'),
      })
      .strict()
      .prefault({}),
    stateFile: z.string().min(1).optional(),
    database: z.string().min(1).optional(),
    state: z
      .object({ heartbeat: duration(100).prefault('10s'), staleAfter: duration(1000).prefault('30s') })
      .strict()
      .prefault({}),
    http: z
      .object({
        listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9470 or [::1]:9470'),
        token: secretSource.optional(),
        /** Client failure reports accepted per node per minute (more are answered 429). */
        reportsPerMinute: z.number().int().min(1).max(6000).prefault(30),
      })
      .strict()
      .optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).prefault('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
