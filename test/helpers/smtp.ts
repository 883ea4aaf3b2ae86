import type { AddressInfo } from 'node:net';
import { parseMail, type ReceivedMail } from '../../src/demo/mailbox';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerAuthenticationResponse, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

// The mail parsing lives with the demo's mailbox, which shows the same mails to a person.
export { decodeWords, parseMail, type ReceivedMail } from '../../src/demo/mailbox';

export interface SmtpFixture {
  port: number;
  mails: ReceivedMail[];
  /** When each mail arrived (Date.now(), same index as `mails`). */
  receivedAt: number[];
  /** AUTH attempts seen (username, accepted). */
  logins: Array<{ user: string; ok: boolean }>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  user: string;
  password: string;
  /** Recipients answered with 550. */
  rejectRecipients?: string[];
  port?: number;
}

/** What every test SMTP server shares: plain text (loopback only), AUTH required, no STARTTLS, no logging. */
export const LOOPBACK_SMTP: SMTPServerOptions = { secure: false, disabledCommands: ['STARTTLS'], authOptional: false, allowInsecureAuth: true, logger: false };

/** A real SMTP server on 127.0.0.1 that requires AUTH (PLAIN/LOGIN over plain text: loopback only). */
export async function startSmtp(opts: SmtpOptions): Promise<SmtpFixture> {
  const mails: ReceivedMail[] = [];
  const receivedAt: number[] = [];
  const logins: Array<{ user: string; ok: boolean }> = [];
  const server = new SMTPServer({
    ...LOOPBACK_SMTP,
    onAuth(auth: SMTPServerAuthentication, _s: SMTPServerSession, cb: (err: Error | null | undefined, res?: SMTPServerAuthenticationResponse) => void) {
      const ok = auth.username === opts.user && auth.password === opts.password;
      logins.push({ user: auth.username ?? '', ok });
      if (ok) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address, _s, cb) {
      if (opts.rejectRecipients?.includes(address.address)) cb(Object.assign(new Error(`<${address.address}>: no such user here`), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push(parseMail(raw, from, session.envelope.rcptTo.map((r) => r.address)));
        receivedAt.push(Date.now());
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    receivedAt,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port that was free a moment ago (for "the SMTP server is down, then comes back on its port"). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The `alerts:` section of a daemon config that mails ops@example.com through startSmtp's server on `port`
 * (user `sentinel`), retrying fast; for the e2e tests that run the real daemon.
 */
export function emailAlertsYaml(port: number, password: string): string {
  return `alerts:
  retry: { initial: 200ms, max: 1s }
  email:
    host: 127.0.0.1
    port: ${port}
    secure: false
    user: sentinel
    password: "${password}"
    from: "llm-sentinel <sentinel@example.com>"
    to: [ops@example.com]
    timeout: 2s
`;
}

/**
 * A mail's title: its body's first line (`CRITICAL: primary DOWN — …`) as `[llm-sentinel] primary DOWN — …`.
 * Outage mails share one Subject per thread (Gmail threads by subject), so what a mail says is read here.
 */
export function mailTitle(m: { text: string } | undefined): string {
  return `[llm-sentinel] ${((m?.text ?? '').split('\n')[0] ?? '').replace(/^(CRITICAL|WARNING|INFO): /, '')}`;
}
