import { createHash } from 'node:crypto';
import { makeRoom } from './residency';
import { wait } from './time';

/** Go's time.Duration(math.MaxInt64) in ms: what a negative keep_alive turns into ("forever", ~292 years). */
export const FOREVER_MS = 9_223_372_036_854;
/** OLLAMA_KEEP_ALIVE's default. */
export const DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;
const CONTEXT_LENGTH = 4096;
/** A fixed date so listings are the same on every run; models are spaced an hour apart, newest first. */
const MODIFIED_BASE_MS = Date.UTC(2025, 4, 4, 17, 37, 44, 706);

export interface ModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

export interface ModelInfo {
  /** Full name with tag, e.g. `llama3.2:latest`. */
  name: string;
  size: number;
  digest: string;
  modifiedAt: number;
  details: ModelDetails;
  thinking: boolean;
  /** Honours qwen3's `/no_think` soft switch (qwen3 does; deepseek-r1 has none). */
  softSwitch: boolean;
  /** Namespace for /v1/models `owned_by`: `library` for official models. */
  owner: string;
}

/** `llama3.2` → `llama3.2:latest`; a name with a tag is kept. */
export function fullName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') ? name : `${name}:latest`;
}

function baseName(name: string): string {
  const noTag = fullName(name).replace(/:[^:/]*$/, '');
  return noTag.slice(noTag.lastIndexOf('/') + 1);
}

/** The brief's rule for thinking models: the name starts with qwen3 or deepseek-r1. */
export function isThinkingModel(name: string): boolean {
  const base = baseName(name).toLowerCase();
  return base.startsWith('qwen3') || base.startsWith('deepseek-r1');
}

function describe(name: string, index: number): ModelInfo {
  const full = fullName(name);
  const base = baseName(name);
  const tag = full.slice(full.lastIndexOf(':') + 1);
  const billions = /^(\d+(?:\.\d+)?)b\b/i.exec(tag);
  const params = billions ? Number(billions[1]) : 3.2;
  const family = /^[a-z]+/i.exec(base)?.[0]?.toLowerCase() ?? base;
  const slash = full.lastIndexOf('/');
  return {
    name: full,
    // Roughly a Q4_K_M file: ~0.63 bytes per parameter (llama3.2 3.2B is 2019393189 bytes).
    size: Math.round(params * 631_060_371),
    digest: createHash('sha256').update(full).digest('hex'),
    modifiedAt: MODIFIED_BASE_MS - index * 3_600_000,
    details: {
      parent_model: '',
      format: 'gguf',
      family,
      families: [family],
      parameter_size: `${params.toFixed(1)}B`,
      quantization_level: 'Q4_K_M',
    },
    thinking: isThinkingModel(name),
    softSwitch: base.toLowerCase().startsWith('qwen3'),
    owner: slash < 0 ? 'library' : full.slice(0, slash).split('/').pop() ?? 'library',
  };
}

interface Loaded {
  model: ModelInfo;
  refs: number;
  /** Epoch ms; while in use it is an estimate (now + keep_alive), like Ollama's scheduler. */
  expiresAt: number;
  /** Resolves when the simulated load finished (true) or was abandoned (false). */
  ready: Promise<boolean>;
  /** Epoch ms of the last request start or end: the least recently used idle model is evicted first. */
  lastUsed: number;
}

/** Memory: capacity in bytes (undefined: unlimited) and model sizes overriding the ones guessed from the name. */
export interface MemoryOptions {
  capacityBytes?: number;
  sizes?: Readonly<Record<string, number>>;
}

/** A model load the simulator did, and what it evicted to make room (docs/simulator.md "Memory"). */
export interface ModelLoad {
  model: string;
  at: number;
  evicted: string[];
}

export interface LoadedView {
  model: ModelInfo;
  expiresAt: number;
  contextLength: number;
}

/**
 * Installed models and which of them are "in memory". Expiry is computed lazily on access, so the simulator
 * needs no timers to unload models.
 */
export class ModelRegistry {
  private readonly models: ModelInfo[];
  private readonly loaded = new Map<string, Loaded>();
  private readonly capacity: number | undefined;
  /** Every model load (cold start), with what it evicted. */
  readonly loadLog: ModelLoad[] = [];

