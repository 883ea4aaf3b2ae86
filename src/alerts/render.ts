import type { AlertFacts, NodeSnapshot } from '../core/alert-types';
import { outageThread, parseOutageKey } from '../core/outage-id';
import { isReason, REASON_INFO } from '../core/reasons';
import { formatDuration } from '../util/duration';

/** Pure rendering: an alert's stored facts → subject, plain text, HTML and threading headers. */

export interface RenderInput {
  id: number;
  instance: string;
  facts: AlertFacts;
  /** The outage's first alert (recovery and reminder mails answer it). */
  threadOf: number | null;
}

export interface RenderOptions {
  statusPageUrl?: string;
  /** Tells this database's alert ids from those of an earlier one (a deleted or moved database restarts ids at 1). */
  databaseToken?: string;
}

export interface Rendered {
  /** The alert's title: `[llm-sentinel] primary DOWN — …` (push titles, webhooks, logs, `alert list`). */
  subject: string;
  /**
   * The mail's Subject: for an outage, one subject for every mail about it (`[llm-sentinel] primary outage since
   * …`, follow-ups `Re: …`), because Gmail groups a conversation by subject; the title is the body's first line.
   */
  mailSubject: string;
  text: string;
  html: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
}

/** Short words for a reason (the reason table's, plus the decision core's `slow`); the detail line says the rest. */
const causeWords = (reason: string): string => (isReason(reason) ? REASON_INFO[reason].words : reason === 'slow' ? 'slow' : reason.replace(/_/g, ' '));

/** `Cloudflare tunnel down (530/1033)`: the reason in words plus the HTTP status and Cloudflare code from the detail. */
export function describeCause(reason: string | null, detail: string | null): string {
  if (reason === null) return 'unknown cause';
  const canary = /^canary_(.+)$/.exec(reason);
  const words = canary ? `canary failing: ${isReason(canary[1] as string) ? causeWords(canary[1] as string) : canary[1]}` : causeWords(reason);
  const cf = detail ? /^(\d{3}) from Cloudflare(?: \(error (\d{4}))?/.exec(detail) : null;
  if (cf) return `${words} (${cf[1]}${cf[2] ? `/${cf[2]}` : ''})`;
  const status = detail ? /^(\d{3})\b/.exec(detail) : null;
  if (status && (reason === 'server_error' || reason === 'overloaded' || reason === 'auth_required')) return `${words} (${status[1]})`;
  return words;
}

/** Message-ID local parts allow only atext and dots; an instance name may hold anything. */
const idSafe = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^[.-]+|[.-]+$/g, '') || 'instance';

export function messageIdFor(id: number, instance: string, databaseToken?: string): string {
  return `<alert-${id}${databaseToken ? `.${idSafe(databaseToken)}` : ''}.${idSafe(instance)}@llm-sentinel>`;
}

/**
 * Mails about one outage carry IDs made of its thread (node, chain and number: core/outage-id), not of a
 * database row: every monitor derives the same ones, so either monitor's mails thread together and a start
 * mailed twice (a takeover racing a dying sender, two monitors apart in a two-way partition) has one
 * Message-ID that mail readers show once.
 */
export function outageMessageId(node: string, outageKey: string, part = 'outage'): string {
  return `<${idSafe(part)}.${idSafe(outageThread(node, outageKey))}@llm-sentinel>`;
}

const time = (ms: number | null) => {
  const d = ms === null ? null : new Date(ms);
  return d === null || Number.isNaN(d.getTime()) ? '-' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
};

