import type { AddressInfo } from 'node:net';

/**
 * An in-process SMTP server on loopback for the demo (and the parsing the tests share): the daemon mails it
 * through the real outbox, and the demo shows what arrived. smtp-server is a devDependency, so this is only
 * there in a development checkout; `startMailbox` says so instead of failing.
 */
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
  return { from, to, raw, headers, subject: headers.get('subject') ?? '', messageId: headers.get('message-id') ?? '', inReplyTo: headers.get('in-reply-to'), text };
}

export interface Mailbox {
  port: number;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** A plain SMTP server on 127.0.0.1 without AUTH or STARTTLS; `{ missing }` when smtp-server is not installed. */
export async function startMailbox(): Promise<Mailbox | { missing: string }> {
  let mod: typeof import('smtp-server');
  try {
    mod = await import('smtp-server');
  } catch {
    return { missing: 'smtp-server is not installed (it is a devDependency: run the demo from a development checkout after npm ci)' };
  }
  const mails: ReceivedMail[] = [];
  const server = new mod.SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push(parseMail(Buffer.concat(chunks).toString('utf8'), from, session.envelope.rcptTo.map((r) => r.address)));
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { port: (server.server.address() as AddressInfo).port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
