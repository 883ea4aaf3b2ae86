import { canaryModel, claimLoad, emptyMemory, loadCause, observe, planKeepWarm, saneBytes, touchOwn, type Memory, type MemoryEvent, type PsModel } from '../../src/core/residency';
import { rollupProbes } from '../../src/history/rollup';
import { isColdStart, type Policy } from '../../src/core/decide';
import type { ProbeResult } from '../../src/probes/types';

// The do-no-harm rule (docs/keep-warm.md) as step tables on a fake clock: each step is what /api/ps said, or
// a load the monitor sent; after it, what the canary would run on and what keep-warm would load.
const T0 = Date.UTC(2026, 0, 5, 9, 0);
const MIN = 60_000;
const GB = 1e9;
const KEEP = 30 * MIN;
const MARGIN = 30_000;

type Step =
  | { at: number; ps: PsModel[] }
  | { at: number; monitorLoads: string };

interface Expect {
  canary?: string;
  plan?: string[];
  held?: string[];
  conflict?: string | null;
  events?: string[];
}

/** Runs steps, returning the memory and the events of the last step. */
function run(steps: Array<[Step, Expect]>, opts: { configured: string; wanted: string[]; installed?: Map<string, number | undefined> }): void {
  let m: Memory = emptyMemory();
  steps.forEach(([step, want], i) => {
    let events: MemoryEvent[] = [];
    if ('ps' in step) ({ memory: m, events } = observe(m, step.ps, step.at));
    else m = claimLoad(m, step.monitorLoads, step.at, step.at + KEEP);
    const where = `step ${i}`;
    if (want.events) expect([where, events.map(describeEvent)]).toEqual([where, want.events]);
    if (want.canary) expect([where, canaryModel(m, opts.configured).model]).toEqual([where, want.canary]);
    const plan = planKeepWarm({ m, wanted: opts.wanted, installed: opts.installed, now: step.at, marginMs: MARGIN });
    if (want.plan) expect([where, plan.steps.map((s) => `${s.model} ${s.why}`)]).toEqual([where, want.plan]);
    if (want.held) expect([where, plan.held.map((h) => `${h.model} ${h.why}`)]).toEqual([where, want.held]);
    if (want.conflict !== undefined) expect([where, plan.conflict ? `${plan.conflict.models.join('+')} keep ${plan.conflict.keeping}` : null]).toEqual([where, want.conflict]);
  });
}