function traffic(f: AlertFacts): string {
  return f.allDown ? `no healthy node (apps stay on ${f.preferred})` : `apps on ${f.preferred}`;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** "wrong answers ("I cannot help…")", "first token 7.2 s > 5 s": why a degraded primary lost its traffic. */
export function degradedWhy(f: Pick<AlertFacts, 'cause' | 'detail' | 'slow'>): { word: string; why: string } {
  const reason = (f.cause ?? '').replace(/^canary_/, '');
  if (reason === 'slow') {
    const s = f.slow;
    if (s && s.ttftMs !== null && s.ttftMs > s.ttftLimitMs) return { word: 'SLOW', why: `first token ${secs(s.ttftMs)} > ${secs(s.ttftLimitMs)}` };
    if (s && s.totalMs !== null && s.totalMs > s.totalLimitMs) return { word: 'SLOW', why: `answer took ${secs(s.totalMs)} > ${secs(s.totalLimitMs)}` };
    return { word: 'SLOW', why: 'canaries slower than decision.slowTtft / slowTotal' };
  }
  if (reason === 'wrong_answer') {
    const said = f.detail ? /answer ("(?:[^"\\]|\\.)*")/.exec(f.detail)?.[1] : undefined;
    return { word: 'DEGRADED', why: `wrong answers${said ? ` (${said})` : ''}` };
  }
  if (reason === 'empty_answer') return { word: 'DEGRADED', why: 'empty answers' };
  return { word: 'DEGRADED', why: describeCause(reason || null, f.detail) };
}

function headline(f: AlertFacts): string {
  const cause = describeCause(f.cause, f.detail);
  const flaps = f.flaps ? `${f.flaps.count} changes in ${formatDuration(f.flaps.windowMs)}` : '';
  const now = f.nodes.find((n) => n.name === f.node)?.status.toUpperCase() ?? '?';
  switch (f.kind) {
    case 'primaryDown':
    case 'fallbackDown':
    case 'fallbackDownPrimaryOut': {
      const what = f.afterMaintenance
        ? 'still DOWN after maintenance'
        : f.kind === 'fallbackDown'
          ? 'DOWN (safety net gone)'
          : f.kind === 'fallbackDownPrimaryOut'
            ? `DOWN while ${f.primary} is ${f.primaryMaintenance ? 'in maintenance' : (f.nodes[0]?.status ?? 'out')}`
            : 'DOWN';
      return `${f.node} ${what} — ${cause}; ${traffic(f)}`;
    }
    case 'primaryDegraded': {
      const d = degradedWhy(f);
      return `${f.node} ${d.word} — ${d.why}; ${traffic(f)}`;
    }
    case 'allDown':
      return `ALL NODES DOWN — ${f.nodes.map((n) => `${n.name}: ${describeCause(n.cause, n.detail)}`).join(', ')}; apps have no working node`;
    case 'recovered':
      return `${f.node} RECOVERED after ${formatDuration(f.durationMs ?? 0)} (was: ${cause}); ${traffic(f)}`;
    case 'reminder':
      return `${f.node} still DOWN after ${formatDuration(f.durationMs ?? 0)} — ${cause}; ${traffic(f)}`;
    case 'flapping':
      return `${f.node} FLAPPING — ${flaps}, now ${now}; alerts held until it is stable`;
    case 'monitorNetwork':
      return `monitor lost its own network for ${formatDuration(f.durationMs ?? 0)} (node statuses were frozen, not judged); back now, ${traffic(f)}`;
    case 'exposed':
      return `${f.node} is OPEN TO THE INTERNET without authentication — an anonymous request got Ollama's API to answer`;
    case 'flappingSettled':
      return now === 'DOWN' ? `${f.node} stopped flapping but is DOWN — ${describeCause(f.cause, f.detail)}; ${traffic(f)}` : `${f.node} stable again, ${now} (${f.flaps?.count ?? 0} changes while flapping)`;
    case 'monitorSilent':
      return `monitor ${f.monitor ?? f.node} is SILENT for ${formatDuration(f.durationMs ?? 0)} (${f.detail ?? 'no answer'}); this monitor speaks now`;
    case 'monitorBack':
      return `monitor ${f.monitor ?? f.node} is back after ${formatDuration(f.durationMs ?? 0)} silent`;
    case 'peerMisconfigured':
      return `monitors disagree: ${f.detail ?? 'peer configuration'}`;
    case 'hostDown':
      return `${f.monitor ?? '?'} host looks down: its monitor is silent and ${f.node} ${cause}; ${traffic(f)}`;
    case 'monitorsDisagree':
      return `monitors disagree about ${f.node}: ${sees(f)}`;
    case 'monitorsAgree':
      return `monitors agree again about ${f.node} after ${formatDuration(f.durationMs ?? 0)}: ${sees(f)}`;
  }
}

