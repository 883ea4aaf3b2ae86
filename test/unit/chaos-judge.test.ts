import { judgeChaos, outageOf, trueTimes } from '../helpers/chaos-judge';

/** The Message-IDs the daemon gives an outage's mails (docs/alerts.md "Threads and Message-IDs"). */
const root = (since: number) => `<outage.primary.${since.toString(36)}@llm-sentinel>`;
const rec = (since: number) => `<recovered.primary.${since.toString(36)}@llm-sentinel>`;

const T = Date.UTC(2026, 11, 7, 3, 0);
const S = 1_000;

describe('the chaos judge attributes mails by the outage their identity names', () => {
  // Outage A from 0 to 10 s, outage B from 20 to 30 s (true time).
  const outages = [
    { start: T, end: T + 10 * S, twoWay: false },
    { start: T + 20 * S, end: T + 30 * S, twoWay: false },
  ];
  const noSteps = [[], []];

  test("A's DOWN arriving after B began (the only live monitor's SMTP refused) is A's, not lost (seed 4242's report)", () => {
    const mails = [
      { messageId: root(T + 21 * S), at: T + 22 * S },
      // A's start, confirmed at 2 s, delivered at 25 s: after B began. Arrival-time attribution lost it.
      { messageId: root(T + 2 * S), at: T + 25 * S },
      { messageId: rec(T + 2 * S), at: T + 26 * S },
      { messageId: rec(T + 21 * S), at: T + 31 * S },
    ];
    expect(judgeChaos(outages, mails, noSteps, T + 40 * S)).toMatchObject({ lost: 0, exactlyOnce: 2, duplicatesOtherId: 0, worstDelayMs: 25 * S });
  });

  test('a stamp from a clock stepped back 2 min maps to the outage through that monitor\'s offset history', () => {
    // mac's clock was stepped -2 min at 15 s: B, confirmed at 21 s true, carries 21 s - 2 min.
    const histories = [[{ from: T + 15 * S, offset: -120 * S }], []];
    expect(trueTimes(T + 21 * S - 120 * S, histories)).toContain(T + 21 * S);
    expect(outageOf({ messageId: root(T + 21 * S - 120 * S), at: T + 23 * S }, outages, histories, T + 40 * S)).toBe(1);
    // Without the step on record nothing matches the stamp, and arrival time decides (the fallback).
    expect(outageOf({ messageId: root(T + 21 * S - 120 * S), at: T + 23 * S }, outages, noSteps, T + 40 * S)).toBe(1);
  });

  test('a start both monitors mailed in a two-way partition: one Message-ID (the shared thread), each stamped by its own X-LLM-Sentinel-Outage header, is one outage mailed twice with the same ID', () => {
    const E = (T - 3600 * S).toString(36);
    const thread = `primary.${E}.5`;
    const mails = [
      { messageId: `<outage.${thread}@llm-sentinel>`, outageKey: `${thread}.${(T + 21 * S).toString(36)}`, at: T + 22 * S },
      { messageId: `<outage.${thread}@llm-sentinel>`, outageKey: `${thread}.${(T + 23 * S).toString(36)}`, at: T + 27 * S },
      { messageId: `<recovered.${thread}@llm-sentinel>`, outageKey: `${thread}.${(T + 21 * S).toString(36)}`, at: T + 31 * S },
    ];
    expect(outageOf(mails[1]!, outages, noSteps, T + 40 * S)).toBe(1);
    expect(judgeChaos(outages.slice(1), mails, noSteps, T + 40 * S)).toMatchObject({ lost: 0, exactlyOnce: 0, duplicatesSameId: 1, duplicatesOtherId: 0 });
  });

  test('a lost outage is still counted lost, and two identities for one outage are two threads', () => {
    const mails = [
      { messageId: root(T + 21 * S), at: T + 22 * S },
      { messageId: root(T + 22 * S), at: T + 23 * S },
      { messageId: rec(T + 21 * S), at: T + 31 * S },
      { messageId: rec(T + 22 * S), at: T + 31 * S },
    ];
    expect(judgeChaos(outages, mails, noSteps, T + 40 * S)).toMatchObject({ lost: 1, exactlyOnce: 0, duplicatesOtherId: 1 });
  });
});
