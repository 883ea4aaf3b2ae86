/**
 * Which model the canary uses when the config names none (no `nodes[].model`, no OLLAMA_MODEL). Never a
 * built-in name: a guess is either missing on the node, or loads a second model next to the app's and can
 * evict it on a small machine. Pure (test/unit/model-choice.test.ts).
 *
 *   a model is loaded (/api/ps)        → that one (the first listed: Ollama sorts by expires_at, latest first)
 *   none loaded, exactly one installed → that one
 *   otherwise                          → no choice: the error lists what is installed
 */
export type ModelChoice = { ok: true; model: string; how: 'loaded' | 'only installed' } | { ok: false; problem: string; installed: string[] };

export function chooseModel(facts: { loaded: string[]; installed: string[] }): ModelChoice {
  const loaded = facts.loaded[0];
  if (loaded !== undefined) return { ok: true, model: loaded, how: 'loaded' };
  if (facts.installed.length === 1) return { ok: true, model: facts.installed[0] as string, how: 'only installed' };
  const installed = facts.installed;
  const problem =
    installed.length === 0
      ? 'no model configured and the node has none installed: pull one (ollama pull <model>) and name it in nodes[].model or OLLAMA_MODEL'
      : `no model configured, none loaded and ${installed.length} installed (${listNames(installed)}): name one in nodes[].model or OLLAMA_MODEL`;
  return { ok: false, problem, installed };
}

export function listNames(names: string[], max = 8): string {
  return `${names.slice(0, max).join(', ')}${names.length > max ? `, … (${names.length - max} more)` : ''}`;
}
