import { z } from 'zod';
import { isCronExpression, nodeCron } from './cron';
import { pushSchemas } from './push';
import { duration, httpUrl, secretSource } from './schema-parts';

export { duration, secretSource, type SecretSource } from './schema-parts';

/** `/regex/flags` or a plain substring (matched case-insensitively). */
const expectPattern = z.string().min(1).transform((s, ctx) => {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(s);
  if (!m) return { source: s, test: (t: string) => t.toLowerCase().includes(s.toLowerCase()) };
  try {
    // g and y make RegExp.test stateful (lastIndex): identical answers would pass and fail in turn.
    const re = new RegExp(m[1] as string, (m[2] as string).replace(/[gy]/g, ''));
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
    /** The canary's model. Absent (and no OLLAMA_MODEL): the model the node has loaded, else its only one. */
    model: z.string().min(1).optional(),
    /** The models apps use on this node, kept loaded (api: ollama). Default: the canary's model. */
    models: z.array(z.string().min(1)).min(1).optional(),
    api: z.enum(['ollama', 'openai']).prefault('ollama'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), secretSource).prefault({}),
    /** A second path to the same Ollama (e.g. http://127.0.0.1:11434 on the Mac next to the tunnel URL). */
    directUrl: httpUrl.optional(),
    /** Periodically request the public URL WITHOUT the headers: it must be refused (Access / 401 / 403). */
    exposureCheck: z.boolean().prefault(false),
  })
  .strict();

const livenessSchema = z
  .object({ interval: duration(100).prefault('10s'), timeout: duration(50).prefault('3s') })
  .strict();

const canarySchema = z
  .object({
    interval: duration(100).prefault('60s'),
    /**
     * The whole canary, the wait for a generation slot included (Ollama sends nothing before the first token):
     * 75s = the queue allowance below + 30s of work. A canary with no token by then while liveness passes
     * is judged `stalled` (docs/busy.md).
     */
    timeout: duration(50).prefault('75s'),
    /**
     * How long a canary may wait for a busy node's generation slot (measured from Ollama's durations) before
     * the wait counts against the node as slowness. Queueing within it is `busy`, not sick (docs/busy.md).
     */
    queueAllowance: duration(0).prefault('45s'),
    firstTokenTimeout: duration(50).optional(),
    prompt: z.string().min(1).prefault('Reply with the single word PONG.'),
    expect: expectPattern.prefault('/pong/i'),
    maxTokens: z.number().int().min(1).max(4096).prefault(8),
    /** Token limit where thinking cannot be switched off (legacy Ollama, unknown servers, a knob refused). */
    thinkingBudget: z.number().int().min(1).max(4096).prefault(64),
    /** options.num_ctx sent by the canary and the keep-warm loads; set it to what your apps send (docs/keep-warm.md). */
    numCtx: z.number().int().min(256).max(1_048_576).optional(),
    keepAlive: z.string().regex(/^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)+$/, 'a Go duration such as 30m or -1m (forever)').prefault('30m'),
    enabled: z.boolean().prefault(true),
    /** Server-reported model load time above this is a cold start (the model had been evicted). */
    coldStart: duration(0).prefault('2s'),
  })
  .strict();

const severity = z.enum(['critical', 'warning', 'info']);
/** Whether an alert kind is emailed, and how loudly. Defaults follow docs/alerts.md. */
const eventRule = (dflt: 'critical' | 'warning' | 'info') =>
  z.object({ send: z.boolean().prefault(true), severity: severity.prefault(dflt) }).strict().prefault({});

/** `ops@example.com` or `Name <ops@example.com>`: nodemailer parses the rest; this catches typos early. */
const mailbox = z.string().regex(/^[^<>\s@]+@[^<>\s@]+$|^[^<>]*<[^<>\s@]+@[^<>\s@]+>$/, 'an e-mail address (a@b.example or "Name <a@b.example>")');

const emailSchema = z
  .object({
    host: z.string().min(1),
    /** Default: 465 when secure, else 587. */
    port: z.number().int().min(1).max(65535).optional(),
    /** true: TLS from the first byte (465); false: STARTTLS when the server offers it. */
    secure: z.boolean().prefault(false),
    user: z.string().min(1).optional(),
    /** Also from SMTP_PASSWORD / SMTP_PASSWORD_FILE when absent. */
    password: secretSource.optional(),
    from: mailbox,
    to: z.union([mailbox, z.array(mailbox).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    /** Connection, greeting and socket timeout each: a dead SMTP server must not hold the sender for minutes. */
    timeout: duration(100).prefault('10s'),
  })
  .strict();

const webhookSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, . _ - (max 63)').optional(),
    url: httpUrl,
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), secretSource).prefault({}),
    timeout: duration(100).prefault('10s'),
  })
  .strict();

