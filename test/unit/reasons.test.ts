import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASON_INFO, REASONS, reasonForCodes } from '../../src/core/reasons';
import { isUnreachable } from '../../src/core/selfcheck';

/** The reason table (src/core/reasons.ts): one row per reason, and what the rest of the code reads from it. */
describe('the reason table', () => {
  test('has a row for every reason and nothing else, each failure with words for a mail and a hint for check', () => {
    expect(Object.keys(REASON_INFO).sort()).toEqual([...REASONS].sort());
    for (const r of REASONS) {
      const info = REASON_INFO[r];
      if (info.weight === 'none') continue;
      expect([r, info.words.length > 0, info.hint.length > 0]).toEqual([r, true, true]);
    }
  });

  test('docs/reasons.md has a row for every reason', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'reasons.md'), 'utf8');
    for (const r of REASONS) expect([r, doc.includes(`| \`${r}\` |`)]).toEqual([r, true]);
  });

  test('hard failures are facts (the server said no or the path is gone); no-answer failures are never Cloudflare', () => {
    const hard = REASONS.filter((r) => REASON_INFO[r].weight === 'hard');
    expect(hard).toEqual(['refused', 'dns', 'tls', 'cloudflare_tunnel_down', 'cloudflare_origin_unreachable', 'cloudflare_challenge', 'cloudflare_blocked', 'auth_required', 'not_ollama', 'model_missing', 'stalled']);
    const noAnswer = REASONS.filter((r) => REASON_INFO[r].noAnswer);
    expect(noAnswer).toEqual(['refused', 'dns', 'tls', 'connect_timeout', 'timeout', 'reset']);
    expect(isUnreachable({ ok: false, reason: 'cloudflare_tunnel_down' })).toBe(false);
    expect(isUnreachable({ ok: false, reason: 'timeout' })).toBe(true);
    expect(isUnreachable({ ok: true, reason: 'ok' })).toBe(false);
  });

  test('a failure of the model is not a failure of the path (the direct URL would say nothing new)', () => {
    for (const r of ['model_missing', 'wrong_answer', 'empty_answer', 'stream_error', 'bad_response', 'too_large'] as const) expect([r, REASON_INFO[r].path]).toEqual([r, false]);
    for (const r of ['refused', 'timeout', 'cloudflare_tunnel_down', 'auth_required', 'server_error'] as const) expect([r, REASON_INFO[r].path]).toEqual([r, true]);
  });

  test('a chain of codes: the most telling reason wins, with the code that named it', () => {
    expect(reasonForCodes(['ECONNRESET', 'ECONNREFUSED'])).toEqual({ reason: 'refused', code: 'ECONNREFUSED' });
    expect(reasonForCodes(['UND_ERR_ABORTED', 'ETIMEDOUT'])).toEqual({ reason: 'connect_timeout', code: 'ETIMEDOUT' });
    expect(reasonForCodes(['ERR_SSL_DECRYPTION_FAILED'])).toEqual({ reason: 'tls', code: 'ERR_SSL_DECRYPTION_FAILED' });
    expect(reasonForCodes(['EWHATEVER'])).toBeUndefined();
  });
});
