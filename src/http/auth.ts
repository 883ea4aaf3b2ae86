import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../util/secret';

/**
 * Bearer-token check. Both sides are hashed first so timingSafeEqual always compares 32 bytes: comparing
 * the raw strings would leak the token's length and fail fast on the first wrong byte.
 * Returns undefined when the request may pass, else the 401 reason for the WWW-Authenticate header.
 */
export function bearerCheck(token: Secret | undefined): (authorization: string | undefined) => undefined | 'missing' | 'invalid' {
  if (!token) return () => undefined;
  const expected = createHash('sha256').update(token.reveal(), 'utf8').digest();
  return (authorization) => {
    if (!authorization) return 'missing';
    const m = /^Bearer +([^\s]+) *$/i.exec(authorization);
    const got = createHash('sha256')
      .update(m?.[1] ?? '', 'utf8')
      .digest();
    return m && timingSafeEqual(got, expected) ? undefined : 'invalid';
  };
}
