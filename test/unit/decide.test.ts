import { decide, evaluatePreferred, initialState, needsFastRecheck, type MonitorState, type Policy } from '../../src/core/decide';
import { restoreState } from '../../src/core/restore';
import type { ProbeKind, ProbeResult, Reason } from '../../src/probes/types';
import { FakeClock } from '../../src/util/clock';

const policy: Policy = { fall: 3, softFall: 4, rise: 2, failbackHold: 60_000, slowTtft: 5_000, slowTotal: 20_000, canaryEnabled: true, coldStartMs: 2_000, queueAllowance: 45_000 };
const NODES = [
  { name: 'primary', priority: 0, url: 'http://p' },
  { name: 'fallback', priority: 1, url: 'http://f' },
];

/** One row of a step table: a probe result arrives (after `after` ms), then the expected view. */
interface Step {
  after?: number;
  node: string;
  kind?: ProbeKind;
  reason?: Reason;
  ttftMs?: number;
  expect: { primary?: string; fallback?: string; preferred?: string; allDown?: boolean };
}

function result(clock: FakeClock, s: Step): ProbeResult {
  const reason = s.reason ?? 'ok';
  return {
    node: s.node,
    kind: s.kind ?? 'liveness',
    ok: reason === 'ok',
    reason,
    startedAt: clock.now(),
    durationMs: 10,
    ttftMs: s.ttftMs,
    totalMs: s.ttftMs,
  };
}

function runSteps(steps: Step[], start?: MonitorState, p: Policy = policy) {
  const clock = new FakeClock();
  let state = start ?? initialState(NODES, { wall: clock.now(), mono: clock.mono() });
  const events: string[] = [];
  steps.forEach((s, i) => {
    clock.advance(s.after ?? 2_000);
    const d = decide(state, result(clock, s), p, { wall: clock.now(), mono: clock.mono() });
    state = d.next;
    for (const e of d.events) events.push(e.type === 'node:transition' ? `${e.node}:${e.from}->${e.to}` : `preferred:${e.to}${e.allDown ? '(allDown)' : ''}`);
    const view = {
      primary: state.nodes[0]?.status,
      fallback: state.nodes[1]?.status,
      preferred: state.preferred,
      allDown: state.allDown,
    };
    for (const [k, v] of Object.entries(s.expect)) {
      if ((view as Record<string, unknown>)[k] !== v) {
        throw new Error(`step ${i} (${s.node} ${s.kind ?? 'liveness'} ${s.reason ?? 'ok'}): ${k} is ${String((view as Record<string, unknown>)[k])}, expected ${String(v)}`);
      }
    }
  });
  return { state, events, clock };
}

/** Both nodes up, primary preferred. */
const bothUp: Step[] = [
  { node: 'primary', expect: { primary: 'unknown' } },
  { node: 'fallback', expect: {} },
  { node: 'primary', expect: { primary: 'up', preferred: 'primary' } },
  { node: 'fallback', expect: { fallback: 'up', preferred: 'primary' } },
];

