import { register as globalRegistry } from 'prom-client';
import { createMetrics } from '../../src/http/metrics';
import type { ProbeResult } from '../../src/probes/types';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)/y;

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a sample; every
 * sample belongs to a family declared before it; label syntax and values are exact. Throws on anything else.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const familyOf = (sample: string): Family | undefined => {
    const f = families.get(sample);
    if (f) return f;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix)) {
        const base = families.get(sample.slice(0, -suffix.length));
        if (base && (base.type === 'histogram' || base.type === 'summary')) return base;
      }
    }
    return undefined;
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1}: ${line}`;
      if (line === '') return;
      let m = /^# HELP (\S+) (.*)$/.exec(line);
      if (m) {
        const [, name, help] = m as unknown as [string, string, string];
        if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
        if (families.has(name)) throw new Error(`HELP twice, ${where}`);
        families.set(name, { type: '', help, samples: [] });
        return;
      }
      m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m) {
        const f = families.get(m[1] as string);
        if (!f || f.type !== '' || f.samples.length > 0) throw new Error(`TYPE without HELP, twice, or after samples, ${where}`);
        f.type = m[2] as string;
        return;
      }
      if (line.startsWith('#')) throw new Error(`unknown comment, ${where}`);
      m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample line, ${where}`);
      const [, name, rawLabels, rawValue] = m as unknown as [string, string, string | undefined, string];
      const labels: Record<string, string> = {};
      if (rawLabels) {
        const inner = rawLabels.slice(1, -1);
        LABEL.lastIndex = 0;
        while (LABEL.lastIndex < inner.length) {
          const lm = LABEL.exec(inner);
          if (!lm) throw new Error(`bad labels, ${where}`);
          if ((lm[1] as string) in labels) throw new Error(`label twice, ${where}`);
          labels[lm[1] as string] = lm[2] as string;
        }
      }
      const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
      if (rawValue !== 'NaN' && Number.isNaN(value)) throw new Error(`bad value, ${where}`);
      const f = familyOf(name);
      if (!f || f.type === '') throw new Error(`sample of an undeclared family, ${where}`);
      if (f.type === 'counter' && !(value >= 0)) throw new Error(`negative counter, ${where}`);
      f.samples.push({ name, labels, value });
    });
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    // Group buckets by their labels minus `le`; each series must rise, end at +Inf, and match _count.
    const series = new Map<string, Sample[]>();
    for (const s of f.samples.filter((x) => x.name === `${name}_bucket`)) {
      if (!('le' in s.labels)) throw new Error(`${name}: bucket without le`);
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      if (les.at(-1) !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`);
      for (let i = 1; i < buckets.length; i++) {
        if (!((les[i] as number) > (les[i - 1] as number))) throw new Error(`${name}${key}: le not increasing`);
        if ((buckets[i] as Sample).value < (buckets[i - 1] as Sample).value) throw new Error(`${name}${key}: buckets not cumulative`);
      }
      const count = f.samples.find((s) => s.name === `${name}_count` && JSON.stringify(s.labels) === key);
      if (!count || count.value !== buckets.at(-1)?.value) throw new Error(`${name}${key}: _count differs from the +Inf bucket`);
      if (!f.samples.some((s) => s.name === `${name}_sum` && JSON.stringify(s.labels) === key)) throw new Error(`${name}${key}: no _sum`);
    }
  }
  return families;
}

const value = (fams: Map<string, Family>, family: string, labels: Record<string, string>, sample = family): number | undefined =>
  fams.get(family)?.samples.find((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

const probe = (over: Partial<ProbeResult>): ProbeResult => ({ node: 'mac-mini', kind: 'liveness', ok: true, reason: 'ok', startedAt: 0, durationMs: 40, ...over });

describe('metrics', () => {
  test('the exposition parses strictly and carries what was observed', async () => {
    const m = createMetrics(
      [
        { name: 'mac-mini', priority: 0 },
        { name: 'oracle', priority: 1 },
      ],
      'home "lab"\\1',
      '0.1.0',
    );
    m.observeProbe(probe({ durationMs: 40 }));
    m.observeProbe(probe({ durationMs: 3000, ok: false, reason: 'cloudflare_tunnel_down', httpStatus: 530 }));
    m.observeProbe(probe({ kind: 'canary', durationMs: 1800, ttftMs: 450, tokensPerSec: 38.5 }));
    m.observeProbe(probe({ kind: 'canary', durationMs: 90_000, ttftMs: 70_000, tokensPerSec: 2 }));
    m.observeProbe(probe({ kind: 'canary', ok: false, reason: 'aborted', durationMs: 5 }));
    m.setNodeStatus('mac-mini', 'degraded');
    m.setNodeStatus('oracle', 'down');
    m.setPreferred('mac-mini');
    m.setPreferred('oracle');
    m.countTransition('mac-mini', 'up', 'degraded');
    m.countTransition('mac-mini', 'up', 'degraded');
    m.countReport('mac-mini', 'http', 'accepted');
    m.heartbeat(Date.UTC(2026, 0, 1));

    const text = await m.render();
    const fams = parseExposition(text);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    expect(fams.get('llm_sentinel_info')?.type).toBe('gauge');
    expect(fams.get('llm_sentinel_info')?.samples[0]?.labels).toEqual({ instance: 'home \\"lab\\"\\\\1', version: '0.1.0' });
    expect(value(fams, 'llm_sentinel_node_up', { node: 'mac-mini' })).toBe(1);
    expect(value(fams, 'llm_sentinel_node_up', { node: 'oracle' })).toBe(0);
    expect(fams.get('llm_sentinel_node_status')?.samples.filter((s) => s.labels.node === 'oracle').map((s) => [s.labels.status, s.value])).toEqual([
      ['up', 0],
      ['degraded', 0],
      ['down', 1],
      ['unknown', 0],
    ]);
    expect(value(fams, 'llm_sentinel_preferred_node', { node: 'oracle' })).toBe(1);
    expect(value(fams, 'llm_sentinel_preferred_node', { node: 'mac-mini' })).toBe(0);
    expect(value(fams, 'llm_sentinel_node_priority', { node: 'oracle' })).toBe(1);
    expect(fams.get('llm_sentinel_probe_failures_total')?.type).toBe('counter');
    expect(value(fams, 'llm_sentinel_probe_failures_total', { node: 'mac-mini', kind: 'liveness', reason: 'cloudflare_tunnel_down' })).toBe(1);
    // An aborted probe (shutdown) is not a failure of the node, and not a measurement either.
    expect(value(fams, 'llm_sentinel_probe_failures_total', { reason: 'aborted' })).toBeUndefined();
    expect(value(fams, 'llm_sentinel_probe_duration_seconds', { node: 'mac-mini', kind: 'canary' }, 'llm_sentinel_probe_duration_seconds_count')).toBe(2);
    expect(value(fams, 'llm_sentinel_probe_duration_seconds', { node: 'mac-mini', kind: 'liveness', le: '0.05' }, 'llm_sentinel_probe_duration_seconds_bucket')).toBe(1);
    expect(value(fams, 'llm_sentinel_canary_ttft_seconds', { node: 'mac-mini', le: '0.5' }, 'llm_sentinel_canary_ttft_seconds_bucket')).toBe(1);
    expect(value(fams, 'llm_sentinel_canary_ttft_seconds', { node: 'mac-mini', le: '+Inf' }, 'llm_sentinel_canary_ttft_seconds_bucket')).toBe(2);
    expect(value(fams, 'llm_sentinel_canary_ttft_seconds', { node: 'mac-mini' }, 'llm_sentinel_canary_ttft_seconds_sum')).toBeCloseTo(70.45);
    expect(value(fams, 'llm_sentinel_canary_tokens_per_second', { node: 'mac-mini' })).toBe(2);
    expect(value(fams, 'llm_sentinel_node_transitions_total', { node: 'mac-mini', from: 'up', to: 'degraded' })).toBe(2);
    expect(value(fams, 'llm_sentinel_client_reports_total', { node: 'mac-mini', source: 'http', outcome: 'accepted' })).toBe(1);
    expect(value(fams, 'llm_sentinel_heartbeat_timestamp_seconds', {})).toBe(Date.UTC(2026, 0, 1) / 1000);
  });

  test('busy: the canary queue wait and whether the last working canary waited (issue 19)', async () => {
    const m = createMetrics([{ name: 'mac-mini', priority: 0 }], 'x', '0');
    m.observeProbe(probe({ kind: 'canary', durationMs: 20_400, ttftMs: 20_300, queueMs: 20_000 }));
    let fams = parseExposition(await m.render());
    expect(value(fams, 'llm_sentinel_node_busy', { node: 'mac-mini' })).toBe(1);
    expect(value(fams, 'llm_sentinel_canary_queue_wait_seconds', { node: 'mac-mini', le: '20' }, 'llm_sentinel_canary_queue_wait_seconds_bucket')).toBe(1);
    expect(value(fams, 'llm_sentinel_canary_queue_wait_seconds', { node: 'mac-mini', le: '10' }, 'llm_sentinel_canary_queue_wait_seconds_bucket')).toBe(0);
    // A canary without durations (OpenAI /v1) is never counted busy, nor observed as a wait.
    m.observeProbe(probe({ kind: 'canary', durationMs: 400, ttftMs: 300 }));
    fams = parseExposition(await m.render());
    expect(value(fams, 'llm_sentinel_node_busy', { node: 'mac-mini' })).toBe(0);
    expect(value(fams, 'llm_sentinel_canary_queue_wait_seconds', { node: 'mac-mini' }, 'llm_sentinel_canary_queue_wait_seconds_count')).toBe(1);
  });

  test('every configured node is visible from the first scrape (unknown, not preferred)', async () => {
    const fams = parseExposition(await createMetrics([{ name: 'a', priority: 0 }], 'x', '0').render());
    expect(value(fams, 'llm_sentinel_node_status', { node: 'a', status: 'unknown' })).toBe(1);
    expect(value(fams, 'llm_sentinel_node_up', { node: 'a' })).toBe(0);
    expect(value(fams, 'llm_sentinel_preferred_node', { node: 'a' })).toBe(0);
  });

  test('two instances do not collide, and the global registry stays empty', async () => {
    const a = createMetrics([{ name: 'n', priority: 0 }], 'a', '0');
    const b = createMetrics([{ name: 'n', priority: 0 }], 'b', '0');
    a.setNodeStatus('n', 'up');
    expect(value(parseExposition(await a.render()), 'llm_sentinel_node_up', { node: 'n' })).toBe(1);
    expect(value(parseExposition(await b.render()), 'llm_sentinel_node_up', { node: 'n' })).toBe(0);
    expect(globalRegistry.getMetricsAsArray()).toEqual([]);
  });

  test('the validator itself rejects broken expositions', () => {
    const ok = '# HELP x_total help\n# TYPE x_total counter\nx_total{a="1"} 2\n';
    expect(() => parseExposition(ok)).not.toThrow();
    expect(() => parseExposition('x_total 1\n')).toThrow(/undeclared family/);
    expect(() => parseExposition(ok.replace('{a="1"}', '{a=1}'))).toThrow(/bad labels/);
    expect(() => parseExposition(ok.replace(' 2\n', ' two\n'))).toThrow(/bad value/);
    const hist = (b1: number, b2: number, inf = true) =>
      `# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} ${b1}\nh_bucket{le="2"} ${b2}\n${inf ? `h_bucket{le="+Inf"} ${b2}\n` : ''}h_sum 1\nh_count ${b2}\n`;
    expect(() => parseExposition(hist(1, 2))).not.toThrow();
    expect(() => parseExposition(hist(2, 1))).toThrow(/not cumulative/);
    expect(() => parseExposition(hist(1, 2, false))).toThrow(/no \+Inf/);
  });
});