/** "mac sees up, oracle sees down (Cloudflare tunnel down)": each monitor's verdict and, when not up, why. */
function sees(f: AlertFacts): string {
  return (f.views ?? []).map((v) => `${v.monitor} sees ${v.status}${v.status === 'up' ? '' : ` (${describeCause(v.reason, null)})`}`).join(', ');
}

/**
 * The alert's title. The instance is not in it (it is in the X-LLM-Sentinel-Instance header and the footer):
 * two monitors' mails about one outage must read alike.
 */
export function subjectFor(_instance: string, f: AlertFacts): string {
  return `[llm-sentinel] ${headline(f)}`;
}

/** When an outage began, from its identity (the naming monitor's confirmed-down time): the same on every monitor. */
function outageStart(f: AlertFacts): number | null {
  return (f.outageKey ? parseOutageKey(f.node, f.outageKey).since : null) ?? f.since;
}

/** The Subject every mail of one outage carries (follow-ups add `Re:`); other alerts use their title. */
export function mailSubjectFor(instance: string, f: AlertFacts): string {
  if (!f.outageKey) return subjectFor(instance, f);
  const thread = `[llm-sentinel] ${f.node} outage since ${time(outageStart(f))}`;
  return f.outageRoot ? thread : `Re: ${thread}`;
}

