import type { AlertFacts, NodeSnapshot } from '../../src/core/alert-types';
import { describeCause, escapeHtml, messageIdFor, renderAlert, renderTest, subjectFor } from '../../src/alerts/render';

const T0 = Date.UTC(2026, 0, 5, 9, 0);
const TUNNEL = '530 from Cloudflare (error 1033: tunnel not connected), ray 8d1f: is cloudflared running and connected?';

const node = (over: Partial<NodeSnapshot>): NodeSnapshot => ({ name: 'primary', priority: 0, status: 'up', since: T0, cause: null, detail: null, lastOkAt: T0, ttftMs: null, totalMs: null, ...over });

function facts(over: Partial<AlertFacts> = {}): AlertFacts {
  return {
    kind: 'primaryDown',
    severity: 'critical',
    node: 'primary',
    at: T0,
    cause: 'cloudflare_tunnel_down',
    detail: TUNNEL,
    since: T0,
    durationMs: null,
    preferred: 'fallback',
    allDown: false,
    primary: 'primary',
    nodes: [node({ status: 'down', cause: 'cloudflare_tunnel_down', detail: TUNNEL }), node({ name: 'fallback', priority: 1, ttftMs: 412.4 })],
    ...over,
  };
}

describe('alert rendering', () => {
  test('the subject names instance, node, event, cause and where traffic goes', () => {
    expect(subjectFor('oracle-1', facts())).toBe('[llm-sentinel] primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback');
    expect(subjectFor('mini', facts({ kind: 'recovered', severity: 'info', durationMs: 47 * 60_000 + 12_000 }))).toBe(
      '[llm-sentinel] primary RECOVERED after 47m12s (was: Cloudflare tunnel down (530/1033)); apps on fallback',
    );
    expect(subjectFor('o', facts({ kind: 'fallbackDown', node: 'fallback', cause: 'refused', detail: 'connection refused', preferred: 'primary' }))).toBe(
      '[llm-sentinel] fallback DOWN (safety net gone) — connection refused; apps on primary',
    );
    expect(subjectFor('o', facts({ kind: 'allDown', allDown: true, nodes: [node({ status: 'down', cause: 'refused' }), node({ name: 'fallback', status: 'down', cause: 'timeout' })] }))).toBe(
      '[llm-sentinel] ALL NODES DOWN — primary: connection refused, fallback: timed out; apps have no working node',
    );
    expect(subjectFor('o', facts({ kind: 'reminder', durationMs: 6 * 3_600_000 }))).toBe('[llm-sentinel] primary still DOWN after 6h00m — Cloudflare tunnel down (530/1033); apps on fallback');
    expect(subjectFor('o', facts({ afterMaintenance: 'macOS update' }))).toMatch(/primary still DOWN after maintenance — /);
    expect(subjectFor('o', facts({ kind: 'flapping', flaps: { count: 5, since: T0, windowMs: 1_800_000 } }))).toBe('[llm-sentinel] primary FLAPPING — 5 changes in 30m00s, now DOWN; alerts held until it is stable');
  });

  test('causes in words, with the HTTP status and Cloudflare code when the detail has them', () => {
    expect(describeCause('cloudflare_tunnel_down', TUNNEL)).toBe('Cloudflare tunnel down (530/1033)');
    expect(describeCause('cloudflare_origin_unreachable', '502 from Cloudflare, ray x: tunnel up')).toBe('Cloudflare cannot reach Ollama (502)');
    expect(describeCause('server_error', '500 at /api/tags: boom')).toBe('server error (500)');
    expect(describeCause('canary_wrong_answer', null)).toBe('canary failing: canary answered wrongly');
    expect(describeCause('something_new', null)).toBe('something new');
    expect(describeCause(null, null)).toBe('unknown cause');
  });

  test('plain text and HTML carry the table; everything in the HTML is escaped', () => {
    const evil = '<script>alert("x")</script> & co';
    const r = renderAlert({ id: 12, instance: 'oracle-1', facts: facts({ detail: evil }), threadOf: null }, { statusPageUrl: 'https://status.example.test/?a=1&b=2' });
    expect(r.text).toContain('CRITICAL: primary DOWN');
    expect(r.text).toMatch(/fallback \*\s+UP\s+2026-01-05 09:00 UTC\s+-\s+ttft 412ms/);
    expect(r.text).toContain(`Detail: ${evil}`);
    expect(r.text).toContain('Status page: https://status.example.test/?a=1&b=2');
    expect(r.text).toContain('llm-sentinel instance oracle-1 · alert #12');
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(r.html).toContain('<a href="https://status.example.test/?a=1&amp;b=2">Status page</a>');
    expect(r.html).toMatch(/<td [^>]*>fallback \*<\/td><td [^>]*>UP<\/td>/);
    const noLink = renderAlert({ id: 1, instance: 'o', facts: facts(), threadOf: null });
    expect(noLink.text).not.toContain('Status page');
    expect(noLink.html).not.toContain('<a ');
  });

  test('stable Message-IDs; recovery and reminder mails answer the outage mail', () => {
    expect(messageIdFor(7, 'oracle-1')).toBe('<alert-7.oracle-1@llm-sentinel>');
    expect(messageIdFor(7, 'Mac mini (home)')).toBe('<alert-7.Mac-mini-home@llm-sentinel>');
    // With the database's token, a recreated database (ids from 1 again) cannot reuse an old Message-ID.
    expect(messageIdFor(7, 'oracle-1', 'mif3k2x1')).toBe('<alert-7.mif3k2x1.oracle-1@llm-sentinel>');
    expect(messageIdFor(7, 'oracle-1', 'mif3k2x1')).not.toBe(messageIdFor(7, 'oracle-1', 'mif3k9q0'));
    const r = renderAlert({ id: 9, instance: 'oracle-1', facts: facts({ kind: 'recovered', durationMs: 60_000 }), threadOf: 7 });
    expect(r.messageId).toBe('<alert-9.oracle-1@llm-sentinel>');
    expect(r.inReplyTo).toBe('<alert-7.oracle-1@llm-sentinel>');
    expect(r.references).toEqual(['<alert-7.oracle-1@llm-sentinel>']);
    expect(renderAlert({ id: 9, instance: 'oracle-1', facts: facts(), threadOf: null }).inReplyTo).toBeUndefined();
    // Pure: the same input renders the same message.
    expect(renderAlert({ id: 9, instance: 'o', facts: facts(), threadOf: null })).toEqual(renderAlert({ id: 9, instance: 'o', facts: facts(), threadOf: null }));
  });

  test('the test message names the instance and the channels', () => {
    const r = renderTest('oracle-1', T0, ['email', 'ntfy']);
    expect(r.subject).toBe('[llm-sentinel oracle-1] test alert');
    expect(r.text).toContain('instance oracle-1');
    expect(r.text).toContain('email, ntfy');
    expect(escapeHtml(`a<b>"c"'d'&`)).toBe('a&lt;b&gt;&quot;c&quot;&#39;d&#39;&amp;');
  });
});

