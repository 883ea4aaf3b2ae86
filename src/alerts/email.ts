import type { Transporter } from 'nodemailer';
import type { EmailConfig } from '../config';
import { ChannelError, redactor, type AlertMessage, type Channel, type SendResult } from './channel';

/** The fields of a nodemailer error we read (codes, not message text, decide what happens). */
interface SmtpError {
  code?: string;
  originalCode?: string;
  /** Which timeout fired (CONNECT_TIMEOUT, GREETING_TIMEOUT, SOCKET_TIMEOUT, ...). */
  timeoutType?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
  rejected?: string[];
}

const SEVERITY_HEADERS = { critical: { 'X-Priority': '1 (Highest)', Importance: 'high' }, warning: {}, info: {} } as const;

/**
 * Email through SMTP (nodemailer). One connection per message: alerts are rare, and a pooled connection
 * would sit dead behind a NAT for hours. Every timeout is short so a dead server cannot stall the sender.
 */
export function createEmailChannel(cfg: EmailConfig, name = 'email'): Channel {
  const scrub = redactor(cfg.password ? [cfg.password.reveal()] : [], cfg.user);
  // nodemailer (about 12 MB resident) is loaded at the first message, not at start: most hours send none.
  let transport: Transporter | undefined;
  const open = async (): Promise<Transporter> => (transport ??= (await import('nodemailer')).default.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    auth: cfg.user !== undefined ? { user: cfg.user, pass: cfg.password?.reveal() ?? '' } : undefined,
    connectionTimeout: cfg.timeout,
    greetingTimeout: cfg.timeout,
    socketTimeout: cfg.timeout * 2,
    dnsTimeout: cfg.timeout,
    logger: false,
    debug: false,
  }));

  return {
    name,
    async send(msg: AlertMessage, signal?: AbortSignal): Promise<SendResult> {
      try {
        const info = await (await open()).sendMail({
          from: cfg.from,
          to: cfg.to,
          subject: msg.mailSubject ?? msg.subject,
          text: msg.text,
          html: msg.html,
          messageId: msg.messageId,
          inReplyTo: msg.inReplyTo,
          references: msg.references,
          // X-LLM-Sentinel-Outage: the outage's full key (its thread and this monitor's confirmed-down time), for filters.
          headers: { 'X-LLM-Sentinel-Instance': msg.instance, 'X-LLM-Sentinel-Kind': msg.kind, ...(msg.facts?.outageKey ? { 'X-LLM-Sentinel-Outage': msg.facts.outageKey } : {}), ...SEVERITY_HEADERS[msg.severity] },
          ...(signal ? { signal } : {}),
        });
        const rejected = (info.rejected ?? []).map(String);
        return { response: scrub(String(info.response ?? '')), ...(rejected.length > 0 ? { rejected } : {}) };
      } catch (e) {
        throw classifySmtpError(e as SmtpError, cfg, scrub);
      }
    },
    async close(): Promise<void> {
      transport?.close();
    },
  };
}

/**
 * SMTP reply classes decide: 5xx is permanent (535 authentication, 550/553 recipient, 554 rejected), 4xx is
 * transient (greylisting, mailbox busy), no reply at all (refused, timeout, TLS) is transient: the server may
 * come back. 503 "bad sequence" is a protocol hiccup, retried as nodemailer does.
 */
export function classifySmtpError(e: SmtpError, cfg: Pick<EmailConfig, 'host' | 'port' | 'to' | 'from'>, scrub: (t: string) => string = (t) => t): ChannelError {
  const code = e.code ?? 'EUNKNOWN';
  const response = e.response !== undefined ? scrub(e.response) : undefined;
  const rc = e.responseCode;
  const said = response ? ` (${response})` : rc ? ` (${rc})` : '';
  const permanentReply = rc !== undefined && rc >= 500 && rc < 600 && rc !== 503;
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    const transient = rc !== undefined && rc >= 400 && rc < 500;
    return new ChannelError(`SMTP authentication rejected${said}: check alerts.email.user and alerts.email.password`, !transient, response, 'EAUTH');
  }
  if (code === 'EENVELOPE') {
    const who = e.command === 'MAIL FROM' ? `sender ${JSON.stringify(cfg.from)} rejected` : e.command === 'RCPT TO' ? `recipient rejected (${(e.rejected ?? cfg.to).join(', ')})` : 'envelope rejected';
    const hint = e.command === 'MAIL FROM' ? 'check alerts.email.from' : 'check alerts.email.to';
    return new ChannelError(`${who}${said}: ${hint}`, rc === undefined || permanentReply, response, 'EENVELOPE');
  }
  if (rc !== undefined) {
    return new ChannelError(`SMTP server refused the message${said}`, permanentReply, response, code);
  }
  if (code === 'ECONFIG') return new ChannelError(`invalid email settings: ${scrub(e.message ?? '')}`, true, undefined, code);
  const sys = e.originalCode ? ` ${e.originalCode}` : '';
  const where = `SMTP ${cfg.host}:${cfg.port}`;
  if (code === 'ETLS' || /^(ERR_SSL|ERR_TLS|EPROTO)/.test(e.originalCode ?? '')) {
    return new ChannelError(`${where}: TLS failed${sys} (wrong alerts.email.secure for this port? true for 465, false for 587)`, false, response, code);
  }
  if (code === 'ETIMEDOUT' && e.timeoutType === 'GREETING_TIMEOUT') {
    return new ChannelError(`${where}: timed out waiting for the greeting (a TLS port such as 465 needs alerts.email.secure: true)`, false, response, code);
  }
  const what = code === 'ETIMEDOUT' ? 'timed out' : code === 'EDNS' ? 'DNS lookup failed' : code === 'EABORT' ? 'aborted (monitor stopping)' : 'connection failed';
  return new ChannelError(`${where}: ${what}${sys}${e.message ? `: ${scrub(e.message)}` : ''}`, false, response, code);
}
