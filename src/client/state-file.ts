import { constants as fsConstants, promises as fsp, statSync } from 'node:fs';
import { parseState, MAX_STATE_BYTES } from '../state/validate';
import { errCode, singleFlight, type StateSource, type StateView } from './state-source';

/* Node build only (src/client/node.ts injects it): the fetch-only build reads monitors over HTTP. */

/**
 * Reads the daemon's state file. Unchanged files cost one stat: the cache key is (device, inode, size,
 * mtime, ctime) and the daemon replaces the file by rename, so every new document has a new inode.
 * The file is read through the descriptor that was fstat'ed, so the cached key always matches the text.
 * The file on disk is the truth: when it is missing or invalid, no older copy is used.
 */
export function fileStateSource(path: string): StateSource {
  let cache: { key: string; view: StateView } | undefined;

  const keyOf = (s: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string =>
    `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

  const load = async (): Promise<StateView> => {
    let key: string;
    try {
      // A synchronous stat (a microsecond or two) rather than fs.promises: the thread-pool round trip of an
      // async stat cost more than reading and parsing the whole file, which defeated the cache.
      key = keyOf(statSync(path, { bigint: true }));
    } catch (e) {
      cache = undefined;
      return { source: 'file', error: `state file ${path} unreadable (${errCode(e)})` };
    }
    if (cache?.key === key) return cache.view;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(path, fsConstants.O_RDONLY);
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return { source: 'file', error: `state file ${path} is not a regular file` };
      if (st.size > BigInt(MAX_STATE_BYTES)) return { source: 'file', error: `state file ${path} is larger than ${MAX_STATE_BYTES} bytes` };
      const text = await fh.readFile('utf8');
      const parsed = parseState(text);
      const view: StateView = parsed.ok ? { source: 'file', state: parsed.state } : { source: 'file', error: `state file ${path}: ${parsed.error}` };
      cache = { key: keyOf(st), view };
      return view;
    } catch (e) {
      cache = undefined;
      return { source: 'file', error: `state file ${path} unreadable (${errCode(e)})` };
    } finally {
      await fh?.close().catch(() => undefined);
    }
  };
  return { read: singleFlight(load) };
}