function describeEvent(e: MemoryEvent): string {
  return e.type === 'eviction' ? `${e.by} ${e.loaded} evicted ${e.evicted.join(',')}${e.appModels.length ? ` (apps': ${e.appModels.join(',')})` : ''}` : `room grew ${e.models.join('+')}`;
}

const ps = (name: string, at: number, bytes?: number): PsModel => ({ name, expiresAt: at + KEEP, ...(bytes !== undefined ? { bytes } : {}) });

describe('do no harm: one-model node, the canary configured on qwen3:8b, an app on llama3.2', () => {
  test('the app started first: the canary runs on the app model and keep-warm never loads beside it', () => {
    run(
      [
        [{ at: T0, ps: [ps('llama3.2:latest', T0, 4 * GB)] }, { canary: 'llama3.2:latest', plan: [], held: ['qwen3:8b no_room'] }],
        [{ at: T0 + 15_000, ps: [ps('llama3.2:latest', T0 + 15_000, 4 * GB)] }, { canary: 'llama3.2:latest', plan: [], events: [] }],
      ],
      { configured: 'qwen3:8b', wanted: ['qwen3:8b'] },
    );
  });

  test('the monitor started first: its model goes when the app switches; the monitor never takes the memory back', () => {
    run(
      [
        [{ at: T0, ps: [] }, { canary: 'qwen3:8b', plan: ['qwen3:8b first_load'] }],
        [{ at: T0, monitorLoads: 'qwen3:8b' }, {}],
        [{ at: T0 + 4000, ps: [ps('qwen3:8b', T0 + 4000, 5 * GB)] }, { canary: 'qwen3:8b', plan: [], events: [] }],
        // The app's first request evicts the monitor's model: an app switch, no cold start of anything.
        [{ at: T0 + 15_000, ps: [ps('llama3.2:latest', T0 + 15_000, 4 * GB)] }, { events: ['app llama3.2:latest evicted qwen3:8b'], canary: 'llama3.2:latest', plan: [], held: ['qwen3:8b no_room'] }],
        [{ at: T0 + 25_000, ps: [ps('llama3.2:latest', T0 + 25_000, 4 * GB)] }, { canary: 'llama3.2:latest', plan: [], held: ['qwen3:8b no_room'] }],
        // The app idled out (keep_alive ran out): memory is free, loading evicts nothing; no cold start either.
        [{ at: T0 + 40 * MIN, ps: [] }, { events: [], canary: 'qwen3:8b', plan: ['qwen3:8b app_switch'] }],
      ],
      { configured: 'qwen3:8b', wanted: ['qwen3:8b'] },
    );
  });

  test('a model the monitor loaded becomes an app model once its expiry moves past what the monitor explains', () => {
    let m = claimLoad(emptyMemory(), 'qwen3:8b', T0, T0 + KEEP);
    m = observe(m, [ps('qwen3:8b', T0)], T0).memory;
    expect(m.ours['qwen3:8b']).toBeDefined();
    m = touchOwn(m, 'qwen3:8b', T0 + 60_000 + KEEP);
    m = observe(m, [ps('qwen3:8b', T0 + 60_000)], T0 + 60_000).memory;
    expect(m.ours['qwen3:8b']).toBeDefined();
    // An app's request 2 minutes later pushed expires_at on: it is the apps' model now, guarded.
    m = observe(m, [ps('qwen3:8b', T0 + 3 * MIN)], T0 + 3 * MIN).memory;
    expect(m.ours['qwen3:8b']).toBeUndefined();
    expect(canaryModel(m, 'llama3.2').model).toBe('qwen3:8b');
  });
});

describe('say it once: two listed models that do not fit together', () => {
  test('found after one eviction; keep-warm then keeps the first listed only (one more eviction, of its own)', () => {
    run(
      [
        [{ at: T0, ps: [] }, { plan: ['llama3.2 first_load', 'qwen3:8b first_load'], conflict: null }],
        [{ at: T0, monitorLoads: 'llama3.2' }, {}],
        [{ at: T0 + 4000, ps: [ps('llama3.2', T0 + 4000)] }, { plan: ['qwen3:8b first_load'] }], // the one try: only its own model is in memory
        [{ at: T0 + 4000, monitorLoads: 'qwen3:8b' }, {}],
        [{ at: T0 + 8000, ps: [ps('qwen3:8b', T0 + 8000)] }, { events: ['monitor qwen3:8b evicted llama3.2:latest'], conflict: 'llama3.2+qwen3:8b keep llama3.2', plan: ['llama3.2 own_eviction'], held: ['qwen3:8b conflict'] }],
        [{ at: T0 + 8000, monitorLoads: 'llama3.2' }, {}],
        [{ at: T0 + 12_000, ps: [ps('llama3.2', T0 + 12_000)] }, { events: ['monitor llama3.2:latest evicted qwen3:8b'], plan: [], held: ['qwen3:8b conflict'], conflict: 'llama3.2+qwen3:8b keep llama3.2' }],
        [{ at: T0 + 10 * MIN, ps: [ps('llama3.2', T0 + 10 * MIN)] }, { plan: [], held: ['qwen3:8b conflict'] }],
        // Memory changed: both resident at once (an app loaded them): the conflict is gone.
        [{ at: T0 + 20 * MIN, ps: [ps('llama3.2', T0 + 20 * MIN), ps('qwen3:8b', T0 + 20 * MIN)] }, { events: ['room grew qwen3:8b+llama3.2:latest'], conflict: null, plan: [] }],
      ],
      { configured: 'llama3.2', wanted: ['llama3.2', 'qwen3:8b'] },
    );
  });

  test('an app model resident and the fit unknown: no try at all', () => {
    run([[{ at: T0, ps: [ps('mistral:7b', T0)] }, { canary: 'mistral:7b', plan: [], held: ['llama3.2 no_room'] }]], { configured: 'llama3.2', wanted: ['llama3.2'] });
  });

  test('room known from sizes seen: a model that fits beside the apps is loaded', () => {
    run(
      [
        [{ at: T0, ps: [ps('mistral:7b', T0, 5 * GB), ps('gemma3:1b', T0, 1 * GB)] }, {}],
        [{ at: T0 + 5000, ps: [ps('mistral:7b', T0 + 5000, 5 * GB)] }, { plan: [], held: ['llama3.2 no_room'] }], // 5 + 4×1.25 > 6
        [{ at: T0 + 6000, ps: [ps('mistral:7b', T0 + 6000, 5 * GB)] }, {}],
      ],
      { configured: 'llama3.2', wanted: ['llama3.2'], installed: new Map([['llama3.2:latest', 4 * GB]]) },
    );
    run(
      [
        [{ at: T0, ps: [ps('mistral:7b', T0, 5 * GB), ps('gemma3:1b', T0, 1 * GB)] }, {}],
        [{ at: T0 + 5000, ps: [ps('mistral:7b', T0 + 5000, 5 * GB)] }, { plan: ['gemma3:1b cold'] }], // seen beside it before: fits
      ],
      { configured: 'mistral:7b', wanted: ['gemma3:1b'], installed: new Map([['gemma3:1b', 0.8 * GB], ['mistral:7b', 4 * GB]]) },
    );
  });
});

describe('bad input', () => {
  test('absurd or missing sizes say nothing: no fit inferred, no eviction inferred; observed evictions still count', () => {
    expect([saneBytes(-1), saneBytes(0), saneBytes(Number.NaN), saneBytes(1e18), saneBytes('4000'), saneBytes(4 * GB)]).toEqual([undefined, undefined, undefined, undefined, undefined, 4 * GB]);
    run(
      [
        // Sizes absent: the room seen stays unknown, so nothing is loaded beside the app's model.
        [{ at: T0, ps: [ps('mistral:7b', T0), ps('gemma3:1b', T0)] }, {}],
        [{ at: T0 + 1000, ps: [ps('mistral:7b', T0 + 1000)] }, { events: [], plan: [], held: ['gemma3:1b no_room'] }], // gone with no newcomer: unloaded, no eviction blamed
        // An unknown model appears and mistral is gone: an observed eviction (by an app), whatever the numbers.
        [{ at: T0 + 2000, ps: [{ name: '???', bytes: undefined }] }, { events: ["app ???:latest evicted mistral:7b (apps': mistral:7b)"] }],
      ],
      { configured: 'mistral:7b', wanted: ['gemma3:1b'] },
    );
  });

  test('a listed model not installed is held, never loaded', () => {
    run([[{ at: T0, ps: [] }, { plan: ['llama3.2 first_load'], held: ['qwen3:80b not_installed'] }]], { configured: 'llama3.2', wanted: ['llama3.2', 'qwen3:80b'], installed: new Map([['llama3.2:latest', 2 * GB]]) });
  });

  test('an expired model left memory on its own: not an eviction, and its reload is a cold start', () => {
    let m = observe(emptyMemory(), [{ name: 'llama3.2', expiresAt: T0 + 1000 }], T0).memory;
    const r = observe(m, [], T0 + 2000);
    m = r.memory;
    expect(r.events).toEqual([]);
    expect(loadCause(m, 'llama3.2')).toBe('cold');
    expect(loadCause(m, 'qwen3:8b')).toBe('first_load');
  });

  test('a load the monitor sent that never showed up: after a grace time the model, when an app loads it, is the apps\'', () => {
    let m = claimLoad(emptyMemory(), 'qwen3:8b', T0, T0 + KEEP); // the load request failed (node down)
    m = observe(m, [], T0 + 10_000).memory;
    expect(m.ours['qwen3:8b']).toBeDefined(); // a load may still be queued
    m = observe(m, [], T0 + 3 * MIN).memory;
    m = observe(m, [ps('qwen3:8b', T0 + 4 * MIN)], T0 + 4 * MIN).memory;
    expect(m.ours['qwen3:8b']).toBeUndefined();
    expect(planKeepWarm({ m, wanted: ['llama3.2'], now: T0 + 4 * MIN, marginMs: MARGIN }).held).toEqual([{ model: 'llama3.2', why: 'no_room' }]);
  });

  test('a load the monitor has under way (a canary\'s) is never sent twice', () => {
    const m = claimLoad(observe(emptyMemory(), [], T0).memory, 'llama3.2', T0, T0 + KEEP);
    expect(planKeepWarm({ m, wanted: ['llama3.2'], now: T0 + 100, marginMs: MARGIN })).toEqual({ steps: [], held: [] });
  });

  test('embedding models are never the canary', () => {
    const m = observe(emptyMemory(), [ps('nomic-embed-text', T0)], T0).memory;
    expect(canaryModel(m, 'llama3.2').model).toBe('llama3.2');
  });
});

describe('cold starts that are true: the load cause reaches the counters', () => {
  const probe = (loadCause: string | null) => ({ node: 'primary', kind: 'canary', startedAt: T0, ok: true, reason: 'ok', durationMs: 3100, ttftMs: 3050, totalMs: 3100, tokensPerSec: 50, loadMs: 3000, evalCount: 2, loadCause });
  test.each([
    [null, 1], // before migration 0007, or a node whose memory is unknown: load time alone, as before
    ['cold', 1],
    ['first_load', 0],
    ['own_eviction', 0],
    ['app_switch', 0],
  ])('rollups: a 3 s canary load with cause %s counts %i cold start', (cause, want) => {
    expect(rollupProbes([probe(cause)], T0, 2000)[0]?.coldStarts).toBe(want);
  });
  test('the decision core counts only true cold starts', () => {
    const policy = { coldStartMs: 2000 } as Policy;
    const r: ProbeResult = { node: 'primary', kind: 'canary', startedAt: T0, ok: true, reason: 'ok', durationMs: 3100, loadMs: 3000 };
    expect(isColdStart(r, policy)).toBe(true);
    expect(isColdStart({ ...r, loadCause: 'first_load' }, policy)).toBe(false);
    expect(isColdStart({ ...r, loadCause: 'cold' }, policy)).toBe(true);
  });
});
