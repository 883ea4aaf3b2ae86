import type BetterSqlite3 from 'better-sqlite3';
import type { PeerAlertMemory, PeerAlertState, PeerDisagreement } from '../core/peer-alerts';
import { toStorageError } from './errors';

/** The peer alerts' memory (0005_peers.sql). */
export interface PeerStore {
  load(): PeerAlertState;
  /** Stores the whole state: peers absent from it are forgotten. */
  save(state: PeerAlertState, at: number): void;
}

function parse(json: string): PeerAlertMemory {
  try {
    const v = JSON.parse(json) as Partial<PeerAlertMemory>;
    const disagree = parseDisagree(v.disagree);
    return {
      silentSince: typeof v.silentSince === 'number' ? v.silentSince : null,
      ...(typeof v.problem === 'string' ? { problem: v.problem } : {}),
      ...(disagree ? { disagree } : {}),
    };
  } catch {
    return { silentSince: null };
  }
}

/** The disagreements remembered per node (issue 22); anything malformed is dropped, never a crash. */
function parseDisagree(v: unknown): Record<string, PeerDisagreement> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const out: Record<string, PeerDisagreement> = {};
  for (const [node, d] of Object.entries(v as Record<string, unknown>)) {
    const x = d as Partial<PeerDisagreement> | null;
    if (x && typeof x.since === 'number' && typeof x.announced === 'boolean') out[node] = { since: x.since, announced: x.announced };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function createPeerStore(db: BetterSqlite3.Database): PeerStore {
  const s = {
    load: db.prepare<[], { peer: string; state: string }>('SELECT peer, state FROM peer_alert_state'),
    upsert: db.prepare<[string, string, number]>(`INSERT INTO peer_alert_state (peer, state, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (peer) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at WHERE state IS NOT excluded.state`),
    remove: db.prepare<[string]>('DELETE FROM peer_alert_state WHERE peer = ?'),
  };
  const save = db.transaction((state: PeerAlertState, at: number): void => {
    for (const [peer, st] of Object.entries(state)) s.upsert.run(peer, JSON.stringify(st), Math.round(at));
    for (const { peer } of s.load.all()) if (!(peer in state)) s.remove.run(peer);
  });
  return {
    load: () => {
      try {
        return Object.fromEntries(s.load.all().map((r) => [r.peer, parse(r.state)]));
      } catch (e) {
        throw toStorageError(e);
      }
    },
    save: (state, at) => {
      try {
        save(state, at);
      } catch (e) {
        throw toStorageError(e);
      }
    },
  };
}
