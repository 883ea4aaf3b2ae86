import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../util/secret';

/**
 * Token check. Both sides are hashed first so timingSafeEqual always compares 32 bytes: comparing
 * the raw strings would leak the token's length and fail fast on the first wrong byte.
 * `Authorization: Bearer <token>` for programs; `Basic` with the token as the password (any user name) so
 * a browser can open the status page: it prompts for Basic credentials by itself, never for a bearer token.
 * Returns undefined when the request may pass, else the 401 reason for the WWW-Authenticate header.
 */
export function bearerCheck(token: Secret | undefined): (authorization: string | undefined) => undefined | 'missing' | 'invalid' {
  if (!token) return () => undefined;
  const expected = createHash('sha256').update(token.reveal(), 'utf8').digest();
  return (authorization) => {
    if (!authorization) return 'missing';
    const bearer = /^Bearer +([^\s]+) *$/i.exec(authorization);
    const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(authorization);
    let presented: string | undefined = bearer?.[1];
    if (basic) {
      const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
      presented = decoded.slice(decoded.indexOf(':') + 1);
    }
    const got = createHash('sha256')
      .update(presented ?? '', 'utf8')
      .digest();
    return presented !== undefined && timingSafeEqual(got, expected) ? undefined : 'invalid';
  };
}
