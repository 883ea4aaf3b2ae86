import type { NodeConfig } from '../config';
import type { Flavor } from '../core/flavor';
import type { Logger } from '../logging';
import type { ServerView } from '../probes/canary';
import type { ProbeResult } from '../probes/types';

/**
 * What the monitor has learnt about each node's server from its probes: which server it is (liveness), the
 * model found when none was configured (liveness), and whether it refused the thinking knob (canary). Only
 * facts move here; the choices they feed are made in src/core/flavor.ts and src/core/model-choice.ts.
 */
export interface NodeKnowledge {
  flavor: Flavor;
  version?: string;
  /** The model discovered for a node configured without one. */
  model?: string;
  knobRejected: boolean;
  /** Cut off while thinking although the knob went out: the knob does not work here (template, model). */
  thinksAnyway?: boolean;
}

export class ServerKnowledge {
  readonly #nodes = new Map<string, NodeKnowledge>();

  get(name: string): NodeKnowledge {
    return this.#nodes.get(name) ?? { flavor: 'unknown', knobRejected: false };
  }

  /** Learns from a probe result; returns true when something changed. */
  learn(r: ProbeResult): boolean {
    const before = this.get(r.node);
    const next: NodeKnowledge = { ...before };
    if (r.server) {
      next.flavor = r.server.flavor;
      next.version = r.server.version;
    }
    if (r.model) next.model = r.model;
    // Sticky: a server that refused the knob once keeps refusing it until the monitor restarts or reloads.
    if (r.thinking?.knobRejected) next.knobRejected = true;
    // The knob went out and the model still ran out of tokens thinking: from now on the fallback budget too.
    if (r.reason === 'thinking_budget' && r.thinking && r.thinking.knob !== 'none') next.thinksAnyway = true;
    const changed = JSON.stringify(before) !== JSON.stringify(next);
    if (changed) this.#nodes.set(r.node, next);
    return changed;
  }

  /** The node as probes should see it: the discovered model filled in, and the app models defaulting to it. */
  resolve(node: NodeConfig): NodeConfig {
    const model = node.model ?? this.get(node.name).model;
    return { ...node, model, models: node.models.length > 0 ? node.models : model !== undefined ? [model] : [] };
  }

  view(name: string): ServerView {
    const k = this.get(name);
    return { flavor: k.flavor, knobRejected: k.knobRejected, thinksAnyway: k.thinksAnyway === true };
  }
}

/** Says what was learnt, once (the daemon calls it only when something changed). */
export function logLearnt(log: Logger, r: ProbeResult, k: NodeKnowledge): void {
  if (r.model) log.info({ model: r.model }, `no model configured: using ${r.model} (${r.detail ?? 'discovered'})`);
  if (r.reason === 'thinking_budget' && k.thinksAnyway) log.warn({ knob: r.thinking?.knob }, 'the model thinks despite the knob; canaries add /no_think and use probes.canary.thinkingBudget from now on');
  if (r.thinking?.knobRejected) log.warn({ knob: r.thinking.knob }, 'the server refused the thinking knob (400); canaries go without it from now on');
  if (r.server) log.info({ flavor: k.flavor, version: k.version }, `server is ${k.flavor}${k.version ? ` ${k.version}` : ''}`);
}
