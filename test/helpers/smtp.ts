import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerAuthenticationResponse, type SMTPServerSession } from 'smtp-server';

/** A received mail: the raw bytes, plus the headers we assert on (unfolded, RFC 2047 words decoded). */
export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Map<string, string>;
  subject: string;
  messageId: string;
  inReplyTo: string | undefined;
  /** The text/plain part, quoted-printable decoded. */
  text: string;
}

export interface SmtpFixture {
  port: number;
  mails: ReceivedMail[];
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

/** Decodes =?UTF-8?Q?…?= and =?UTF-8?B?…?= words (nodemailer encodes subjects with non-ASCII, such as the em dash). */
export function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _cs: string, enc: string, text: string) => {
    if (enc.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString('utf8');
    const bytes = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  });
}

function decodeQp(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), decodeWords(line.slice(i + 1).trim()));
  }
  const body = rest.join('\n\n');
  // The text/plain part of the multipart/alternative body, cut at its boundary.
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  const part = boundary ? body.split(`--${boundary}`).find((p) => /Content-Type: text\/plain/i.test(p)) : undefined;
  let text = '';
  if (part) {
    const split = part.search(/\r?\n\r?\n/);
    const partHead = part.slice(0, split);
    const content = part.slice(split).replace(/^\r?\n\r?\n/, '').replace(/\r?\n$/, '');
    const enc = /Content-Transfer-Encoding: ([\w-]+)/i.exec(partHead)?.[1]?.toLowerCase();
    text = enc === 'quoted-printable' ? decodeQp(content) : enc === 'base64' ? Buffer.from(content, 'base64').toString('utf8') : content;
  }
  return {
    from,
    to,
    raw,
    headers,
    subject: headers.get('subject') ?? '',
    messageId: headers.get('message-id') ?? '',
    inReplyTo: headers.get('in-reply-to'),
    text,
  };
}

/** A real SMTP server on 127.0.0.1 that requires AUTH (PLAIN/LOGIN over plain text: loopback only). */
export async function startSmtp(opts: SmtpOptions): Promise<SmtpFixture> {
  const mails: ReceivedMail[] = [];
  const logins: Array<{ user: string; ok: boolean }> = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    allowInsecureAuth: true,
    logger: false,
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

