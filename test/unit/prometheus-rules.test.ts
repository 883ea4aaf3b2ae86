import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetrics } from '../../src/http/metrics';

/*
 * The shipped Prometheus rules (docs/prometheus/) must use metrics the daemon really exports, and must do
 * what their unit tests (docs/prometheus/llm-sentinel.rules.test.yml, `promtool test rules`, Prometheus'
 * "Unit testing for rules" format) say. promtool comes with Debian's `prometheus` package; without it the
 * second test is skipped and says so (CI installs it: .ci/run).
 */
const DIR = join(__dirname, '../../docs/prometheus');
const RULES = join(DIR, 'llm-sentinel.rules.yml');

test('every llm_sentinel_* metric the rules use is exported by the daemon (src/http/metrics.ts)', async () => {
  const metrics = createMetrics([{ name: 'primary', priority: 0 }], 'test', '0.0.0');
  // Observe one failed and one canary probe so the counter and histogram series exist in the rendering.
  metrics.observeProbe({ node: 'primary', kind: 'liveness', ok: false, reason: 'timeout', startedAt: 0, durationMs: 3000 });
  metrics.observeProbe({ node: 'primary', kind: 'canary', ok: true, reason: 'ok', startedAt: 0, durationMs: 900, ttftMs: 100, tokensPerSec: 40 });
  metrics.setPreferred('primary');
  metrics.heartbeat(Date.now());
  const exported = new Set([...(await metrics.render()).matchAll(/^(llm_sentinel_[a-z_]+)[{ ]/gm)].map((m) => m[1]));
  const used = [...new Set([...readFileSync(RULES, 'utf8').matchAll(/\b(llm_sentinel_[a-z_]+)\b/g)].map((m) => m[1]))];
  expect(used.length).toBeGreaterThanOrEqual(6);
  expect(used.filter((name) => !exported.has(name))).toEqual([]);
  // The label values the rules compare against are the ones the daemon writes.
  expect(await metrics.render()).toMatch(/^llm_sentinel_node_status\{node="primary",status="down"\} 0$/m);
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const havePromtool = promtool.status === 0;
(havePromtool ? test : test.skip)(
  havePromtool ? 'promtool check rules + promtool test rules pass' : 'promtool test rules SKIPPED: promtool is not on PATH (apt-get install prometheus)',
  () => {
    const check = spawnSync('promtool', ['check', 'rules', 'llm-sentinel.rules.yml'], { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
    expect([check.status, check.stdout + check.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
    const run = spawnSync('promtool', ['test', 'rules', 'llm-sentinel.rules.test.yml'], { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
    expect([run.status, run.stdout + run.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
  },
);
