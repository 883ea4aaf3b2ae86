import { isCloudflareProtection } from '../core/cloudflare';
import { isReason, REASON_INFO } from '../core/reasons';
import { EXIT_CONFIG, loadConfig } from '../config';
import { policyOf } from '../config/policy';
import { judgeCanary } from '../core/busy';
import { busySignalLine, busySignalView } from './check-busy';
import { describePlan } from '../core/flavor';
import { Warmth } from '../daemon/keep-warm';
import { ServerKnowledge } from '../daemon/knowledge';
import { canaryPlan } from '../probes/canary';
import { setupWarnings } from './warnings';
import { daemonReadWarnings } from '../install/secret-access';
import { TARGET_DEFAULTS } from '../install/values';
import { checkMemory } from './check-memory';
import { checkPeers } from './check-peers';
import { oneShotVerdict } from '../core/verdict';
import { createProbeAgent, probeCanary, probeLiveness } from '../probes';
import { publicUrl } from '../util/url';
import { parseFlags, reportError, type CliIo } from './io';
import { ms, num, table } from '../util/table';

const HELP = `Usage: llm-sentinel check [--config FILE] [--json] [--user NAME]

Probes every node once (liveness, then a canary generation) and prints a table.
Shows what each server is (SERVER), the model used (found: discovered, none configured) and how the canary
keeps a thinking model from spending its tokens (THINKING). Exit 0 when at least one node is healthy (up or
degraded), 1 when none is, 78 on bad config or when a node's model cannot be chosen.
--user NAME warns about each secret file the daemon's account NAME could not read (default on macOS: the
LaunchDaemon's account, ${TARGET_DEFAULTS.launchd.user}, when it exists).
`;

