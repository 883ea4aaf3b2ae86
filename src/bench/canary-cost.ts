import { parseConfig, type NodeConfig } from '../config';
import { describePlan } from '../core/flavor';
import { ServerKnowledge } from '../daemon/knowledge';
import { canaryPlan } from '../probes/canary';
import { createProbeAgent, probeCanary, probeLiveness } from '../probes';
import { startSimulator, type SimFlavor } from '../simulator';

export interface CanaryCostRow {
  server: string;
  api: 'ollama' | 'openai';
  model: string;
  thinking: string;
  tokensMax: number;
  tokensMean: number;
  allOk: boolean;
}

const CASES: Array<[SimFlavor, 'ollama' | 'openai', string, boolean?]> = [
  ['ollama', 'ollama', 'qwen3:8b'],
  ['ollama', 'openai', 'qwen3:8b'],
  ['ollama-legacy', 'ollama', 'qwen3:8b'],
  ['ollama-legacy', 'openai', 'qwen3:8b'],
  ['ollama-legacy', 'ollama', 'deepseek-r1:8b'],
  ['llamacpp', 'openai', 'qwen3:8b'],
  ['vllm', 'openai', 'qwen3:8b'],
  ['vllm', 'openai', 'qwen3:8b', true],
];

/** Tokens a canary costs a thinking model on each simulated server, with the daemon's own probes and choices. */
export async function canaryCost(canaries = 10): Promise<CanaryCostRow[]> {
  const rows: CanaryCostRow[] = [];
  for (const [flavor, api, model, strict] of CASES) {
    const sim = await startSimulator({ flavor, models: [model], tokenDelayMs: 1, rejectThinkingKnob: strict });
    const c = parseConfig({ nodes: [{ name: 'n', url: sim.url, api, model }, { name: 'f', url: 'http://127.0.0.1:9', model }] }, {});
    const node = c.nodes[0] as NodeConfig;
    const agent = createProbeAgent(c.probes);
    try {
      const known = new ServerKnowledge();
      known.learn(await probeLiveness(node, c.probes, { dispatcher: agent }));
      const tokens: number[] = [];
      let allOk = true;
      for (let i = 0; i < canaries; i++) {
        const r = await probeCanary(node, c.probes, { dispatcher: agent }, known.view('n'));
        known.learn(r);
        tokens.push(r.evalCount ?? 0);
        allOk &&= r.ok;
      }
      rows.push({
        server: `${flavor}${strict ? ' (knob → 400)' : ''}`,
        api,
        model,
        thinking: describePlan(canaryPlan(node, c.probes, known.view('n'))),
        tokensMax: Math.max(...tokens),
        tokensMean: tokens.reduce((a, b) => a + b, 0) / tokens.length,
        allOk,
      });
    } finally {
      await agent.close();
      await sim.close();
    }
  }
  return rows;
}