  constructor(names: readonly string[], private readonly loadMs: number, memory: MemoryOptions = {}) {
    this.capacity = memory.capacityBytes;
    this.models = names.map((n, i) => describe(n, i));
    for (const [name, size] of Object.entries(memory.sizes ?? {})) {
      const m = this.find(name);
      if (m) m.size = size;
    }
  }

  list(): ModelInfo[] {
    return [...this.models].sort((a, b) => b.modifiedAt - a.modifiedAt);
  }

  find(name: string): ModelInfo | undefined {
    if (!name) return undefined;
    const wanted = fullName(name).toLowerCase();
    return this.models.find((m) => m.name.toLowerCase() === wanted);
  }

  running(now: number): LoadedView[] {
    const views: LoadedView[] = [];
    for (const [key, entry] of this.loaded) {
      if (entry.refs === 0 && entry.expiresAt <= now) {
        this.loaded.delete(key);
        continue;
      }
      views.push({ model: entry.model, expiresAt: entry.expiresAt, contextLength: CONTEXT_LENGTH });
    }
    return views.sort((a, b) => b.expiresAt - a.expiresAt);
  }

  /**
   * Gets a "runner" for the model, simulating a cold load when it is not in memory. Returns false when the
   * caller's signal aborted first; like Ollama, a load abandoned by its only client is dropped.
   */
  async acquire(model: ModelInfo, keepAliveMs: number, signal: AbortSignal): Promise<boolean> {
    const now = Date.now();
    let entry = this.loaded.get(model.name);
    if (entry && entry.refs === 0 && entry.expiresAt <= now) {
      this.loaded.delete(model.name);
      entry = undefined;
    }
    if (!entry) {
      const evicted = await this.makeRoom(model, signal);
      if (!evicted) return false;
      // Another request for the same model may have started its load while this one waited for room.
      entry = this.loaded.get(model.name);
    }
    if (!entry) {
      const loading: Loaded = { model, refs: 0, expiresAt: expiry(Date.now(), keepAliveMs), ready: Promise.resolve(true), lastUsed: Date.now() };
      loading.ready = wait(this.loadMs, signal).then(() => !signal.aborted);
      this.loaded.set(model.name, loading);
      entry = loading;
    }
    entry.refs++;
    entry.lastUsed = Date.now();
    const ok = await entry.ready;
    if (!ok || signal.aborted) {
      entry.refs--;
      if (entry.refs === 0 && !ok && this.loaded.get(model.name) === entry) this.loaded.delete(model.name);
      return false;
    }
    return true;
  }

  /** The request is done: the model idles for keep_alive (0 unloads it now). */
  release(model: ModelInfo, keepAliveMs: number): void {
    const entry = this.loaded.get(model.name);
    if (!entry) return;
    entry.refs = Math.max(0, entry.refs - 1);
    entry.lastUsed = Date.now();
    if (entry.refs > 0) return;
    if (keepAliveMs === 0) this.loaded.delete(model.name);
    else entry.expiresAt = expiry(Date.now(), keepAliveMs);
  }

  /**
   * Evicts idle models, least recently used first, until `model` fits (residency.ts); waits while the only
   * candidates are busy. Records the load. Returns the evicted names, or undefined when the signal aborted.
   */
  private async makeRoom(model: ModelInfo, signal: AbortSignal): Promise<string[] | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      this.running(Date.now()); // drops expired models first: they free memory without an eviction
      const resident = [...this.loaded.values()].map((e) => ({ name: e.model.name, size: e.model.size, refs: e.refs, lastUsed: e.lastUsed }));
      const room = makeRoom(resident, model.size, this.capacity);
      if (room.ok) {
        for (const name of room.evict) this.loaded.delete(name);
        this.loadLog.push({ model: model.name, at: Date.now(), evicted: room.evict });
        return room.evict;
      }
      await wait(20, signal);
    }
  }

  unload(model: ModelInfo): void {
    const entry = this.loaded.get(model.name);
    if (entry && entry.refs === 0) this.loaded.delete(model.name);
  }
}

function expiry(now: number, keepAliveMs: number): number {
  return keepAliveMs < 0 ? now + FOREVER_MS : now + keepAliveMs;
}