describe('Gmail threading: one Subject per outage', () => {
  // Gmail groups a conversation by its normalised Subject (leading "Re:" ignored) and References.
  const normalise = (s: string) => s.replace(/^(Re: )+/i, '');
  test('every mail of one outage, from either monitor, has the same normalised Subject and References its first mail; the instance is in the footer only', () => {
    const key = `primary.${T0.toString(36)}`;
    const root = renderAlert({ id: 1, instance: 'mac', facts: facts({ outageKey: key, outageRoot: true }), threadOf: null });
    const reminder = renderAlert({ id: 7, instance: 'oracle', facts: facts({ kind: 'reminder', outageKey: key, durationMs: 6 * 3_600_000, at: T0 + 6 * 3_600_000 }), threadOf: 3 });
    const recovered = renderAlert({ id: 9, instance: 'mac', facts: facts({ kind: 'recovered', outageKey: key, durationMs: 7 * 3_600_000, since: T0 + 5_000 }), threadOf: 1 });
    expect(root.mailSubject).toBe(`[llm-sentinel] primary outage since ${new Date(T0).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    expect(reminder.mailSubject).toBe(`Re: ${root.mailSubject}`);
    expect(new Set([root, reminder, recovered].map((r) => normalise(r.mailSubject)))).toEqual(new Set([root.mailSubject]));
    expect(reminder.references).toEqual([root.messageId]);
    expect(recovered.references).toEqual([root.messageId]);
    expect(recovered.inReplyTo).toBe(root.messageId);
    for (const r of [root, reminder, recovered]) expect(r.mailSubject).not.toMatch(/mac|oracle/);
    expect(root.text).toMatch(/-- llm-sentinel instance mac · alert #1/);
    // The body's first line still says what happened.
    expect(recovered.text.split('\n')[0]).toMatch(/^[A-Z]+: primary RECOVERED after 7h00m/);
  });

  test('an alert not about an outage uses its title as Subject', () => {
    const r = renderAlert({ id: 2, instance: 'mac', facts: facts({ kind: 'exposed', detail: 'x' }), threadOf: null });
    expect(r.mailSubject).toBe(r.subject);
    expect(r.subject).toMatch(/^\[llm-sentinel\] primary is OPEN TO THE INTERNET/);
  });
});
