import type { PublishedNode, PublishedState } from '../state/types';
import { isStale } from '../state/validate';
import { readByVerdicts } from './consensus';
import type { StateView } from './state-source';
import type { ClientNode, Endpoint, PreferredEndpoint } from './types';

/** The order to try nodes in, and what getPreferredEndpoint reports. Pure: no I/O, time passed in. */
export interface Plan {
  preferred: PreferredEndpoint;
  order: Endpoint[];
}

/** Two URLs name the same server when scheme, host, port and path agree (credentials and a trailing / aside). */
export function sameUrl(a: string, b: string): boolean {
  return normalizeUrl(a) === normalizeUrl(b);
}

function normalizeUrl(s: string): string {
  try {
    const u = new URL(s);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return s.replace(/\/+$/, '').toLowerCase();
  }
}

interface Merged extends Endpoint {
  priority: number;
  /** Position in the app's own list (Infinity when only the monitor knows the node). */
  configIndex: number;
}

/**
 * One list from the app's nodes and the monitor's nodes. A configured node matches a published one by name,
 * else by URL (an app that still uses OLLAMA_PRIMARY_URL calls it "primary" while the monitor may call it
 * "mac-mini"). A match takes the monitor's name, so reports name a node the daemon knows, and the app's URL
 * and headers, because the app may reach the node another way (LAN address, credentials) than the monitor.
 */
function merge(configured: ClientNode[], published: PublishedNode[], fresh: boolean): Merged[] {
  const used = new Set<number>();
  const out: Merged[] = [];
  for (const p of published) {
    let idx = configured.findIndex((c, i) => !used.has(i) && c.name === p.name);
    if (idx < 0) idx = configured.findIndex((c, i) => !used.has(i) && sameUrl(c.url, p.url));
    const c = idx >= 0 ? configured[idx] : undefined;
    if (idx >= 0) used.add(idx);
    out.push({
      name: p.name,
      url: c?.url ?? p.url,
      model: c?.model ?? p.model,
      ...(c?.headers ? { headers: c.headers } : {}),
      ...(fresh ? { status: p.status } : {}),
      priority: p.priority,
      configIndex: idx >= 0 ? idx : Number.POSITIVE_INFINITY,
    });
  }
  configured.forEach((c, i) => {
    if (used.has(i)) return;
    out.push({ name: c.name, url: c.url, model: c.model ?? '', ...(c.headers ? { headers: c.headers } : {}), priority: Number.MAX_SAFE_INTEGER, configIndex: i });
  });
  return out;
}

const strip = (m: Merged): Endpoint => {
  const { priority: _p, configIndex: _c, ...e } = m;
  return e;
};

function ageText(state: PublishedState, now: number): string {
  const age = Math.round((now - Date.parse(state.updatedAt)) / 1000);
  return `${age}s`;
}

/**
 * Fresh state: the monitor's preferred node first, then the nodes it does not see down, by priority, then
 * the ones it sees down (last resort: its view may lag by one probe interval).
 * No usable state: the app's configured order, then any node only a stale document knows.
 * A stale document's preferred node is deliberately not used: with the monitor dead nobody knows how old
 * that choice is, and the configured order is what the app did before it had a monitor.
 */
export function plan(configured: ClientNode[], view: StateView | undefined, now: number, staleAfterMs?: number): Plan {
  // A document whose preferred node is one it calls down, or none of its nodes, is read by its node verdicts
  // (issue 22): the client never goes to a node no monitor lists.
  const state = view?.state && readByVerdicts(view.state).state;
  const fresh = state !== undefined && !isStale(state, now, staleAfterMs ?? state.staleAfterMs);
  const merged = merge(configured, state?.nodes ?? [], fresh);

  if (fresh && state) {
    const pref =
      merged.find((m) => m.name === state.preferred.name) ??
      // The contract says preferred is one of nodes; if a writer broke that, still honour its choice.
      ({ ...state.preferred, priority: -1, configIndex: Number.POSITIVE_INFINITY } as Merged);
    const rest = merged
      .filter((m) => m !== pref)
      .sort((a, b) => Number(a.status === 'down') - Number(b.status === 'down') || a.priority - b.priority || a.configIndex - b.configIndex);
    let reason: string | undefined;
    const d = view?.disagreement;
    if (state.allDown) reason = 'the monitor sees every node down; this is its last preferred node';
    else if (view?.error) reason = `using the state from ${state.updatedAt}; the last refresh failed: ${view.error}`;
    else if (d) reason = `the monitors disagree (${d.monitors.map((m) => `${m.monitor} prefers ${m.preferred}`).join(', ')}); ${d.why}`;
    return {
      preferred: {
        name: pref.name,
        url: pref.url,
        model: pref.model,
        stale: false,
        allDown: state.allDown,
        source: view?.source ?? 'config',
        ...(reason ? { reason } : {}),
        ...(d ? { disagreement: d } : {}),
      },
      order: [pref, ...rest].map(strip),
    };
  }

  const order = merged.sort((a, b) => a.configIndex - b.configIndex || a.priority - b.priority).map(strip);
  let reason: string;
  if (state) reason = `state is stale: updated ${ageText(state, now)} ago, older than ${staleAfterMs ?? state.staleAfterMs}ms (is the monitor running?)`;
  else reason = view?.error ?? 'no state source configured (stateFile or stateUrl)';
  const first = order[0];
  // The client refuses to start without a configured node, so this only guards a broken caller.
  if (!first) return { preferred: { name: '', url: '', model: '', stale: true, allDown: false, source: 'config', reason }, order };
  return { preferred: { name: first.name, url: first.url, model: first.model, stale: true, allDown: false, source: 'config', reason }, order };
}
