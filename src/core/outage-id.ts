/**
 * An outage's identity across monitors (docs/alerts.md "Threads and Message-IDs"). Pure.
 *
 *   key     `{node}.{epoch}.{n}.{since}`
 *   thread  `{node}.{epoch}.{n}`: the n-th outage of the node in a chain that began at `epoch`. The thread names
 *           the Message-IDs, so it must come out the same on two monitors that cannot talk (a two-way
 *           partition). It does, because it is counted, not timed: each monitor numbers a new outage one past
 *           the newest it knows of (its own, or any a peer reported), and monitors that saw the same outages
 *           since they last heard each other count alike. A chain's epoch is the time its first monitor began
 *           counting (base 36 ms); monitors adopt the best chain they hear of, so a recreated database joins its
 *           peer's chain, and only when every database is new does a new epoch start (its IDs are new too).
 *   since   when the monitor that named it confirmed it down (base 36 ms): the time the Subject shows. Two
 *           monitors naming one outage on their own differ here only; they settle on the earlier one once
 *           they hear each other.
 *
 * Keys without a number, `{node}.{since}` (named apart, or stored by older builds), are each their own thread (n = 0).
 */

export interface OutageId {
  thread: string;
  epoch: number;
  /** Its number in the chain; 0: a key of an older version (no chain) or a chain's root. */
  n: number;
  since: number | null;
}

const B36 = /^[0-9a-z]{1,11}$/;
const b36 = (ms: number) => Math.max(0, Math.round(ms)).toString(36);
/** The last millisecond a Date can hold: a time part past it is not a time (a peer's garbage). */
const MAX_MS = 8.64e15;
const time36 = (t: string): number | null => {
  const v = B36.test(t) ? parseInt(t, 36) : NaN;
  return Number.isFinite(v) && v <= MAX_MS ? v : null;
};

export function parseOutageKey(node: string, key: string): OutageId {
  const rest = key.startsWith(`${node}.`) ? key.slice(node.length + 1).split('.') : [];
  const [epoch, n, since] = rest;
  const e = epoch === undefined ? null : time36(epoch);
  const t = since === undefined ? null : time36(since);
  if (rest.length === 3 && e !== null && t !== null && n !== undefined && /^\d{1,9}$/.test(n)) {
    return { thread: `${node}.${epoch}.${n}`, epoch: e, n: Number(n), since: t };
  }
  const last = time36(key.slice(key.lastIndexOf('.') + 1));
  const at = key.includes('.') ? last : null;
  return { thread: key, epoch: at ?? 0, n: 0, since: at };
}

/** A key this monitor could have written for `node`: numbered or by time, every time part a real time. */
export function isOutageKey(node: string, key: string): boolean {
  const rest = key.startsWith(`${node}.`) ? key.slice(node.length + 1) : '';
  const id = parseOutageKey(node, key);
  return id.since !== null && (id.thread !== key || /^[0-9a-z]{1,11}$/.test(rest));
}

/**
 * A key outside any chain, `{node}.{since}`: its own thread, named by time. A monitor uses it when its count may
 * be stale (see alert-plan newKey): two different outages then never share a Message-ID.
 */
export const standaloneKey = (node: string, since: number): string => `${node}.${b36(since)}`;

/** The key a monitor that has seen nothing names for a node: the root of a new chain (n = 0, never mailed). */
export const chainRoot = (node: string, at: number): string => `${node}.${b36(at)}.0.${b36(at)}`;

/** Its Message-ID part: the same for every monitor that names the outage alike. */
export const outageThread = (node: string, key: string): string => parseOutageKey(node, key).thread;

/** Two keys name the same outage (they may differ in the naming monitor's confirmed-down time). */
export function sameOutage(node: string, a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  return a === b || outageThread(node, a) === outageThread(node, b);
}

/**
 * The order every monitor uses to settle on one key (negative: `a` is the better one). Truth table:
 *   a further chain (higher n)                    → better (it counted an outage the other missed);
 *   same n, different epochs                      → the older epoch (both sides pick it);
 *   same thread, different `since`                → the earlier since (so one Subject);
 *   an older version's key (n = 0, no chain)      → behind every chained key.
 */
export function compareKeys(node: string, a: string, b: string): number {
  const x = parseOutageKey(node, a);
  const y = parseOutageKey(node, b);
  if (x.n !== y.n) return y.n - x.n;
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  if ((x.since ?? Infinity) !== (y.since ?? Infinity)) return (x.since ?? Infinity) - (y.since ?? Infinity);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The best of some keys (undefined when none). */
export function bestKey(node: string, keys: ReadonlyArray<string | null | undefined>): string | undefined {
  let best: string | undefined;
  for (const k of keys) if (k && (best === undefined || compareKeys(node, k, best) < 0)) best = k;
  return best;
}

/** The best key of a chain among some (keys of older versions have none). */
export const bestChained = (node: string, keys: ReadonlyArray<string | null | undefined>): string | undefined =>
  bestKey(node, keys.filter((k): k is string => !!k && parseOutageKey(node, k).thread !== k));

/** The key of a new outage confirmed down at `since`: one past the best chain known (a new chain when none). */
export function nextOutageKey(node: string, since: number, known: ReadonlyArray<string | null | undefined>): string {
  const best = bestChained(node, known);
  const found = best ? parseOutageKey(node, best) : undefined;
  // A number past 8 digits (a peer's absurd report) starts a new chain rather than overflow the key's format.
  const chain = found && found.n < 99_999_999 ? found : { epoch: since, n: 0 };
  return `${node}.${b36(chain.epoch)}.${chain.n + 1}.${b36(since)}`;
}
