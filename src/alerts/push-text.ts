import type { AlertMessage } from './channel';

/** The words every push channel shows, from the rendered mail: a phone shows a title and a few lines. */
export interface PushText {
  /** `llm-sentinel oracle-1: primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback` */
  title: string;
  /** The mail's plain text without its first line (which repeats the title). */
  body: string;
  /** For chat colours and ntfy tags: a recovery is good news whatever its severity. */
  tone: 'critical' | 'warning' | 'good' | 'info';
}

export function pushText(msg: AlertMessage): PushText {
  const title = msg.subject.replace(/^\[llm-sentinel ([^\]]*)\] /, 'llm-sentinel $1: ').replace(/^\[llm-sentinel\] /, 'llm-sentinel: ');
  const lines = msg.text.split('\n');
  const body = (/^(CRITICAL|WARNING|INFO): /.test(lines[0] ?? '') ? lines.slice(1) : lines).join('\n').trim();
  const good = msg.kind === 'recovered' || msg.kind === 'flappingSettled';
  const tone = good ? 'good' : msg.severity === 'critical' ? 'critical' : msg.severity === 'warning' ? 'warning' : 'info';
  return { title, body, tone };
}
