import { everyNodeUnreachable, isUnreachable, rootCause } from '../../src/core/selfcheck';
import type { Reason } from '../../src/probes/types';

describe('self-check judgements', () => {
  test('unreachable means no answer at all; Cloudflare answering is not that', () => {
    expect(isUnreachable({ ok: false, reason: 'refused' })).toBe(true);
    expect(isUnreachable({ ok: false, reason: 'timeout' })).toBe(true);
    expect(isUnreachable({ ok: false, reason: 'cloudflare_tunnel_down' })).toBe(false);
    expect(isUnreachable({ ok: true, reason: 'ok' })).toBe(false);
  });

  test('every node unreachable only when each has a latest result and all are unreachable', () => {
    const m = new Map<string, { ok: boolean; reason: Reason }>([['a', { ok: false, reason: 'refused' }]]);
    expect(everyNodeUnreachable(['a', 'b'], m)).toBe(false);
    m.set('b', { ok: false, reason: 'dns' });
    expect(everyNodeUnreachable(['a', 'b'], m)).toBe(true);
    m.set('b', { ok: false, reason: 'server_error' });
    expect(everyNodeUnreachable(['a', 'b'], m)).toBe(false);
    expect(everyNodeUnreachable([], m)).toBe(false);
  });

  test('root cause: direct path up → tunnel; both down → ollama_or_host; public ok → none', () => {
    expect(rootCause({ ok: false }, { ok: true })).toBe('tunnel');
    expect(rootCause({ ok: false }, { ok: false })).toBe('ollama_or_host');
    expect(rootCause({ ok: true }, { ok: false })).toBeUndefined();
  });
});
