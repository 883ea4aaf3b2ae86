import type { AlertFacts, AlertKind, Severity } from '../core/alert-types';

/** One message, rendered, as every channel receives it. */
export interface AlertMessage {
  /** The alert's id in the outbox (0 for `alert test`). */
  id: number;
  instance: string;
  kind: AlertKind | 'test';
  severity: Severity;
  node: string;
  /** When the alert was decided (epoch ms). */
  at: number;
  subject: string;
  /** A mail's Subject, when it differs from the title (one per outage thread: src/alerts/render.ts mailSubjectFor). */
  mailSubject?: string;
  text: string;
  html: string;
  /** `<alert-{id}.{instance}@llm-sentinel>`: stable, so a re-sent mail is recognised as the same one. */
  messageId: string;
  /** The outage's first mail, for recovery and reminder mails (threading). */
  inReplyTo?: string;
  references?: string[];
  /** Absent for a test message. */
  facts?: AlertFacts;
}

export interface SendResult {
  /** The server's answer (SMTP 250 line, HTTP status and body start). */
  response: string;
  /** Recipients the server refused while accepting the message for others. */
  rejected?: string[];
}

/**
 * A failed send. `permanent`: retrying cannot help (authentication refused, recipient unknown, webhook URL
 * gone); the delivery is marked failed and logged loudly. Otherwise it is retried with backoff.
 */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    message: string,
    readonly permanent: boolean,
    /** The server's own words (SMTP reply, HTTP body start), secrets removed. */
    readonly response?: string,
    /** A stable code to branch on (EAUTH, EENVELOPE, ECONNECTION, HTTP_404, ...). */
    readonly code?: string,
    /** The server asked us to wait this long before trying again (HTTP 429 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * An alert channel. Adding one touches: its own file in src/alerts, one line in src/alerts/registry.ts, and
 * its config keys in src/config (schema + resolved type; push channels in src/config/push.ts). `send` resolves on acceptance and rejects with a
 * ChannelError; it must give up by itself within its configured timeout and when `signal` aborts.
 */
export interface Channel {
  readonly name: string;
  send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult>;
  /** Releases connections; the channel is not used afterwards. */
  close?(): Promise<void>;
}

/** Anything a channel threw that is not a ChannelError is a bug or an unforeseen failure: retry it, never drop it. */
export function toChannelError(e: unknown): ChannelError {
  if (e instanceof ChannelError) return e;
  return new ChannelError(`unexpected error: ${e instanceof Error ? e.message : String(e)}`, false, undefined, 'EUNEXPECTED');
}

/**
 * Removes secrets from text a server or library produced (an SMTP server may echo what it was sent): the
 * values themselves and the base64 forms AUTH PLAIN / AUTH LOGIN put on the wire.
 */
export function redactor(secrets: ReadonlyArray<string>, user?: string): (text: string) => string {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < 3) continue; // too short to scrub without mangling ordinary words
    forms.add(s);
    forms.add(b64(s));
    if (user !== undefined) {
      forms.add(b64(`\u0000${user}\u0000${s}`));
      forms.add(b64(`${user}\u0000${user}\u0000${s}`));
    }
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  return (text) => list.reduce((t, f) => t.split(f).join('[redacted]'), text);
}