describe('decision core', () => {
  test('start-up resolves unknown nodes after rise successes, primary preferred', () => {
    const { events } = runSteps(bothUp);
    expect(events).toEqual(['primary:unknown->up', 'fallback:unknown->up']);
  });

  test('a single blip (and fall-1 failures) never flips', () => {
    const { events } = runSteps([
      ...bothUp,
      { node: 'primary', reason: 'timeout', expect: { primary: 'up', preferred: 'primary' } },
      { node: 'primary', expect: { primary: 'up' } },
      { node: 'primary', reason: 'refused', expect: { primary: 'up' } },
      { node: 'primary', reason: 'refused', expect: { primary: 'up', preferred: 'primary' } },
      { node: 'primary', expect: { primary: 'up', preferred: 'primary' } },
    ]);
    expect(events.filter((e) => e.startsWith('preferred'))).toEqual([]);
  });

  test('ambiguous failures (timeouts) need softFall; one hard failure in the streak brings it back to fall', () => {
    runSteps([
      ...bothUp,
      { node: 'primary', reason: 'timeout', expect: {} },
      { node: 'primary', reason: 'timeout', expect: {} },
      { node: 'primary', reason: 'timeout', expect: { primary: 'up' } },
      { node: 'primary', reason: 'timeout', expect: { primary: 'down', preferred: 'fallback' } },
    ]);
    runSteps([
      ...bothUp,
      { node: 'primary', reason: 'timeout', expect: {} },
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'timeout', expect: { primary: 'down' } },
    ]);
  });

  test('fall consecutive failures flip the node down and traffic to the fallback', () => {
    const { events } = runSteps([
      ...bothUp,
      { node: 'primary', reason: 'cloudflare_tunnel_down', expect: { primary: 'up' } },
      { node: 'primary', reason: 'cloudflare_tunnel_down', expect: { primary: 'up' } },
      { node: 'primary', reason: 'cloudflare_tunnel_down', expect: { primary: 'down', preferred: 'fallback', allDown: false } },
    ]);
    expect(events.slice(-2)).toEqual(['primary:up->down', 'preferred:fallback']);
  });

  test('failback waits for rise successes AND the hold', () => {
    const down: Step[] = [
      ...bothUp,
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: { primary: 'down', preferred: 'fallback' } },
    ];
    const { state, clock } = runSteps([
      ...down,
      { node: 'primary', expect: { primary: 'down', preferred: 'fallback' } },
      { node: 'primary', expect: { primary: 'up', preferred: 'fallback' } },
      { node: 'primary', after: 30_000, expect: { primary: 'up', preferred: 'fallback' } },
      { node: 'primary', after: 29_000, expect: { preferred: 'fallback' } },
      { node: 'primary', after: 2_000, expect: { preferred: 'primary' } },
    ]);
    expect(state.preferred).toBe('primary');
    expect(clock.now()).toBeGreaterThan(0);
  });

  test('the hold expiring is acted on by a heartbeat evaluation, without a new result', () => {
    const { state, clock } = runSteps([
      ...bothUp,
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: { preferred: 'fallback' } },
      { node: 'primary', expect: {} },
      { node: 'primary', expect: { primary: 'up', preferred: 'fallback' } },
    ]);
    clock.advance(59_000);
    expect(evaluatePreferred(state, policy, { wall: clock.now(), mono: clock.mono() }).next.preferred).toBe('fallback');
    clock.advance(1_000);
    const d = evaluatePreferred(state, policy, { wall: clock.now(), mono: clock.mono() });
    expect(d.next.preferred).toBe('primary');
    expect(d.events).toEqual([expect.objectContaining({ type: 'preferred:changed', from: 'fallback', to: 'primary' })]);
  });

  test('all down keeps the last preferred and says so; first recovery takes traffic at once', () => {
    const { events } = runSteps([
      ...bothUp,
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: { preferred: 'fallback' } },
      { node: 'fallback', reason: 'timeout', expect: {} },
      { node: 'fallback', reason: 'timeout', expect: {} },
      { node: 'fallback', reason: 'refused', expect: { fallback: 'down', preferred: 'fallback', allDown: true } },
      { node: 'primary', expect: { allDown: true } },
      // The current preferred is down, so no failback hold applies: the first node up takes traffic.
      { node: 'primary', expect: { primary: 'up', preferred: 'primary', allDown: false } },
    ]);
    expect(events).toContain('preferred:fallback(allDown)');
  });

  test('canary failing while liveness answers → degraded; traffic goes to an up fallback', () => {
    runSteps([
      ...bothUp,
      { node: 'primary', kind: 'canary', reason: 'timeout', expect: { primary: 'up' } },
      { node: 'primary', kind: 'canary', reason: 'timeout', expect: { primary: 'up' } },
      { node: 'primary', kind: 'canary', reason: 'timeout', expect: { primary: 'up' } },
      // Timeouts are ambiguous: softFall (4) of them, not fall (3).
      { node: 'primary', kind: 'canary', reason: 'timeout', expect: { primary: 'degraded', preferred: 'fallback' } },
      { node: 'primary', kind: 'liveness', expect: { primary: 'degraded' } },
    ]);
  });

  test('canary failing at the network level counts as reachability: down', () => {
    runSteps([
      ...bothUp,
      { node: 'primary', kind: 'canary', reason: 'cloudflare_tunnel_down', expect: {} },
      { node: 'primary', kind: 'canary', reason: 'cloudflare_tunnel_down', expect: {} },
      { node: 'primary', kind: 'canary', reason: 'cloudflare_tunnel_down', expect: { primary: 'down', preferred: 'fallback' } },
    ]);
  });

  test('after an outage seen by both probes, liveness recovery alone brings the node back up (not degraded)', () => {
    runSteps([
      ...bothUp,
      { node: 'primary', reason: 'cloudflare_tunnel_down', expect: {} },
      { node: 'primary', kind: 'canary', reason: 'cloudflare_tunnel_down', expect: {} },
      { node: 'primary', reason: 'cloudflare_tunnel_down', expect: { primary: 'down' } },
      { node: 'primary', kind: 'canary', reason: 'cloudflare_tunnel_down', expect: { primary: 'down' } },
      { node: 'primary', expect: { primary: 'down' } },
      { node: 'primary', expect: { primary: 'up' } },
    ]);
  });

  test('slow canaries degrade only after softFall of them; a cold start (load time) is not slowness', () => {
    const { state } = runSteps([
      ...bothUp,
      { node: 'primary', kind: 'canary', ttftMs: 9_000, expect: { primary: 'up' } },
      { node: 'primary', kind: 'canary', ttftMs: 9_000, expect: { primary: 'up' } },
      { node: 'primary', kind: 'canary', ttftMs: 9_000, expect: { primary: 'up' } },
      { node: 'primary', kind: 'canary', ttftMs: 9_000, expect: { primary: 'degraded', preferred: 'fallback' } },
    ]);
    expect(state.nodes[0]?.statusReason).toBe('slow');
    const clock = new FakeClock();
    let s = runSteps(bothUp).state;
    for (let i = 0; i < 5; i++) {
      clock.advance(2000);
      s = decide(s, { node: 'primary', kind: 'canary', ok: true, reason: 'ok', startedAt: clock.now(), durationMs: 9000, ttftMs: 9000, totalMs: 9500, loadMs: 8000 }, policy, { wall: clock.now(), mono: clock.mono() }).next;
    }
    expect(s.nodes[0]?.status).toBe('up');
  });

  test('aborted probes (shutdown) are never judged', () => {
    const { state } = runSteps(bothUp);
    const clock = new FakeClock();
    let s = state;
    for (let i = 0; i < 5; i++) {
      s = decide(s, { node: 'primary', kind: 'liveness', ok: false, reason: 'aborted', startedAt: clock.now(), durationMs: 1 }, policy, { wall: clock.now(), mono: clock.mono() }).next;
    }
    expect(s).toBe(state);
  });

  test('wall clock jumping forward (sleep) or backwards does not produce transitions or shorten the hold', () => {
    const { state, clock } = runSteps([
      ...bothUp,
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: {} },
      { node: 'primary', reason: 'refused', expect: { preferred: 'fallback' } },
      { node: 'primary', expect: {} },
      { node: 'primary', expect: { primary: 'up' } },
    ]);
    // A Mac sleeps for 2 hours: wall clock jumps, monotonic does not move. The hold is not served by sleeping.
    clock.jump(2 * 3600_000);
    let d = evaluatePreferred(state, policy, { wall: clock.now(), mono: clock.mono() });
    expect(d.events).toEqual([]);
    // NTP steps the clock back an hour: nothing flips either.
    clock.jump(-3 * 3600_000);
    d = evaluatePreferred(d.next, policy, { wall: clock.now(), mono: clock.mono() });
    expect(d.events).toEqual([]);
    expect(d.next.nodes.map((n) => n.status)).toEqual(['up', 'up']);
  });

  test('fast re-check is wanted exactly while a node is transitional', () => {
    const { state } = runSteps(bothUp);
    expect(needsFastRecheck(state.nodes[0]!, false)).toBe(false);
    const clock = new FakeClock();
    const d = decide(state, { node: 'primary', kind: 'liveness', ok: false, reason: 'timeout', startedAt: clock.now(), durationMs: 1 }, policy, { wall: clock.now(), mono: clock.mono() });
    expect(needsFastRecheck(d.next.nodes[0]!, false)).toBe(true);
    expect(initialState(NODES, { wall: 0, mono: 0 }).nodes.every((n) => needsFastRecheck(n, true))).toBe(true);
  });

  test('restore from a previous state keeps a down node down and the preferred node', () => {
    const prev = {
      schemaVersion: 1 as const,
      updatedAt: new Date(0).toISOString(),
      staleAfterMs: 30000,
      monitor: { instance: 'x', version: '0', pid: 1, startedAt: new Date(0).toISOString() },
      preferred: { name: 'fallback', url: 'http://f', model: 'm', api: 'ollama' as const },
      allDown: false,
      nodes: NODES.map((n) => ({
        ...n,
        model: 'm',
        api: 'ollama' as const,
        status: n.name === 'primary' ? ('down' as const) : ('up' as const),
        since: new Date(1000).toISOString(),
        statusReason: n.name === 'primary' ? 'refused' : 'ok',
        lastCheckAt: null,
        lastOkAt: null,
        consecutiveFailures: 0,
        consecutiveSuccesses: 0,
        lastError: null,
        latency: null,
      })),
    };
    const s = restoreState(NODES, prev, { wall: 10_000, mono: 5 });
    expect(s.nodes.map((n) => n.status)).toEqual(['down', 'up']);
    expect(s.preferred).toBe('fallback');
    // A single success does not bring it back: rise still applies after a restart.
    const d = decide(s, { node: 'primary', kind: 'liveness', ok: true, reason: 'ok', startedAt: 11_000, durationMs: 1 }, policy, { wall: 11_000, mono: 1005 });
    expect(d.next.nodes[0]?.status).toBe('down');
    // A node whose URL changed in the config starts unknown.
    const moved = restoreState([{ ...NODES[0]!, url: 'http://elsewhere' }, NODES[1]!], prev, { wall: 10_000, mono: 5 });
    expect(moved.nodes[0]?.status).toBe('unknown');
  });

  test('restore matches URLs in their published form and keeps a recovering node\'s failback hold', () => {
    const at = { wall: 100_000, mono: 50_000 };
    const doc = (primarySince: number) => ({
      schemaVersion: 1 as const,
      updatedAt: new Date(at.wall).toISOString(),
      staleAfterMs: 30000,
      monitor: { instance: 'x', version: '0', pid: 1, startedAt: new Date(0).toISOString() },
      preferred: { name: 'fallback', url: 'http://f', model: 'm', api: 'ollama' as const },
      allDown: false,
      nodes: [
        { name: 'primary', url: 'https://llm.example.com', priority: 0, status: 'up' as const, since: new Date(primarySince).toISOString() },
        { name: 'fallback', url: 'http://f', priority: 1, status: 'up' as const, since: new Date(0).toISOString() },
      ].map((n) => ({ ...n, model: 'm', api: 'ollama' as const, statusReason: 'ok', lastCheckAt: null, lastOkAt: null, consecutiveFailures: 0, consecutiveSuccesses: 2, lastError: null, latency: null })),
    });
    // Configured with userinfo and an explicit default port; published without them.
    const cfg = [
      { name: 'primary', priority: 0, url: 'https://user:pw@LLM.example.com:443/' },
      { name: 'fallback', priority: 1, url: 'http://f' },
    ];
    const s = restoreState(cfg, doc(at.wall - 10_000), at);
    expect(s.nodes[0]?.status).toBe('up');
    // The primary came back 10 s before the restart: traffic stays on the fallback until the 60 s hold ends.
    expect(evaluatePreferred(s, policy, at).next.preferred).toBe('fallback');
    expect(evaluatePreferred(s, policy, { wall: at.wall + 50_000, mono: at.mono + 50_000 }).next.preferred).toBe('primary');
  });

  test('0 false failovers when 5 % of probes fail at random over 10,000 probes', () => {
    // Deterministic pseudo-random sequence (LCG) so the test is repeatable.
    let seed = 42;
    const rand = () => ((seed = (seed * 1664525 + 1013904223) % 2 ** 32) / 2 ** 32);
    const start = runSteps(bothUp);
    const clock = start.clock;
    let state = start.state;
    let flips = 0;
    for (let i = 0; i < 10_000; i++) {
      clock.advance(1000);
      const node = i % 2 === 0 ? 'primary' : 'fallback';
      const ok = rand() >= 0.05;
      const d = decide(state, { node, kind: i % 7 === 0 ? 'canary' : 'liveness', ok, reason: ok ? 'ok' : 'timeout', startedAt: clock.now(), durationMs: 5, ttftMs: 100, totalMs: 200 }, policy, { wall: clock.now(), mono: clock.mono() });
      flips += d.events.filter((e) => e.type === 'preferred:changed').length;
      state = d.next;
    }
    expect(flips).toBe(0);
  });
});
