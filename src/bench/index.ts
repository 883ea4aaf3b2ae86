import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { failoverWithReport, lookupCost, outageLatency, soak } from './client';
import { DEFAULT_CADENCE, FAST_CADENCE, falseFailovers, issueBound, measureDetection, seedClientPenalty, theoreticalBound, type Cadence } from './detection';
import { canaryCost } from './canary-cost';
import { disagreeModel, disagreeReal } from './disagree';
import { evictions } from './evictions';
import { floodLatency, type FloodResult } from './flood';
import { benchHistory } from './history';
import { measureTakeover, TAKEOVER_DEFAULTS } from './takeover';
import { footprint } from './footprint';
import { firstIntoHang, slowPrimary } from './suspicion';
import { busyScenario, stalledDetection } from './busy';

/** One row of the printed table and of bench-results/latest.json. */
interface Row {
  measure: string;
  value: string;
  target: string;
  note: string;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
};

async function detection(rows: Row[], c: Cadence, trials: number, targets: { hard?: string; hang?: string }): Promise<void> {
  for (const [fault, kind] of [['refuse', 'hard'], ['cf_tunnel_down', 'hard'], ['hang', 'hang']] as const) {
    process.stderr.write(`  detection: ${fault} at ${c.label} settings (${trials} trials)…\n`);
    const xs = await measureDetection(c, fault, trials);
    const { median, max } = stats(xs);
    rows.push({
      measure: `detection ${fault} (${c.label})`,
      value: `median ${s(median)}, max ${s(max)}`,
      target: (kind === 'hard' ? targets.hard : targets.hang) ?? '-',
      note: `bound ${s(theoreticalBound(c, kind))} (issue formula ${s(issueBound(c))}), n=${xs.length}`,
    });
  }
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const rows: Row[] = [];
  const started = new Date().toISOString();
  if (want('detection')) {
    await detection(rows, FAST_CADENCE, 5, {});
    await detection(rows, DEFAULT_CADENCE, Number(process.env.BENCH_TRIALS ?? 3), { hard: '≤ 15 s', hang: '≤ 25 s' });
    for (const fault of ['refuse', 'cf_tunnel_down', 'hang'] as const) {
      const p = await seedClientPenalty(fault);
      rows.push({ measure: `seed client extra latency per request (${fault})`, value: s(p), target: '-', note: 'paid on EVERY request for the whole outage' });
    }
  }
  if (want('failovers')) {
    const r = falseFailovers(10_000, 0.05);
    rows.push({ measure: 'false failovers, 5 % random probe failures', value: String(r.failovers), target: '0', note: `${r.probes} probes through the decision core (defaults: fall 3, softFall 4, rise 2)` });
    let total = 0;
    for (let seed = 1; seed <= 100; seed++) total += falseFailovers(10_000, 0.05, seed * 7919).failovers;
    rows.push({ measure: 'false failovers, 100 runs × 10,000 probes', value: String(total), target: '-', note: 'preferred-node changes over 1,000,000 probes, 5 % random timeouts' });
  }
  if (want('report')) {
    for (const fault of ['refuse', 'hang'] as const) {
      process.stderr.write(`  failover with a client report: ${fault}…\n`);
      const t = await failoverWithReport(fault);
      rows.push({ measure: `failover after one failed request + report (${fault}, defaults)`, value: s(t), target: 'about 2 s', note: 'liveness interval 60 s: only the report explains it' });
    }
  }
  if (want('client')) {
    const c = await lookupCost();
    rows.push({ measure: 'getPreferredEndpoint, cached (file)', value: `${c.cachedUs.toFixed(2)} µs/call`, target: '≤ 20 µs', note: `read + parse every call: ${c.uncachedUs.toFixed(1)} µs (${(c.uncachedUs / c.cachedUs).toFixed(1)}× dearer; target ≥ 5×)` });
    for (const [every, hedge] of [[1, undefined], [10, undefined], [10, 3000]] as const) {
      process.stderr.write(`  10-minute hung outage, a request every ${every} s${hedge ? `, hedgeAfterMs ${hedge}` : ''} (time-compressed ×10)…\n`);
      const o = await outageLatency({ requestEveryS: every, hedgeAfterMs: hedge });
      rows.push({
        measure: `extra latency, 10-min hung primary, 1 request / ${every} s${hedge ? `, hedgeAfterMs ${hedge}` : ''}`,
        value: `library ${o.libraryS.toFixed(1)} s vs seed ${o.seedS.toFixed(0)} s`,
        target: '≤ 1 % of seed',
        note: `${((o.libraryS / o.seedS) * 100).toFixed(2)} % over ${o.requests} requests (real daemon + client, time ×1/10)`,
      });
    }
  }
  if (want('suspicion')) {
    const trials = Number(process.env.BENCH_TRIALS ?? 3);
    process.stderr.write(`  first request into a hang, real time, defaults (${trials} trials)…\n`);
    const xs = await firstIntoHang(trials);
    const { median, max } = stats(xs.map((x) => x * 1000));
    rows.push({ measure: 'first request into a hang answered (defaults, no hedgeAfterMs)', value: `median ${s(median)}, max ${s(max)}`, target: '≤ 9 s', note: `seed client: 15 s; real time, n=${xs.length}` });
    const n = Number(process.env.BENCH_SLOW_REQUESTS ?? 100);
    process.stderr.write(`  slow but alive primary (first token 12 s), ${n} requests, 1 / s (time-compressed ×10)…\n`);
    const slow = await slowPrimary({ requests: n, everyS: 1, ttftS: 12, flaky: 0 });
    rows.push({
      measure: `slow primary (first token 12 s, liveness fine), ${slow.requests} requests`,
      value: `${slow.fallbackCalls} duplicates, ${slow.fromPrimary}/${slow.requests} from primary`,
      target: '0 duplicates, all from primary',
      note: `${slow.suspectProbes} suspect probes, ${slow.preferredFlips} preferred changes; 1 request / s, time ×1/10`,
    });
    const m = Number(process.env.BENCH_FLAKY_REQUESTS ?? 1000);
    process.stderr.write(`  slow primary with 5 % random liveness failures, ${m} requests (time-compressed ×10)…\n`);
    const flaky = await slowPrimary({ requests: m, everyS: 1, ttftS: 12, flaky: 0.05 });
    rows.push({
      measure: `false suspicion: slow primary + 5 % random liveness failures, ${flaky.requests} requests`,
      value: `${flaky.fallbackCalls} hedged needlessly (${((flaky.fallbackCalls / flaky.requests) * 1000).toFixed(1)} per 1,000)`,
      target: '< 1 per 1,000',
      note: `${flaky.suspectProbes} suspect probes, ${flaky.preferredFlips} preferred changes; failures are unanswered requests; time ×1/10`,
    });
  }
  if (want('footprint')) {
    const secs = Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 120);
    process.stderr.write(`  daemon footprint at the default cadence for ${secs} s…\n`);
    const f = await footprint(secs);
    rows.push({ measure: 'daemon peak RSS (VmHWM), default cadence', value: `${f.peakMb.toFixed(1)} MB`, target: '≤ 90 MB', note: `start-up peak (first 15 s) ${f.startPeakMb.toFixed(1)} MB; run of ${secs} s` });
    rows.push({ measure: `daemon RSS after ${secs} s (mean of the last quarter)`, value: `${f.steadyRssMb.toFixed(1)} MB`, target: '≤ 70 MB (after 10 min)', note: `at the end ${f.endRssMb.toFixed(1)} MB; BENCH_FOOTPRINT_SECONDS=600 for the 10-minute figure` });
    rows.push({ measure: 'daemon CPU, default cadence', value: `${f.cpuPercent.toFixed(2)} % of one core`, target: '≤ 1 %', note: `two nodes, liveness 10 s, canary 60 s; ${secs} s` });
  }
  if (want('soak')) {
    const secs = Number(process.env.BENCH_SOAK_SECONDS ?? 180);
    process.stderr.write(`  daemon at the default cadence for ${secs} s…\n`);
    const r = await soak(secs);
    rows.push({ measure: `daemon RSS / CPU, default cadence, ${secs} s`, value: `RSS max ${r.rssMaxMb.toFixed(0)} MB, CPU ${r.cpuPercent.toFixed(2)} %`, target: '-', note: `RSS at end ${r.rssEndMb.toFixed(0)} MB; CPU as % of one core` });
  }
  if (want('history')) {
    process.stderr.write('  one year of probes: rollup, retention, report…\n');
    const h = await benchHistory();
    for (const [k, v] of Object.entries(h)) rows.push({ measure: `history: ${k}`, value: String(v), target: /size/i.test(k) ? '≤ 100 MB' : /report/i.test(k) && /ms/i.test(k) ? '≤ 200 ms' : '-', note: '' });
  }
  if (want('evictions')) {
    process.stderr.write('  evictions: the real daemon at 20× cadence beside an app on a one-model node…\n');
    for (const r of await evictions()) {
      rows.push({
        measure: `model loads the monitor causes per hour, one-model node, app working (${r.scenario})`,
        value: r.perHourAtDefaults.toFixed(1),
        target: '0',
        note: `${r.monitorLoads} loads beyond the app's first in ${r.seconds} s at 20× default cadence; app model evicted ${r.appModelEvicted}×; the app paid ${r.appPaidLoads} load(s) in ${r.appRequests} requests (its first included)`,
      });
    }
  }
  if (want('canary-cost')) {
    process.stderr.write('  canary cost of a thinking model per server flavour…\n');
    for (const r of await canaryCost()) {
      const limit = /\/no_think/.test(r.thinking) ? 64 : 8;
      rows.push({ measure: `canary tokens, ${r.model} on ${r.server} (api ${r.api})`, value: `max ${r.tokensMax}, mean ${r.tokensMean.toFixed(1)}`, target: `≤ ${limit}`, note: `${r.thinking}${r.allOk ? '' : '; NOT all ok'} (simulator, 10 canaries)` });
    }
  }
  if (want('flood')) {
    const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '-');
    const row = (r: FloodResult, target: string, note: string): Row => ({
      measure: `GET /state, well-behaved client: ${r.label}`,
      value: r.ok === 0 ? `0 / ${r.requests} answered` : `p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, ${r.ok}/${r.requests} answered`,
      target,
      note,
    });
    for (const [label, http, target] of [
      ['without the per-address cap (before)', '{ listen: "127.0.0.1:0", maxConnectionsPerAddress: 512, headersTimeout: 10s, requestTimeout: 30s }', '-'],
      ['defaults (cap 64 per address)', '{ listen: "127.0.0.1:0" }', 'all answered, p99 ≤ 100 ms'],
    ] as const) {
      process.stderr.write(`  /state during a one-address flood: ${label}…\n`);
      const r = await floodLatency({ http, label });
      rows.push(row(r.quiet, '-', 'fresh connection per request, real daemon'));
      rows.push(row(r.flooded, target, `3,000 idle + 1,000 slowloris from 127.0.0.2 (a worker thread, each closed socket reopened after 1 s; the server closed ${Math.round(r.flooded.floodClosedPerS)}/s of them meanwhile), client on 127.0.0.1`));
    }
  }
  if (want('takeover')) {
    const trials = Number(process.env.BENCH_TRIALS ?? 3);
    process.stderr.write(`  two monitors: sender SIGKILLed → survivor's first mail, default peer settings (${trials} trials, about 1 min each)…\n`);
    const xs = (await measureTakeover(trials)).map((x) => x.ms);
    const { median, max } = stats(xs);
    const d = TAKEOVER_DEFAULTS;
    rows.push({
      measure: 'takeover: sender killed → survivor mails (defaults)',
      value: `min ${s(Math.min(...xs))}, median ${s(median)}, max ${s(max)}`,
      target: `≤ ${s(d.silentAfter + d.timeout)} + send`,
      note: `interval ${d.interval / 1000} s, silentAfter ${d.silentAfter / 1000} s, poll deadline ${d.timeout / 1000} s; real time, n=${xs.length}`,
    });
  }
  if (want('disagree')) {
    const m = disagreeModel();
    rows.push({
      measure: 'endpoint changes per hour, two monitors disagreeing for good (model)',
      value: `before ${m.before}, after ${m.after}`,
      target: 'after ≤ 1',
      note: `one simulated hour, heartbeat 10 s each, app reads every 250 ms through a 2 s cache (${m.reads} reads); before = freshest non-stale document`,
    });
    const secs = Number(process.env.BENCH_DISAGREE_SECONDS ?? 120);
    process.stderr.write(`  two real daemons at defaults disagreeing (oracle's path answers 530), both rules read every 250 ms for ${secs} s…\n`);
    const r = await disagreeReal(secs);
    const perHour = (n: number) => Math.round((n * 3600) / r.seconds);
    rows.push({
      measure: 'endpoint changes per hour, two monitors disagreeing for good (real daemons)',
      value: `before ${perHour(r.before)}, after ${perHour(r.after)}`,
      target: 'after ≤ 1',
      note: `${r.before} vs ${r.after} changes in ${r.seconds} s (${r.reads} reads each), scaled to an hour; defaults (heartbeat 10 s, staleAfter 30 s, ttlMs 2 s)`,
    });
  }
  if (want('busy')) {
    const secs = Number(process.env.BENCH_BUSY_SECONDS ?? 300);
    for (const apps of [1, 2]) {
      process.stderr.write(`  busy primary: one slot, ${apps} app(s) streaming 20 s drafts back to back, default cadence, ${secs} s…\n`);
      const r = await busyScenario(apps, secs);
      const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
      rows.push({ measure: `busy primary keeps its traffic (1 slot, ${apps} app${apps > 1 ? 's' : ''}, 20 s drafts)`, value: pct(r.primaryShare), target: '100 %', note: `up ${pct(r.upShare)} of the time; largest published wait ${s(r.maxWaitMs)}; ${r.drafts} drafts; ${secs} s at the default cadence` });
      rows.push({ measure: `false alerts, busy primary (${apps} app${apps > 1 ? 's' : ''})`, value: String(r.mails.length), target: '0', note: r.mails.join('; ').slice(0, 120) || 'no mail' });
      if (r.addedDelayMs !== undefined) rows.push({ measure: 'delay probing adds to a draft (1 app, worst case)', value: s(r.addedDelayMs), target: '≤ 0.2 s', note: `largest first-token delay over the median (a canary ahead in the queue); largest silence inside a draft ${s(r.maxGapMs)}` });
    }
    process.stderr.write('  stalled runner (tokens stop mid-draft, liveness passes), default cadence…\n');
    const st = await stalledDetection();
    rows.push({ measure: 'stalled runner judged (defaults)', value: s(st.ms), target: '≤ 295 s', note: `status reason ${st.reason}; bound canary.interval×1.1 + fall × canary.timeout + (fall−1) × fastInterval = 66 + 3×75 + 2×2 s` });
  }
  if (want('powerloss')) {
    const trials = Number(process.env.BENCH_TRIALS ?? 3);
    process.stderr.write(`  two monitors: the Mac loses power (its monitor and the primary at once) → the survivor's first mail, defaults (${trials} trials)…\n`);
    const got = await measureTakeover(trials, 'power-loss');
    const xs = got.map((x) => x.ms);
    const { median, max } = stats(xs);
    rows.push({
      measure: 'power loss at the Mac → first mail ("host looks down"), defaults',
      value: `min ${s(Math.min(...xs))}, median ${s(median)}, max ${s(max)}`,
      target: '≤ 30 s, one mail',
      note: `mails within 15 s of the first, per trial: ${got.map((x) => x.kinds.join('+')).join(', ')}; real time, n=${xs.length}`,
    });
  }
  if (only.includes('chaos')) {
    const events = Number(process.env.CHAOS_EVENTS ?? 60);
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
    process.stderr.write(`  chaos between two monitors: ${events} seeded events (seed ${seed}), real daemons and fault proxies (test/faults/peer-chaos.test.ts)…\n`);
    const report = resolve(tmpdir(), `llm-sentinel-chaos-${process.pid}.json`);
    const r = spawnSync(process.execPath, [resolve('node_modules/jest/bin/jest.js'), 'test/faults/peer-chaos.test.ts'], { env: { ...process.env, CHAOS_EVENTS: String(events), CHAOS_SEED: String(seed), CHAOS_REPORT: report }, stdio: ['ignore', 'inherit', 'inherit'] });
    const f = JSON.parse(readFileSync(report, 'utf8')) as { events: number; outages: number; exactlyOnce: number; duplicatesSameId: number; duplicatesOtherId: number; lost: number; worstDelayMs: number };
    rows.push({
      measure: `chaos: ${f.events} events, seed ${seed} (npm run bench -- chaos)`,
      value: `${f.outages} outages: ${f.exactlyOnce} exactly once, ${f.duplicatesSameId} dup same Message-ID, ${f.duplicatesOtherId} dup other Message-ID, lost ${f.lost}, worst delay ${s(f.worstDelayMs)}`,
      target: 'lost 0; a second Message-ID only as docs/alerts.md says',
      note: `test ${r.status === 0 ? 'passed' : 'FAILED'}; partitions, kill -9, SMTP refusing, clock ±2 min, outages`,
    });
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['measure', 'value', 'target', 'note'], ...rows.map((r) => [r.measure, r.value, r.target, r.note])].map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  process.stdout.write(`llm-sentinel benchmarks, ${started}, on ${machine}\n\n`);
  process.stdout.write(`${line(['measure', 'value', 'target', 'note'])}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n`);
  for (const r of rows) process.stdout.write(`${line([r.measure, r.value, r.target, r.note])}\n`);
  const dir = resolve('bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, 'latest.json'), `${JSON.stringify({ started, machine, rows }, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${resolve(dir, 'latest.json')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
