import { ConfigError, keepAliveMs, parseConfig } from '../../src/config';
import { sameModel } from '../../src/core/keep-warm';
import { setupWarnings } from '../../src/cli/warnings';

describe('sameModel (keep-warm plans: test/unit/residency.test.ts)', () => {
  test('sameModel: implicit :latest, case, registry ports', () => {
    expect(sameModel('llama3.2', 'llama3.2:latest')).toBe(true);
    expect(sameModel('host:5000/m', 'host:5000/m:latest')).toBe(true);
    expect(sameModel('qwen3:8b', 'qwen3:4b')).toBe(false);
  });
});

describe('config: nodes[].models, keepAlive and the canary interval', () => {
  const nodes = (extra: Record<string, unknown> = {}) => [{ name: 'primary', url: 'http://127.0.0.1:1', model: 'qwen3:8b', ...extra }, { name: 'fallback', url: 'http://127.0.0.1:2' }];
  test('models default to the canary model; no model and no OLLAMA_MODEL → discovered (no built-in name)', () => {
    const c = parseConfig({ nodes: nodes() }, {});
    expect(c.nodes[0]).toMatchObject({ model: 'qwen3:8b', models: ['qwen3:8b'] });
    expect(c.nodes[1]).toMatchObject({ models: [] });
    expect(c.nodes[1]?.model).toBeUndefined();
    expect(parseConfig({ nodes: nodes() }, { OLLAMA_MODEL: 'llama3.2' }).nodes[1]).toMatchObject({ model: 'llama3.2', models: ['llama3.2'] });
  });
  test('a canary interval longer than keepAlive is refused (the model would unload between canaries)', () => {
    expect(() => parseConfig({ nodes: nodes(), probes: { canary: { interval: '10m', keepAlive: '5m' } } }, {})).toThrow(ConfigError);
    try {
      parseConfig({ nodes: nodes(), probes: { canary: { interval: '10m', keepAlive: '5m' } } }, {});
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([expect.stringMatching(/^probes\.canary\.interval: .*longer than probes\.canary\.keepAlive \(5m\)/)]);
    }
    expect(() => parseConfig({ nodes: nodes(), probes: { canary: { interval: '10m', keepAlive: '-1m' } } }, {})).not.toThrow();
    expect([keepAliveMs('30m'), keepAliveMs('1h'), keepAliveMs('90s'), keepAliveMs('-1m')]).toEqual([1_800_000, 3_600_000, 90_000, Infinity]);
  });
  test('warnings: the canary model not among the app models; no witnesses', () => {
    const c = parseConfig({ nodes: nodes({ models: ['llama3.2'] }) }, {});
    const w = setupWarnings(c, c.nodes.map((node) => ({ node })));
    expect(w).toEqual([expect.stringMatching(/no selfCheck\.witnesses/), expect.stringMatching(/canary's model qwen3:8b is not among the app models \(llama3\.2\)/)]);
    const quiet = parseConfig({ nodes: nodes(), selfCheck: { witnesses: ['tcp://127.0.0.1:1'] } }, {});
    expect(setupWarnings(quiet, quiet.nodes.map((node) => ({ node })))).toEqual([]);
  });
});
