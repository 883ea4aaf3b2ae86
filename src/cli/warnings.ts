import type { Config, NodeConfig } from '../config';
import { sameModel } from '../core/keep-warm';
import type { NodeKnowledge } from '../daemon/knowledge';

/**
 * Set-up advice printed by `check` and logged once at daemon start-up. Each line says what is missing and
 * how to fix it; none stops the monitor.
 */
export function setupWarnings(config: Config, nodes: ReadonlyArray<{ node: NodeConfig; server?: NodeKnowledge }> = []): string[] {
  const out: string[] = [];
  if (config.selfCheck.witnesses.length === 0) {
    out.push(
      "no selfCheck.witnesses: if the monitor's own network goes down, every node looks down and you get ALL NODES DOWN. " +
        'Add two targets the monitor can always reach, e.g. witnesses: ["tcp://1.1.1.1:53", "tcp://9.9.9.9:53"] (see config.example.yaml)',
    );
  }
  for (const { node, server } of nodes) {
    if (node.model !== undefined && node.models.length > 0 && !node.models.some((m) => sameModel(m, node.model as string))) {
      out.push(`nodes[${node.priority}] ${node.name}: the canary's model ${node.model} is not among the app models (${node.models.join(', ')}): it loads a second model next to theirs`);
    }
    if (node.api === 'openai' && server && server.flavor !== 'ollama') {
      out.push(`nodes[${node.priority}] ${node.name}: ${server.flavor} has no model load API: keep-warm is skipped (keep the model loaded on the server itself)`);
    }
  }
  return out;
}



