import { emptyConsensus, settle, type AppOutcomes, type ConsensusMemory, type MonitorDoc } from '../../src/client/consensus';
import type { PublishedState, PublishedStatus } from '../../src/state/types';
import { makeState } from '../helpers/state';

/*
 * Issue 22: the rule an app uses to read several monitors, as a step table. Each step is what the app sees
 * at one read: each monitor's view of the primary (`mac`, `oracle`: up / down / a missing document), the
 * app's own recent results, the time; the expected choice. The memory is carried from step to step exactly
 * as the client carries it.
 */
const T0 = Date.UTC(2026, 0, 1);
const A = 'http://10.9.0.1:11434';
const B = 'http://10.9.0.2:11434';

type View = PublishedStatus | 'none' | 'stale';
const doc = (primary: PublishedStatus, at: number, extra: { preferred?: string; staleAfterMs?: number } = {}): PublishedState =>
  makeState(
    [
      { name: 'primary', url: A, status: primary },
      { name: 'fallback', url: B },
    ],
    { updatedAt: at, ...extra },
  );

interface Step {
  t: number;
  mac: View;
  oracle: View;
  app?: AppOutcomes;
  expect: string;
  disagreement?: boolean;
}

function run(steps: Step[]): Array<{ chosen: string | undefined; disagreement: boolean }> {
  let memory: ConsensusMemory = emptyConsensus();
  return steps.map((s) => {
    const now = T0 + s.t;
    const docs: MonitorDoc[] = (['mac', 'oracle'] as const).map((label) => {
      const v = s[label];
      if (v === 'none') return { label, error: 'state URL unreachable (ECONNREFUSED)' };
      // Heartbeat: each read sees a document written 1 s ago (2 s apart between monitors, as in real life).
      const at = v === 'stale' ? T0 - 120_000 : now - (label === 'mac' ? 1_000 : 2_000);
      return { label, state: doc(v === 'stale' ? 'up' : v, at) };
    });
    const r = settle(docs, s.app ?? {}, memory, now);
    memory = r.memory;
    return { chosen: r.state?.preferred.name, disagreement: r.disagreement !== undefined };
  });
}