const alertsSchema = z
  .object({
    /** false: alerts are still decided and recorded (as suppressed) but nothing is sent. */
    enabled: z.boolean().prefault(true),
    statusPageUrl: httpUrl.optional(),
    /** The report for the last 7 days, mailed on a schedule (node-cron, local time; default Monday 09:00). */
    digest: z
      .object({
        enabled: z.boolean().prefault(false),
        schedule: z.string().refine(isCronExpression, 'a cron expression such as "0 9 * * 1" (Monday 09:00)').prefault('0 9 * * 1'),
      })
      .strict()
      .prefault({}),
    /** While a node stays down, repeat its alert this often; 0 = never. */
    reminderInterval: duration(0).prefault('6h'),
    flapping: z
      .object({
        /** More than this many changes into or out of `down` within `window` is flapping; 0 = off. */
        transitions: z.number().int().min(0).max(1000).prefault(4),
        window: duration(1000).prefault('30m'),
        /** Flapping ends after this long without a change; a summary goes out then. */
        settle: duration(1000).prefault('15m'),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        initial: duration(100).prefault('30s'),
        max: duration(100).prefault('1h'),
        /** A delivery still failing (transiently) this long after its alert was written is marked failed. */
        giveUpAfter: duration(60_000).prefault('3d'),
      })
      .strict()
      .prefault({}),
    events: z
      .object({
        primaryDown: eventRule('critical'),
        /** Apps moved off the primary because it is degraded (wrong/empty answers, slow, …), not down. */
        primaryDegraded: eventRule('warning'),
        fallbackDown: eventRule('warning'),
        fallbackDownPrimaryOut: eventRule('critical'),
        allDown: eventRule('critical'),
        recovered: eventRule('info'),
        reminder: eventRule('warning'),
        flapping: eventRule('warning'),
        flappingSettled: eventRule('info'),
        monitorNetwork: eventRule('warning'),
        exposed: eventRule('critical'),
        monitorSilent: eventRule('warning'),
        monitorBack: eventRule('info'),
        hostDown: eventRule('critical'),
        /** Two monitors have disagreed about a node for peers.disagreeAfter: a path problem (issue 22). */
        monitorsDisagree: eventRule('warning'),
        monitorsAgree: eventRule('info'),
        peerMisconfigured: eventRule('warning'),
      })
      .strict()
      .prefault({}),
    email: emailSchema.optional(),
    webhooks: z.array(webhookSchema).prefault([]),
    ntfy: z.array(pushSchemas.ntfy).prefault([]),
    telegram: z.array(pushSchemas.telegram).prefault([]),
    discord: z.array(pushSchemas.discord).prefault([]),
    slack: z.array(pushSchemas.slack).prefault([]),
  })
  .strict();

const MAX_RECURRING_WINDOW_MS = 86_400_000;

/** A node-cron expression at minute resolution (5 fields, or 6 with seconds fixed at 0): windows start on a minute. */
const cronExpression = z.string().superRefine((v, ctx) => {
  const check = nodeCron().validateDetailed(v);
  if (!check.valid) {
    ctx.addIssue({ code: 'custom', message: `not a cron expression: ${check.errors.map((e) => e.message).join('; ') || v}` });
    return;
  }
  const seconds = check.fields?.second ?? [];
  if (seconds.length !== 1 || seconds[0] !== 0) ctx.addIssue({ code: 'custom', message: 'windows start on a whole minute: use 5 fields (minute hour day month weekday)' });
});

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)' },
);

const maintenanceSchema = z
  .object({
    recurring: z
      .array(
        z
          .object({
            node: z.string().min(1),
            cron: cronExpression,
            /** At most a day: matching walks back over the window minute by minute. */
            duration: duration(60_000).refine((ms) => ms <= MAX_RECURRING_WINDOW_MS, 'at most 24h (use `llm-sentinel maintenance start` for longer one-off windows)'),
            /** IANA zone the cron expression is read in; default: the host's. */
            timezone: timeZone.optional(),
            reason: z.string().min(1).max(200).prefault('scheduled maintenance'),
          })
          .strict(),
      )
      .prefault([]),
  })
  .strict();

const instanceName = z.string().min(1).max(100);

