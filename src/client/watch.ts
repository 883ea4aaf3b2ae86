import type { PublishedState } from '../state/types';
import { isStale } from '../state/validate';
import type { StateSource } from './state-source';
import { evidenceOf, judgeSuspicion, newLiveness, type NodeEvidence } from './suspicion';

export interface WatchOptions {
  source: StateSource;
  node: string;
  /** The evidence in the state the attempt started with (undefined: none usable; suspicion stays idle). */
  before: NodeEvidence | undefined;
  suspectAfterMs: number;
  /** How often the state is looked at while waiting (a stat for the file; the cached view for HTTP). */
  pollMs: number;
  staleAfterMs?: number;
  now(): number;
  /** Sends the suspect report (rate-limited by the caller); never rejects. */
  suspect(): void;
}

export interface Watch {
  /** Resolves when the monitor says the node is not answering; never rejects. */
  hedge: Promise<{ reason: string; detail: string }>;
  stop(): void;
}

/** Evidence for `name` in a state that is fresh enough to act on; undefined otherwise. */
export function freshEvidence(state: PublishedState | undefined, name: string, now: number, staleAfterMs?: number): NodeEvidence | undefined {
  if (!state || isStale(state, now, staleAfterMs ?? state.staleAfterMs)) return undefined;
  return evidenceOf(state.nodes.find((n) => n.name === name));
}

/**
 * Watches the monitor's view of one node while an attempt waits for response headers, and carries out
 * judgeSuspicion's verdicts: sends suspect reports, and resolves `hedge` once the monitor found no answer.
 * A state that disappears, turns stale or cannot be read only means "wait": the attempt goes on as today.
 */
export function watchSuspicion(o: WatchOptions): Watch {
  const startedAt = o.now();
  let lastSuspectAt: number | undefined;
  let sawPass = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveHedge: (v: { reason: string; detail: string }) => void = () => undefined;
  const hedge = new Promise<{ reason: string; detail: string }>((r) => (resolveHedge = r));

  const look = async (): Promise<void> => {
    if (stopped) return;
    let now: NodeEvidence | undefined;
    try {
      const view = await o.source.read();
      now = freshEvidence(view.state, o.node, o.now(), o.staleAfterMs);
    } catch {
      now = undefined;
    }
    if (stopped) return;
    const t = o.now();
    const v = judgeSuspicion({
      sawPass,
      waitedMs: t - startedAt,
      suspectAfterMs: o.suspectAfterMs,
      ...(lastSuspectAt !== undefined ? { sinceSuspectMs: t - lastSuspectAt } : {}),
      before: o.before,
      now,
    });
    if (newLiveness(o.before, now)?.ok) sawPass = true;
    if (v.action === 'hedge') {
      stopped = true;
      resolveHedge({ reason: v.reason, detail: v.detail });
      return;
    }
    if (v.action === 'suspect') {
      lastSuspectAt = t;
      o.suspect();
    }
    schedule();
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void look(), o.pollMs);
    // A watch never keeps a process alive on its own; the request it watches does. (Edge runtimes' timers
    // are plain numbers without unref: there is no process to keep alive.)
    (timer as Partial<NodeJS.Timeout>).unref?.();
  };
  if (o.before) schedule();
  return {
    hedge,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