describe('settle: one steady choice while the monitors disagree', () => {
  test.each<[string, Step[]]>([
    [
      'persistent disagreement from the first read: the better node, never a change (the issue: 16 changes a minute)',
      Array.from({ length: 240 }, (_, i) => ({ t: i * 250, mac: 'up' as View, oracle: 'down' as View, expect: 'primary', disagreement: true })),
    ],
    [
      'agreement, then one monitor sees the primary down (bad news): the app moves at once, once, and stays',
      [
        { t: 0, mac: 'up', oracle: 'up', expect: 'primary', disagreement: false },
        { t: 1_000, mac: 'up', oracle: 'down', expect: 'fallback', disagreement: true },
        { t: 5_000, mac: 'up', oracle: 'down', expect: 'fallback', disagreement: true },
        { t: 9_000, mac: 'down', oracle: 'down', expect: 'fallback', disagreement: false },
        { t: 9_250, mac: 'down', oracle: 'down', expect: 'fallback' },
      ],
    ],
    [
      "the same bad news while this app's own requests to the primary succeed: it stays (its path works)",
      [
        { t: 0, mac: 'up', oracle: 'up', app: { primary: { lastOkAt: T0 - 200 } }, expect: 'primary' },
        { t: 1_000, mac: 'up', oracle: 'down', app: { primary: { lastOkAt: T0 + 900 } }, expect: 'primary', disagreement: true },
        { t: 60_000, mac: 'up', oracle: 'down', app: { primary: { lastOkAt: T0 + 59_000 } }, expect: 'primary', disagreement: true },
        { t: 61_000, mac: 'up', oracle: 'down', app: { primary: { lastOkAt: T0 + 59_000, lastFailAt: T0 + 60_500 } }, expect: 'fallback', disagreement: true },
      ],
    ],
    [
      'a flicker elsewhere in a monitor view during a disagreement is no news about the node in use: kept',
      [
        { t: 0, mac: 'up', oracle: 'down', expect: 'primary' },
        { t: 1_000, mac: 'degraded', oracle: 'down', expect: 'primary' },
        { t: 2_000, mac: 'up', oracle: 'down', expect: 'primary' },
      ],
    ],
    [
      'recovery seen by one monitor first: traffic stays on the fallback until both agree (failback is never urgent)',
      [
        { t: 0, mac: 'down', oracle: 'down', expect: 'fallback' },
        { t: 1_000, mac: 'up', oracle: 'down', expect: 'fallback', disagreement: true },
        { t: 30_000, mac: 'up', oracle: 'down', expect: 'fallback', disagreement: true },
        { t: 31_000, mac: 'up', oracle: 'up', expect: 'primary', disagreement: false },
      ],
    ],
    [
      "tie-breaker: the app's own recent failure with the disputed node, at the start of a disagreement",
      [{ t: 0, mac: 'up', oracle: 'down', app: { primary: { lastFailAt: T0 - 10_000 } }, expect: 'fallback', disagreement: true }],
    ],
    [
      "tie-breaker: the app's own recent success with the disputed node wins over the other monitor",
      [{ t: 0, mac: 'down', oracle: 'up', app: { primary: { lastOkAt: T0 - 5_000 } }, expect: 'primary', disagreement: true }],
    ],
    [
      "evidence older than the window does not count: the better node",
      [{ t: 0, mac: 'up', oracle: 'down', app: { primary: { lastFailAt: T0 - 10 * 60_000 } }, expect: 'primary', disagreement: true }],
    ],
    [
      "the app's own failure on the chosen node moves the choice once, and it stays there while the views stay",
      [
        { t: 0, mac: 'up', oracle: 'down', expect: 'primary' },
        { t: 1_000, mac: 'up', oracle: 'down', app: { primary: { lastFailAt: T0 + 800 } }, expect: 'fallback' },
        { t: 2_000, mac: 'up', oracle: 'down', app: { primary: { lastFailAt: T0 + 800, lastOkAt: T0 + 1_900 } }, expect: 'fallback' },
        { t: 3_000, mac: 'up', oracle: 'down', app: { primary: { lastFailAt: T0 + 800 }, fallback: { lastFailAt: T0 + 2_900 } }, expect: 'fallback' },
      ],
    ],
    [
      'a monitor falls silent during a disagreement: the live one alone is followed, at once',
      [
        { t: 0, mac: 'up', oracle: 'down', expect: 'primary' },
        { t: 1_000, mac: 'none', oracle: 'down', expect: 'fallback', disagreement: false },
      ],
    ],
    [
      'a stale monitor does not count; none fresh: no choice (the plan uses the configured order)',
      [
        { t: 0, mac: 'stale', oracle: 'down', expect: 'fallback', disagreement: false },
        { t: 1_000, mac: 'stale', oracle: 'none', expect: 'primary' },
      ],
    ],
  ])('%s', (_what, steps) => {
    const got = run(steps);
    steps.forEach((s, i) => {
      const g = got[i];
      expect({ step: i, chosen: g?.chosen }).toEqual({ step: i, chosen: s.expect });
      if (s.disagreement !== undefined) expect({ step: i, disagreement: g?.disagreement }).toEqual({ step: i, disagreement: s.disagreement });
    });
  });

  test.each(Array.from({ length: 20 }, (_, i) => 22 + i))('seed %i: changes at most once per change of a monitor view, over a random schedule of view changes', (first) => {
    let seed = first;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const views: PublishedStatus[] = ['up', 'down', 'degraded'];
    let mac: PublishedStatus = 'up';
    let oracle: PublishedStatus = 'down';
    let memory = emptyConsensus();
    let last: string | undefined;
    let changes = 0;
    let viewChanges = 0;
    for (let i = 0; i < 5_000; i++) {
      if (rnd() < 0.01) {
        const who = rnd() < 0.5 ? 'mac' : 'oracle';
        const v = views[Math.floor(rnd() * 3)] as PublishedStatus;
        if (who === 'mac' && v !== mac) {
          mac = v;
          viewChanges++;
        }
        if (who === 'oracle' && v !== oracle) {
          oracle = v;
          viewChanges++;
        }
      }
      const now = T0 + i * 250;
      const r = settle(
        [
          { label: 'mac', state: doc(mac, now - 500) },
          { label: 'oracle', state: doc(oracle, now - 1_500) },
        ],
        {},
        memory,
        now,
      );
      memory = r.memory;
      const c = r.state?.preferred.name;
      if (last !== undefined && c !== last) changes++;
      last = c;
    }
    expect({ seed: first, enough: viewChanges >= 5 }).toEqual({ seed: first, enough: true });
    expect({ seed: first, ok: changes <= viewChanges, changes, viewChanges }).toEqual({ seed: first, ok: true, changes, viewChanges });
  });
});

