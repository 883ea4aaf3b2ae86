import { isReason, REASON_INFO } from '../core/reasons';
import { loadConfig } from '../config';
import { policyOf } from '../config/policy';
import { oneShotVerdict } from '../core/verdict';
import { createProbeAgent, probeCanary, probeLiveness } from '../probes';
import { publicUrl } from '../util/url';
import { parseFlags, reportError, type CliIo } from './io';
import { ms, num, table } from '../util/table';

const HELP = `Usage: llm-sentinel check [--config FILE] [--json]

Probes every node once (liveness, then a canary generation) and prints a table.
Exit 0 when at least one node is healthy (up or degraded), 1 when none is, 78 on bad config.
`;

/** The reason table's one-line hint (docs/reasons.md has the long form); none for `ok` or the core's `slow`. */
const hintFor = (reason: string): string | null => (isReason(reason) && REASON_INFO[reason].hint) || null;

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const config = loadConfig(values.config ?? io.env.LLM_SENTINEL_CONFIG, io.env);
    const agent = createProbeAgent(config.probes);
    try {
      const rows = await Promise.all(
        config.nodes.map(async (node) => {
          const liveness = await probeLiveness(node, config.probes, { dispatcher: agent });
          const canary = config.probes.canary.enabled ? await probeCanary(node, config.probes, { dispatcher: agent }) : undefined;
          return { node, liveness, canary, verdict: oneShotVerdict(liveness, canary, policyOf(config)) };
        }),
      );
      if (values.json) {
        const out = rows.map(({ node, liveness, canary, verdict }) => ({
          name: node.name,
          url: publicUrl(node.url),
          model: node.model,
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
            ['NODE', 'VERDICT', 'REASON', 'TTFT', 'TOK/S', 'LOAD', 'DETAIL'],
            rows.map(({ node, liveness, canary, verdict }) => [
              node.name,
              verdict.status,
              verdict.reason,
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
      }
      return rows.some((r) => r.verdict.status === 'up' || r.verdict.status === 'degraded') ? 0 : 1;
    } finally {
      await agent.close();
    }
  } catch (e) {
    return reportError(e, io, 'check');
  }
}
