import { readFileSync } from 'node:fs';
import type { Config, NodeConfig } from '../config';
import { canaryModel, emptyMemory, modelKey, observe } from '../core/residency';
import { isFailure, type ProbeContext } from '../probes/http';
import { parsePs, parseTags, readListing, withNode } from '../probes/keep-warm';
import { parseState } from '../state/validate';

/**
 * `check` and memory (docs/keep-warm.md): the one-off canary keeps out of the apps' way like the daemon's (on a
 * model the apps have resident when the configured one is not), and says what keep-warm holds back: listed
 * models not installed (seen now) and two listed models that do not fit together (seen by the running
 * monitor, from its state file).
 */
export interface MemoryCheck {
  /** The model the canary should use. */
  model: string | undefined;
  lines: string[];
}

export async function checkMemory(config: Config, node: NodeConfig, ctx: ProbeContext): Promise<MemoryCheck> {
  const lines: string[] = [];
  let model = node.model;
  await withNode(node, config.probes, ctx, async (run) => {
    const ps = await readListing(run, '/api/ps', parsePs);
    if (isFailure(ps)) return;
    const memory = observe(emptyMemory(), ps, Date.now()).memory;
    if (model !== undefined) {
      const pick = canaryModel(memory, model);
      if (pick.why === 'resident') lines.push(`${node.name}: the canary runs on ${pick.model}, resident for the apps: ${model} is not loaded and loading it could evict theirs`);
      model = pick.model;
    }
    const tags = await readListing(run, '/api/tags', parseTags);
    if (isFailure(tags)) return;
    for (const m of node.models) if (!tags.has(modelKey(m))) lines.push(`${node.name}: keep-warm: ${m} is listed in nodes[].models but not installed on the node: it is never loaded (ollama pull ${m})`);
  });
  const conflict = publishedConflict(config.stateFile, node.name);
  if (conflict) lines.push(`${node.name}: keep-warm: ${conflict.models[0]} and ${conflict.models[1]} do not fit in memory together (the running monitor saw one evict the other): keeping ${conflict.keeping} only, until the config or the memory changes`);
  return { model, lines };
}

function publishedConflict(file: string, name: string): { models: [string, string]; keeping: string } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null; // no monitor running here: nothing it has seen
  }
  const parsed = parseState(text);
  return parsed.ok ? (parsed.state.nodes.find((n) => n.name === name)?.memory?.conflict ?? null) : null;
}