describe('settle: bad input', () => {
  test('a document that prefers a node it calls down is read by its node verdicts, and warned about', () => {
    const bad = doc('down', T0 - 1_000, { preferred: 'primary' });
    const r = settle([{ label: 'oracle', state: bad }], {}, emptyConsensus(), T0);
    expect(r.state?.preferred.name).toBe('fallback');
    expect(r.warnings.map((w) => w.message)).toEqual(['monitor oracle: its document prefers primary, which it calls down; read by its node verdicts (fallback)']);
  });

  test('a document that prefers a node not in its nodes[] never yields that endpoint', () => {
    const bad = doc('up', T0 - 1_000);
    bad.preferred = { name: 'ghost', url: 'http://10.66.6.6:11434', model: 'x', api: 'ollama' };
    const good = doc('up', T0 - 2_000);
    const r = settle(
      [
        { label: 'a', state: bad },
        { label: 'b', state: good },
      ],
      {},
      emptyConsensus(),
      T0,
    );
    expect(r.state?.preferred.name).toBe('primary');
    expect(r.state?.nodes.map((n) => n.name)).toContain(r.state?.preferred.name);
    expect(r.warnings[0]?.message).toMatch(/prefers ghost, which is not one of its nodes/);
  });

  test('every node down: the last preferred node stays (no contradiction, no warning)', () => {
    const all = makeState(
      [
        { name: 'primary', url: A, status: 'down' },
        { name: 'fallback', url: B, status: 'down' },
      ],
      { updatedAt: T0 - 1_000, preferred: 'primary' },
    );
    const r = settle([{ label: 'm', state: all }], {}, emptyConsensus(), T0);
    expect(r.state?.preferred.name).toBe('primary');
    expect(r.warnings).toEqual([]);
  });

  test('a clock in the future: counted while its document changes, never preferred for its date, warned about', () => {
    let memory = emptyConsensus();
    const steps: string[] = [];
    for (let i = 0; i < 8; i++) {
      const now = T0 + i * 1_000;
      // oracle's clock is 10 minutes ahead; mac's document is fresh. They agree: no choice problem.
      const r = settle(
        [
          { label: 'mac', state: doc('up', now - 500) },
          { label: 'oracle', state: doc('up', now + 600_000) },
        ],
        {},
        memory,
        now,
      );
      memory = r.memory;
      steps.push(`${r.label}:${r.state?.preferred.name}`);
      expect(r.warnings.map((w) => w.key)).toEqual(['oracle\u0000clock']);
    }
    // The freshest-document rule would follow oracle forever (its date is always the newest).
    expect(new Set(steps)).toEqual(new Set(['mac:primary']));
  });

  test('a clock behind: judged stale at first sight, counted once its document is seen to change', () => {
    const behind = (now: number, beat: number) => doc('down', now - 3_600_000 + beat);
    let memory = emptyConsensus();
    const r1 = settle([{ label: 'oracle', state: behind(T0, 0) }], {}, memory, T0);
    expect(r1.error).toMatch(/no monitor has a fresh state/);
    memory = r1.memory;
    const r2 = settle([{ label: 'oracle', state: behind(T0 + 10_000, 10_000) }], {}, memory, T0 + 10_000);
    expect(r2.error).toBeUndefined();
    expect(r2.state?.preferred.name).toBe('fallback');
    expect(r2.warnings[0]?.message).toMatch(/monitor oracle: its clock looks off/);
    // The monitor then hangs: its document stops changing and stops counting after staleAfterMs.
    const r3 = settle([{ label: 'oracle', state: behind(T0 + 10_000, 10_000) }], {}, r2.memory, T0 + 45_000);
    expect(r3.error).toMatch(/no monitor has a fresh state/);
  });

  test('garbage-ish documents never throw: no nodes, NaN dates', () => {
    const empty = { ...doc('up', T0), nodes: [] };
    const nan = { ...doc('up', T0), updatedAt: 'not a date' };
    expect(() => settle([{ label: 'a', state: empty }, { label: 'b', state: nan }, { label: 'c' }], {}, emptyConsensus(), T0)).not.toThrow();
  });
});