/** The reason table's one-line hint (docs/reasons.md has the long form); none for `ok` or the core's `slow`. */
const hintFor = (reason: string): string | null => (isReason(reason) && REASON_INFO[reason].hint) || null;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, user: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const configPath = values.config ?? io.env.LLM_SENTINEL_CONFIG;
    const config = loadConfig(configPath, io.env);
    const daemonUser = values.user ?? (process.platform === 'darwin' ? TARGET_DEFAULTS.launchd.user : undefined);
    if (configPath !== undefined && daemonUser !== undefined) {
      for (const w of daemonReadWarnings(configPath, daemonUser)) io.stderr.write(`warning: ${w}\n`);
    }
    const agent = createProbeAgent(config.probes);
    try {
      const rows = await Promise.all(
        config.nodes.map(async (configured) => {
          const known = new ServerKnowledge();
          const liveness = await probeLiveness(configured, config.probes, { dispatcher: agent });
          known.learn(liveness);
          const resolved = known.resolve(configured);
          const memory = Warmth.applies(resolved, known.get(resolved.name)) ? await checkMemory(config, resolved, { dispatcher: agent }) : { model: resolved.model, lines: [] };
          const node = { ...resolved, model: memory.model };
          const view = known.view(node.name);
          // Cloudflare refused liveness (challenge, block, rate limit): a canary meets the same answer, or deepens the limit.
          let canary = config.probes.canary.enabled && node.model !== undefined && !isCloudflareProtection(liveness.reason) ? await probeCanary(node, config.probes, { dispatcher: agent }, view) : undefined;
          // Cut off while thinking despite the knob: ask again the way the daemon would next (/no_think, thinkingBudget).
          if (canary && known.learn(canary) && canary.reason === 'thinking_budget' && !view.thinksAnyway && known.view(node.name).thinksAnyway) {
            canary = await probeCanary(node, config.probes, { dispatcher: agent }, known.view(node.name));
            known.learn(canary);
          }
          // The slot wait measured and named, as the daemon records it (no stall judgement: one look, no history).
          if (canary) canary = judgeCanary(canary, undefined, { ...policyOf(config), livenessFreshMs: 0 });
          const plan = canaryPlan(node, config.probes, known.view(node.name));
          const undiscovered = configured.model === undefined && node.model === undefined && liveness.reason === 'model_missing';
          return { node, liveness, canary, server: known.get(node.name), plan, undiscovered, memory: memory.lines, verdict: oneShotVerdict(liveness, canary, policyOf(config)) };
        }),
      );
      // Said once, on stderr, so --json output stays clean.
      for (const w of setupWarnings(config, rows)) io.stderr.write(`warning: ${w}\n`);
      for (const line of rows.flatMap((r) => r.memory)) io.stderr.write(`memory: ${line}\n`);
      if (values.json) {
        const out = rows.map(({ node, liveness, canary, verdict, server, plan }) => ({
          name: node.name,
          url: publicUrl(node.url),
          model: node.model ?? null,
          modelDiscovered: liveness.model !== undefined,
          server: { flavor: server.flavor, version: server.version ?? null },
          thinking: { knob: plan.knob, knobRejected: plan.knobRejected, maxTokens: plan.maxTokens, noThink: plan.prompt.endsWith('/no_think'), text: describePlan(plan) },
          keepWarm: node.models.length > 0 && Warmth.applies(node, server) ? node.models : null,
          busySignal: busySignalView(node.api, server.flavor, canary),
          status: verdict.status,
          reason: verdict.reason,
          hint: hintFor(verdict.reason),
          liveness: { ok: liveness.ok, reason: liveness.reason, httpStatus: liveness.httpStatus ?? null, durationMs: Math.round(liveness.durationMs), detail: liveness.detail ?? null },
          canary: canary
            ? { ok: canary.ok, reason: canary.reason, httpStatus: canary.httpStatus ?? null, ttftMs: canary.ttftMs ?? null, totalMs: canary.totalMs ?? null, tokensPerSec: canary.tokensPerSec ?? null, loadMs: canary.loadMs ?? null, answer: canary.answer ?? null, detail: canary.detail ?? null }
            : null,
        }));
        io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        io.stdout.write(
          table(
            ['NODE', 'VERDICT', 'REASON', 'SERVER', 'MODEL', 'THINKING', 'TTFT', 'TOK/S', 'LOAD', 'DETAIL'],
            rows.map(({ node, liveness, canary, verdict, server, plan }) => [
              node.name,
              verdict.status,
              verdict.reason,
              server.version ? `${server.flavor} ${server.version}` : server.flavor,
              `${node.model ?? '?'}${liveness.model ? ' (found)' : ''}`,
              describePlan(plan),
              ms(canary?.ttftMs),
              num(canary?.tokensPerSec),
              ms(canary?.loadMs),
              verdict.reason === 'ok' ? publicUrl(node.url) : ((!liveness.ok ? liveness.detail : canary?.detail) ?? ''),
            ]),
          ),
        );
        for (const { node, verdict } of rows) {
          const hint = hintFor(verdict.reason);
          if (hint) io.stdout.write(`${node.name}: ${verdict.reason}: ${hint}\n`);
        }
        for (const { node, server, canary } of rows) io.stdout.write(`${busySignalLine(node.name, busySignalView(node.api, server.flavor, canary))}\n`);
      }
      const undiscovered = rows.filter((r) => r.undiscovered);
      if (undiscovered.length > 0) {
        for (const r of undiscovered) io.stderr.write(`llm-sentinel check: nodes[${r.node.priority}] ${r.node.name}: ${r.liveness.detail ?? 'no model'}\n`);
        return EXIT_CONFIG;
      }
      // Peers: on stdout with the table, on stderr with --json (which stays the nodes' array).
      for (const line of await checkPeers(config)) (values.json ? io.stderr : io.stdout).write(`${line}\n`);
      return rows.some((r) => r.verdict.status === 'up' || r.verdict.status === 'degraded') ? 0 : 1;
    } finally {
      await agent.close();
    }
  } catch (e) {
    return reportError(e, io, 'check');
  }
}
