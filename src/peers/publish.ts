import { isSilent, type PeerView } from '../core/peers';
import type { PublishedPeer } from '../state/types';

/**
 * The state file's `peers` section: each peer's last answer, as it said it. This monitor's own verdict stays
 * in `nodes` and is never replaced by a peer's (docs/state-file.md "When monitors disagree").
 */
/** `mono`: the monotonic now (silence); `lastSeen` comes from the wall time it was last heard. */
export function publishedPeers(views: readonly PeerView[], mono: number, silentAfter: number): PublishedPeer[] {
  const now = mono;
  return views.map((v) => ({
    name: v.name,
    // A view without lastOkWall (built by hand) has one clock for both.
    lastSeen: v.lastOkWall !== undefined ? (v.lastOkWall === null ? null : new Date(v.lastOkWall).toISOString()) : v.lastOkAt === null ? null : new Date(v.lastOkAt).toISOString(),
    silent: isSilent(v, now, silentAfter),
    nodes: (v.report?.nodes ?? []).map((n) => ({ name: n.name, status: n.status, since: n.since, reason: n.reason, cause: n.cause })),
  }));
}
