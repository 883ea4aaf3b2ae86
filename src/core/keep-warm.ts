/**
 * Which of the apps' models to load now. Pure (test/unit/keep-warm.test.ts).
 *
 *   listed model not in /api/ps                       → load (not_loaded: a cold event)
 *   listed model in /api/ps, expires_at within margin → load (expiring: a refresh)
 *   otherwise                                         → nothing
 *
 * The margin covers the time until the next look (a liveness cycle) plus slack, so a model never idles
 * out between two looks. A load is Ollama's documented load request (empty prompt, keep_alive), never a
 * generation.
 */
export interface LoadedModel {
  name: string;
  /** Epoch ms; undefined when the server did not say. */
  expiresAt?: number;
}

export interface WarmthStep {
  model: string;
  why: 'not_loaded' | 'expiring';
}

export function planWarmth(input: { wanted: readonly string[]; loaded: readonly LoadedModel[]; now: number; marginMs: number }): WarmthStep[] {
  const steps: WarmthStep[] = [];
  for (const model of input.wanted) {
    const hit = input.loaded.find((l) => sameModel(l.name, model));
    if (!hit) steps.push({ model, why: 'not_loaded' });
    else if (hit.expiresAt !== undefined && hit.expiresAt - input.now <= input.marginMs) steps.push({ model, why: 'expiring' });
  }
  return steps;
}

/** "llama3.2" and "llama3.2:latest" name the same model (case-insensitive; a registry port is not a tag). */
export function sameModel(a: string, b: string): boolean {
  const full = (m: string) => {
    const n = m.trim().toLowerCase();
    return n.slice(n.lastIndexOf('/') + 1).includes(':') ? n : `${n}:latest`;
  };
  return full(a) === full(b);
}
