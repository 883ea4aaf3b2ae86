import { initialState } from '../../src/core/decide';
import { buildPublishedState } from '../../src/state/build';
import { parseState } from '../../src/state/validate';
import type { NodeMemoryState } from '../../src/state/types';

// nodes[].memory (docs/state-file.md, docs/keep-warm.md): published by the daemon, read back by the reader.
const monitor = { instance: 'mac', version: '0.1.0', pid: 42, startedAt: Date.UTC(2026, 11, 7) };
const memory: NodeMemoryState = {
  canaryModel: 'llama3.2:latest',
  firstLoads: 1,
  conflict: { models: ['llama3.2', 'qwen3:14b'], keeping: 'llama3.2' },
  notInstalled: ['qwen3:80b'],
  monitorEvictions: 1,
  appModelsEvicted: 0,
  appSwitches: 2,
};
const nodes = [
  { name: 'primary', url: 'http://127.0.0.1:11434', model: 'qwen3:8b', api: 'ollama' as const, priority: 0, warmth: { coldEvents: 0, lastColdEvent: null, memory } },
  { name: 'fallback', url: 'http://127.0.0.1:11435', model: 'qwen3:1.7b', api: 'ollama' as const, priority: 1 },
];

test('memory round-trips; absent for a node without it; a bad one is refused naming the field', () => {
  const doc = buildPublishedState(initialState(nodes, { wall: monitor.startedAt, mono: 0 }), nodes, monitor, monitor.startedAt + 1000, 30_000);
  const text = JSON.stringify(doc);
  const r = parseState(text);
  if (!r.ok) throw new Error(r.error);
  expect(r.state.nodes[0]).toMatchObject({ coldEvents: 0, memory });
  expect(r.state.nodes[1]?.memory).toBeUndefined();
  const bad = JSON.parse(text) as { nodes: Array<{ memory?: Record<string, unknown> }> };
  (bad.nodes[0]?.memory as Record<string, unknown>).conflict = { models: ['only-one'], keeping: 'x' };
  expect(parseState(JSON.stringify(bad))).toMatchObject({ ok: false, error: expect.stringContaining('nodes[0].memory.conflict.models') });
});