function explanation(f: AlertFacts): string[] {
  const cause = describeCause(f.cause, f.detail);
  switch (f.kind) {
    case 'primaryDown':
      return [`${f.node}, the primary node, was confirmed down at ${time(f.since)}: ${cause}.`];
    case 'fallbackDown':
      return [`${f.node}, a fallback node, was confirmed down at ${time(f.since)}: ${cause}.`, `${f.primary} still serves, but if it fails now there is nothing behind it.`];
    case 'fallbackDownPrimaryOut':
      return [
        `${f.node}, a fallback node, was confirmed down at ${time(f.since)}: ${cause}.`,
        f.primaryMaintenance ? `The primary ${f.primary} is in maintenance (${f.primaryMaintenance}).` : `The primary ${f.primary} is not healthy either.`,
      ];
    case 'primaryDegraded':
      return [
        `${f.node}, the primary node, still answers but has been ${degradedWhy(f).word === 'SLOW' ? 'too slow' : 'failing its canary'} since ${time(f.since)}: ${degradedWhy(f).why}.`,
        `Apps were moved to ${f.preferred}. They come back once ${f.node} is up again (and has stayed up for decision.failbackHold).`,
      ];
    case 'allDown':
      return ['Every node is down: apps have no working endpoint.'];
    case 'recovered':
      return [`${f.node} is ${f.nodes.find((n) => n.name === f.node)?.status ?? 'up'} again after ${formatDuration(f.durationMs ?? 0)} down (since ${time(f.since)}).`, `The outage's cause: ${cause}.`];
    case 'reminder':
      return [`${f.node} has been down since ${time(f.since)} (${formatDuration(f.durationMs ?? 0)}): ${cause}.`];
    case 'flapping':
      return [
        `${f.node} changed between down and healthy ${f.flaps?.count ?? 0} times since ${time(f.flaps?.since ?? null)}.`,
        'Further alerts for this node are held until it has been stable for a while; a summary follows then.',
      ];
    case 'monitorNetwork':
      return [
        `From ${time(f.since)} for ${formatDuration(f.durationMs ?? 0)}, every node and every witness was unreachable from this monitor: its own network was down.`,
        'Nothing was judged meanwhile and the time counts as not observed; no node alerts were sent for it.',
      ];
    case 'exposed':
      return [
        `A request to ${f.node}'s public URL WITHOUT the configured auth headers was answered by Ollama: ${f.detail ?? ''}.`,
        'Anyone who knows the URL can use the model. Check the Cloudflare Access application and its policies (Service Auth), or the reverse proxy in front of Ollama.',
      ];
    case 'flappingSettled':
      return [`${f.node} has stopped flapping after ${f.flaps?.count ?? 0} changes since ${time(f.flaps?.since ?? null)}.`];
    case 'monitorSilent':
      return [
        `The peer monitor ${f.monitor ?? f.node} has not answered since ${time(f.since)}: ${f.detail ?? 'no answer'}.`,
        'If it was the one sending alerts, this monitor sends them now (and mails any outage it had not mailed).',
      ];
    case 'monitorBack':
      return [`The peer monitor ${f.monitor ?? f.node} answers again; it was silent from ${time(f.since)} for ${formatDuration(f.durationMs ?? 0)}.`];
    case 'peerMisconfigured':
      return [
        `The monitors are not configured alike: ${f.detail ?? '?'} (seen from ${f.monitor ?? 'a peer'}'s answers).`,
        'Until it is fixed they may both send alerts, or neither may hear the other. Make peers, peers.rank and each instance name match on every monitor (docs/alerts.md "One voice"); `llm-sentinel check` and /healthz say it too.',
      ];
    case 'hostDown':
      return [
        `One root cause, two symptoms: the monitor ${f.monitor ?? '?'} on the same host as ${f.node} is silent, and ${f.node} fails from here since ${time(f.since)}: ${cause}.`,
        'The host itself is probably down (power, network, OS update).',
      ];
    case 'monitorsDisagree': {
      const down = (f.views ?? []).filter((v) => v.status === 'down').map((v) => v.monitor);
      const serving = (f.views ?? []).filter((v) => v.status !== 'down').map((v) => v.monitor);
      return [
        `Since ${time(f.since)} (${formatDuration(f.durationMs ?? 0)}), the monitors disagree about ${f.node}: ${sees(f)}.`,
        `Each monitor probes ${f.node}'s public URL from its own network, so this is a path problem between ${down.join(', ') || '?'} and ${f.node} (a regional Cloudflare edge fault, DNS or routing at one end, an ISP blocking one direction), not ${f.node} itself: ${serving.join(', ') || '?'} still reach${serving.length === 1 ? 'es' : ''} it.`,
        'Apps reading both monitors keep one steady choice meanwhile (docs/client.md "Several monitors"); apps whose path is like the failing one fail over on their own request.',
      ];
    }
    case 'monitorsAgree':
      return [`The monitors agree again about ${f.node} (${sees(f)}); they disagreed from ${time(f.since)} for ${formatDuration(f.durationMs ?? 0)}.`];
  }
}

const latency = (n: NodeSnapshot) => (n.ttftMs !== null ? `ttft ${Math.round(n.ttftMs)}ms` : n.totalMs !== null ? `${Math.round(n.totalMs)}ms` : '-');

function rows(f: AlertFacts): string[][] {
  return f.nodes.map((n) => [`${n.name}${n.name === f.preferred ? ' *' : ''}`, n.status.toUpperCase(), time(n.since), n.status === 'up' ? '-' : describeCause(n.cause, n.detail), latency(n)]);
}

const HEADER = ['Node', 'Status', 'Since', 'Cause', 'Last latency'];

