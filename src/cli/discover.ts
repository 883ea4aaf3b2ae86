import type { Config } from '../config';
import { createProbeAgent, probeLiveness } from '../probes';

/**
 * For nodes without a configured model: asks each node which one it would use (loaded, else the only one
 * installed). A node that answers but leaves no choice is a config problem (exit 78, listing what it has); a
 * node that does not answer now is only noted, and the daemon finds the model once it does.
 */
export async function discoverModels(config: Config): Promise<{ problems: string[]; notes: string[] }> {
  const pending = config.nodes.filter((n) => n.model === undefined);
  if (pending.length === 0) return { problems: [], notes: [] };
  const agent = createProbeAgent(config.probes);
  try {
    const results = await Promise.all(pending.map(async (n) => ({ n, r: await probeLiveness(n, config.probes, { dispatcher: agent }) })));
    const problems: string[] = [];
    const notes: string[] = [];
    for (const { n, r } of results) {
      const where = `nodes[${n.priority}].model`;
      if (r.model) notes.push(`${n.name}: no model configured; using ${r.model}`);
      else if (r.reason === 'model_missing' && r.installed !== undefined) problems.push(`${where}: ${n.name}: ${r.detail ?? 'no model can be chosen'}`);
      else notes.push(`${n.name}: no model configured and the node does not answer now (${r.reason}); it is chosen once it does`);
    }
    return { problems, notes };
  } finally {
    await agent.close();
  }
}
