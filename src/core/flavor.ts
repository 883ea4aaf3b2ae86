/**
 * Which server a node runs, from what it says about itself, and how to keep a thinking model from spending
 * the canary's tokens on reasoning there. Pure: facts in, choice out (test/unit/flavor.test.ts).
 *
 * The knobs, as each server documents them:
 * - Ollama ≥ 0.9 native API: `think: false` (docs/api.md, "think").
 * - Ollama /v1: `reasoning_effort: "none"` (openai/openai.go, reasoning_effort → think).
 * - llama.cpp llama-server (with --jinja) and vLLM: `chat_template_kwargs: { enable_thinking: false }`
 *   (tools/server/README.md; vLLM "Reasoning Outputs": Qwen3 reasoning is on by default, pass
 *   enable_thinking=False in chat_template_kwargs to disable it).
 * - Ollama before `think` existed (< 0.9) and unknown OpenAI-compatible servers: no knob. The canary
 *   then uses qwen3's `/no_think` soft switch in the prompt and a larger token budget.
 */

export const FLAVORS = ['ollama', 'ollama-legacy', 'llamacpp', 'vllm', 'openai-compatible', 'unknown'] as const;
export type Flavor = (typeof FLAVORS)[number];

export type ThinkingKnob = 'think' | 'reasoning_effort' | 'chat_template_kwargs' | 'none';

export interface FlavorFacts {
  /** `version` from /api/version, when that answered with one. */
  ollamaVersion?: string;
  /** `owned_by` values from /v1/models. */
  ownedBy?: string[];
  /** The `server` response header. */
  serverHeader?: string;
}

/** First Ollama release with the `think` request field (v0.9.0, May 2025). */
const THINK_SINCE: readonly [number, number] = [0, 9];

function versionAtLeast(v: string, min: readonly [number, number]): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(v.trim());
  if (!m) return true; // a build without a release number (e.g. "0.0.0" dev builds aside): assume current
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === 0 && minor === 0) return true;
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

/**
 *   /api/version answered              → ollama (≥ 0.9) or ollama-legacy
 *   owned_by "llamacpp" or server: llama.cpp → llamacpp
 *   owned_by "vllm"                    → vllm
 *   /v1/models answered otherwise      → openai-compatible
 *   nothing known                      → unknown
 */
export function detectFlavor(f: FlavorFacts): Flavor {
  if (f.ollamaVersion !== undefined) return versionAtLeast(f.ollamaVersion, THINK_SINCE) ? 'ollama' : 'ollama-legacy';
  const owners = (f.ownedBy ?? []).map((o) => o.toLowerCase());
  const server = (f.serverHeader ?? '').toLowerCase();
  if (owners.includes('llamacpp') || server.includes('llama.cpp')) return 'llamacpp';
  if (owners.includes('vllm')) return 'vllm';
  if (f.ownedBy !== undefined) return 'openai-compatible';
  return 'unknown';
}

/** The knob a request to this API on this server should carry. */
export function knobFor(api: 'ollama' | 'openai', flavor: Flavor): ThinkingKnob {
  if (api === 'ollama') return flavor === 'ollama-legacy' ? 'none' : 'think';
  switch (flavor) {
    case 'ollama':
      return 'reasoning_effort';
    case 'llamacpp':
    case 'vllm':
      return 'chat_template_kwargs';
    default:
      return 'none';
  }
}

export interface ThinkingPlan {
  knob: ThinkingKnob;
  /** The knob was answered with 400 before: it is left out for this node. */
  knobRejected: boolean;
  /** The prompt as sent (with `/no_think` when no knob applies). */
  prompt: string;
  /** Token limit for the canary. */
  maxTokens: number;
}

export const NO_THINK = '/no_think';

/**
 * Where a knob works, the canary keeps its small budget (`maxTokens`, default 8). Where none does (legacy
 * Ollama, unknown servers, a knob answered with 400), the prompt gets qwen3's `/no_think` soft switch and
 * the budget becomes `thinkingBudget` (default 64): enough for an empty think block or a short thought.
 */
export function planThinking(input: {
  api: 'ollama' | 'openai';
  flavor: Flavor;
  knobRejected: boolean;
  /** The node was cut off while thinking despite the knob (a template that ignores it, gpt-oss): keep the knob, add the fallback. */
  thinksAnyway?: boolean;
  prompt: string;
  maxTokens: number;
  thinkingBudget: number;
}): ThinkingPlan {
  const wanted = knobFor(input.api, input.flavor);
  const knob = input.knobRejected ? 'none' : wanted;
  // An unknown native Ollama gets think:false (harmless before 0.9: unknown fields are ignored) and the
  // fallback budget, until liveness has said which Ollama it is.
  const sure = knob !== 'none' && input.flavor !== 'unknown' && input.thinksAnyway !== true;
  if (sure) return { knob, knobRejected: input.knobRejected, prompt: input.prompt, maxTokens: input.maxTokens };
  const prompt = input.prompt.includes(NO_THINK) ? input.prompt : `${input.prompt} ${NO_THINK}`;
  return { knob, knobRejected: input.knobRejected, prompt, maxTokens: Math.max(input.maxTokens, input.thinkingBudget) };
}

/** How `check` shows the choice, e.g. `reasoning_effort:none`, `none (/no_think, 64 tokens)`. */
export function describePlan(p: ThinkingPlan): string {
  const knob =
    p.knob === 'think' ? 'think:false' : p.knob === 'reasoning_effort' ? 'reasoning_effort:none' : p.knob === 'chat_template_kwargs' ? 'enable_thinking:false' : p.knobRejected ? 'knob refused (400)' : 'no knob';
  return p.prompt.endsWith(NO_THINK) ? `${knob}, ${NO_THINK}, ${p.maxTokens} tok` : `${knob}, ${p.maxTokens} tok`;
}