function textTable(cells: string[][]): string {
  const all = [HEADER, ...cells];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function renderAlert(a: RenderInput, opts: RenderOptions = {}): Rendered {
  const f = a.facts;
  const subject = subjectFor(a.instance, f);
  const mailSubject = mailSubjectFor(a.instance, f);
  const lines = explanation(f);
  if (f.afterMaintenance) lines.push(`Its alerts were held during maintenance (${f.afterMaintenance}); the window has ended and it is still down.`);
  const detail = f.detail && f.kind !== 'allDown' && f.kind !== 'flapping' ? f.detail : null;
  const where = f.allDown ? `No node is healthy; apps are told to stay on ${f.preferred}.` : `Apps should use ${f.preferred} (* in the table).`;
  const footer = `llm-sentinel instance ${a.instance} · alert #${a.id} · ${f.kind} · ${f.severity} · ${time(f.at)}`;

  const text = [
    `${f.severity.toUpperCase()}: ${headline(f)}`,
    '',
    ...lines,
    ...(detail ? [`Detail: ${detail}`] : []),
    where,
    '',
    textTable(rows(f)),
    '',
    ...(opts.statusPageUrl ? [`Status page: ${opts.statusPageUrl}`, ''] : []),
    `-- ${footer}`,
    '',
  ].join('\n');

  const e = escapeHtml;
  const td = 'style="padding:2px 10px 2px 0;text-align:left"';
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p><strong>${e(f.severity.toUpperCase())}: ${e(headline(f))}</strong></p>`,
    ...lines.map((l) => `<p>${e(l)}</p>`),
    ...(detail ? [`<p>Detail: <code>${e(detail)}</code></p>`] : []),
    `<p>${e(where)}</p>`,
    '<table style="border-collapse:collapse">',
    `<tr>${HEADER.map((h) => `<th ${td}>${e(h)}</th>`).join('')}</tr>`,
    ...rows(f).map((r) => `<tr>${r.map((c) => `<td ${td}>${e(c)}</td>`).join('')}</tr>`),
    '</table>',
    ...(opts.statusPageUrl ? [`<p><a href="${e(opts.statusPageUrl)}">Status page</a></p>`] : []),
    `<p style="color:#777;font-size:smaller">${e(footer)}</p>`,
    '</body></html>',
    '',
  ].join('\n');

  if (f.outageKey) {
    const root = outageMessageId(f.node, f.outageKey);
    if (f.outageRoot) return { subject, mailSubject, text, html, messageId: root };
    // A reminder is named by its number in the outage (alike on monitors that watched it from its start).
    const part = f.kind === 'recovered' ? 'recovered' : f.kind === 'reminder' && f.reminder ? `reminder-${f.reminder}` : `${f.kind}-${Math.round(f.at).toString(36)}`;
    return { subject, mailSubject, text, html, messageId: outageMessageId(f.node, f.outageKey, part), inReplyTo: root, references: [root] };
  }
  const rendered: Rendered = { subject, mailSubject, text, html, messageId: messageIdFor(a.id, a.instance, opts.databaseToken) };
  if (a.threadOf !== null) {
    const root = messageIdFor(a.threadOf, a.instance, opts.databaseToken);
    rendered.inReplyTo = root;
    rendered.references = [root];
  }
  return rendered;
}

/** The message `llm-sentinel alert test` sends. */
export function renderTest(instance: string, at: number, channels: string[], opts: RenderOptions = {}): Rendered {
  const subject = `[llm-sentinel ${instance}] test alert`;
  const lines = [
    `This is a test alert from llm-sentinel instance ${instance}, sent at ${time(at)} through: ${channels.join(', ')}.`,
    'If you can read it, real alerts (node down, recovered, reminders, flapping) will reach you the same way.',
  ];
  const text = [...lines, ...(opts.statusPageUrl ? ['', `Status page: ${opts.statusPageUrl}`] : []), ''].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    ...lines.map((l) => `<p>${escapeHtml(l)}</p>`),
    ...(opts.statusPageUrl ? [`<p><a href="${escapeHtml(opts.statusPageUrl)}">Status page</a></p>`] : []),
    '</body></html>',
    '',
  ].join('\n');
  return { subject, mailSubject: subject, text, html, messageId: `<test-${at}.${idSafe(instance)}@llm-sentinel>` };
}
