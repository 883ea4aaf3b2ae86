import { outageMessageId, renderAlert } from '../../src/alerts/render';
import type { AlertFacts } from '../../src/core/alert-types';
import { bestChained, chainRoot, compareKeys, nextOutageKey, outageThread, parseOutageKey, sameOutage } from '../../src/core/outage-id';

const T0 = Date.UTC(2026, 11, 7, 9, 0);
const S = 1000;
const b = (ms: number) => ms.toString(36);

describe('an outage identity that two monitors derive alike without a message (core/outage-id)', () => {
  test('a key parses into its thread (node, chain, number) and the naming monitor\'s confirmed-down time; node names may hold dots', () => {
    expect(parseOutageKey('primary', `primary.${b(T0)}.12.${b(T0 + 5 * S)}`)).toEqual({ thread: `primary.${b(T0)}.12`, epoch: T0, n: 12, since: T0 + 5 * S });
    expect(parseOutageKey('mac.local', `mac.local.${b(T0)}.3.${b(T0)}`)).toMatchObject({ thread: `mac.local.${b(T0)}.3`, n: 3 });
    // An older version's key is its own thread, with no number.
    expect(parseOutageKey('primary', `primary.${b(T0)}`)).toEqual({ thread: `primary.${b(T0)}`, epoch: T0, n: 0, since: T0 });
    // Garbage is a thread of its own too (never a crash, never a match with anything else).
    expect(parseOutageKey('primary', 'x')).toMatchObject({ thread: 'x', n: 0, since: null });
    expect(parseOutageKey('primary', `fallback.${b(T0)}.1.${b(T0)}`)).toMatchObject({ n: 0 });
  });

  test('a new outage is numbered one past the best chain known; with none, a new chain begins at its own time', () => {
    expect(nextOutageKey('primary', T0, [])).toBe(`primary.${b(T0)}.1.${b(T0)}`);
    const root = chainRoot('primary', T0 - 3600 * S);
    expect(nextOutageKey('primary', T0, [root])).toBe(`primary.${b(T0 - 3600 * S)}.1.${b(T0)}`);
    const k7 = `primary.${b(T0 - 3600 * S)}.7.${b(T0 - 60 * S)}`;
    expect(nextOutageKey('primary', T0, [root, undefined, k7, `primary.${b(T0)}`])).toBe(`primary.${b(T0 - 3600 * S)}.8.${b(T0)}`);
    // A peer's absurd number does not overflow the format: a new chain begins.
    expect(nextOutageKey('primary', T0, [`primary.${b(T0)}.99999999.${b(T0)}`])).toBe(`primary.${b(T0)}.1.${b(T0)}`);
  });

  test('two monitors that saw the same outages name the next one alike, whenever each confirms it', () => {
    const chain = [chainRoot('primary', T0 - 86_400 * S), `primary.${b(T0 - 86_400 * S)}.4.${b(T0 - 7200 * S)}`];
    const mac = nextOutageKey('primary', T0 + 1_200, chain);
    const oracle = nextOutageKey('primary', T0 + 61_700, chain);
    expect(mac).not.toBe(oracle);
    expect(sameOutage('primary', mac, oracle)).toBe(true);
    expect(outageMessageId('primary', mac)).toBe(outageMessageId('primary', oracle));
    expect(outageMessageId('primary', mac, 'recovered')).toBe(`<recovered.primary.${b(T0 - 86_400 * S)}.5@llm-sentinel>`);
  });

  // compareKeys: negative when the first is the one both sides settle on.
  const E = T0 - 86_400 * S;
  test.each([
    ['a further chain wins (it counted an outage the other missed)', `primary.${b(E)}.6.${b(T0 + 9 * S)}`, `primary.${b(E)}.5.${b(T0)}`, -1],
    ['same number: the older epoch wins', `primary.${b(E)}.5.${b(T0 + 9 * S)}`, `primary.${b(E + S)}.5.${b(T0)}`, -1],
    ['same thread: the earlier confirmed-down time wins (one Subject)', `primary.${b(E)}.5.${b(T0)}`, `primary.${b(E)}.5.${b(T0 + 9 * S)}`, -1],
    ['a chained key beats an older version\'s', `primary.${b(E)}.1.${b(T0 + 9 * S)}`, `primary.${b(T0)}`, -1],
    ['the same key is a tie', `primary.${b(E)}.5.${b(T0)}`, `primary.${b(E)}.5.${b(T0)}`, 0],
  ] as const)('%s', (_why, a, bk, sign) => {
    expect(Math.sign(compareKeys('primary', a, bk))).toBe(sign);
    expect(Math.sign(compareKeys('primary', bk, a))).toBe(sign === 0 ? 0 : -sign);
    if (sign !== 0) expect(bestChained('primary', [bk, a])).toBe(a);
  });

  test('the Subject shows the naming monitor\'s time, the Message-ID only the thread', () => {
    const facts = (key: string): AlertFacts => ({
      kind: 'primaryDown',
      severity: 'critical',
      node: 'primary',
      at: T0,
      cause: 'refused',
      detail: null,
      since: T0,
      durationMs: null,
      preferred: 'fallback',
      allDown: false,
      primary: 'primary',
      nodes: [],
      outageKey: key,
      outageRoot: true,
    });
    const k = `primary.${b(E)}.5.${b(Date.UTC(2026, 11, 7, 9, 2, 30))}`;
    const r = renderAlert({ id: 1, instance: 'mac', facts: facts(k), threadOf: null });
    expect(r.mailSubject).toBe('[llm-sentinel] primary outage since 2026-12-07 09:02 UTC');
    expect(r.messageId).toBe(`<outage.${outageThread('primary', k)}@llm-sentinel>`);
  });
});
