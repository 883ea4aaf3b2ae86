/** Shared by the client*, http* and dropbox tests: a PublishedState builder and temp folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublishedNode, PublishedState, PublishedStatus } from '../../src/state/types';

export interface NodeSpec {
  name: string;
  url: string;
  status?: PublishedStatus;
  model?: string;
}

/** A valid document: nodes in priority order, `preferred` by name (default: the first node not down). */
export function makeState(nodes: NodeSpec[], opts: { preferred?: string; updatedAt?: number; staleAfterMs?: number; allDown?: boolean } = {}): PublishedState {
  const at = new Date(opts.updatedAt ?? Date.now()).toISOString();
  const published: PublishedNode[] = nodes.map((n, i) => ({
    name: n.name,
    url: n.url,
    model: n.model ?? 'llama3.2',
    api: 'ollama',
    priority: i,
    status: n.status ?? 'up',
    since: at,
    statusReason: n.status === 'down' ? 'refused' : 'ok',
    lastCheckAt: at,
    lastOkAt: n.status === 'down' ? null : at,
    consecutiveFailures: n.status === 'down' ? 3 : 0,
    consecutiveSuccesses: n.status === 'down' ? 0 : 2,
    lastError: n.status === 'down' ? { reason: 'refused', message: 'connect ECONNREFUSED', at } : null,
    latency: null,
  }));
  const pref = published.find((n) => n.name === opts.preferred) ?? published.find((n) => n.status !== 'down') ?? published[0];
  if (!pref) throw new Error('makeState: no nodes');
  return {
    schemaVersion: 1,
    updatedAt: at,
    staleAfterMs: opts.staleAfterMs ?? 30_000,
    monitor: { instance: 'test', version: '0.0.0', pid: 1, startedAt: at },
    preferred: { name: pref.name, url: pref.url, model: pref.model, api: pref.api },
    allDown: opts.allDown ?? published.every((n) => n.status === 'down'),
    nodes: published,
  };
}

export function tempDir(prefix = 'sentinel-client-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