/** Other llm-sentinel instances watching the same nodes (docs/alerts.md "One voice"). */
const peersSchema = z
  .object({
    /** How often each peer is polled. */
    interval: duration(100).prefault('10s'),
    /** No good answer for this long: the peer is silent. */
    silentAfter: duration(200).prefault('60s'),
    /**
     * This monitor and a peer disagreeing about a node (one sees it serve, the other down) for this long
     * sends one alert, and one when they agree again. Well above the few seconds plus one poll in which one
     * monitor has seen a change before the other; short enough that a lasting path problem is known.
     */
    disagreeAfter: duration(1_000).prefault('2m'),
    /** Deadline of one poll, independent of interval (a slow peer is logged slow, not silent); default 15s. */
    timeout: duration(50).optional(),
    /** A follower sends an alert its speaker has not reported sent after this long (× its place in rank). */
    takeoverAfter: duration(100).prefault('20s'),
    /** A token that opens GET/POST /peer only (not /state, /metrics or POST /report); peers send it as theirs. */
    token: secretSource.optional(),
    /** Who sends: the first live monitor in this list. Must name this instance and every peer; default: names sorted. */
    rank: z.array(instanceName).optional(),
    monitors: z
      .array(
        z
          .object({
            name: instanceName,
            url: httpUrl,
            token: secretSource.optional(),
            /** The node this peer runs next to (same host): its silence and that node's failure are one root cause. */
            sharesHostWith: z.string().min(1).optional(),
            /** Extra request headers for its /peer (e.g. a Cloudflare Access service token: CF-Access-Client-Id/-Secret). */
            headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), secretSource).optional(),
            /** Allow a plain http:// URL to a non-loopback peer (the token would cross the network in clear). */
            insecure: z.boolean().optional(),
          })
          .strict(),
      )
      .min(1, 'list at least one peer monitor (or leave peers out)'),
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
        connectTimeout: duration(50).prefault('2s'),
        maxResponseBytes: z.number().int().min(1024).max(64 * 1024 * 1024).prefault(1024 * 1024),
        jitter: z.number().min(0).max(0.5).prefault(0.1),
        exposureInterval: duration(1000).prefault('1h'),
      })
      .strict()
      .prefault({}),
    decision: z
      .object({
        fall: z.number().int().min(1).max(100).prefault(3),
        softFall: z.number().int().min(1).max(100).optional(),
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
        /**
         * Open connections one client address may hold (IPv6: one /64); more are closed at once. Behind a
         * reverse proxy every request comes from the proxy's address: size this above its connection pool.
         */
        maxConnectionsPerAddress: z.number().int().min(1).max(100_000).prefault(64),
        /** Open connections in total; more are closed at once. */
        maxConnections: z.number().int().min(1).max(100_000).prefault(512),
        /** A client must finish sending its request headers within this long (slowloris defence). */
        headersTimeout: duration(100).prefault('5s'),
        /** ... and its whole request, body included. */
        requestTimeout: duration(100).prefault('10s'),
        /** An idle keep-alive connection is closed after this long. */
        keepAliveTimeout: duration(100).prefault('5s'),
      })
      .strict()
      .optional(),
    selfCheck: z
      .object({
        /** Dead-man's switch (healthchecks.io style): pinged after each probe cycle, /fail when the monitor is in trouble. */
        pingUrl: secretSource.optional(),
        /** Targets that prove the monitor's own network works: http(s)://… (any HTTP answer) or tcp://host:port. */
        witnesses: z.array(z.string().regex(/^(https?:\/\/\S+|tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5})$/, 'http(s)://… or tcp://host:port')).prefault([]),
        witnessTimeout: duration(50).prefault('3s'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).prefault('info') })
      .strict()
      .prefault({}),
    /** Retention and rollups (docs/report.md). keepHourly/keepDaily 0 = keep forever. */
    history: z
      .object({
        // At least a day: the status page's 24-hour chart and the report's recent hours read raw probes.
        keepRaw: duration(86_400_000).prefault('30d'),
        keepHourly: duration(0).prefault('400d'),
        keepDaily: duration(0).prefault('3650d'),
        schedule: z.string().refine(isCronExpression, 'not a cron expression (e.g. 17 * * * *)').prefault('17 * * * *'),
      })
      .strict()
      .prefault({}),
    alerts: alertsSchema.prefault({}),
    maintenance: maintenanceSchema.prefault({}),
    peers: peersSchema.optional(),
  })
  .strict();

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
