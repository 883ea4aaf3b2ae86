import { Agent, request } from '../undici';
import type { PeerConfig, PeersConfig } from '../config';
import { isSilent, type PeerReport, type PeerView } from '../core/peers';
import type { Logger } from '../logging';
import type { PublishedPeer } from '../state/types';
import type { Clock } from '../util/clock';
import { MAX_PEER_REPORT_BYTES, parsePeerReport } from './wire';

type PollResult = { ok: true; report: PeerReport } | { ok: false; reason: string };

/**
 * Polls every peer's GET /peer every `interval`, each poll with an exact deadline (AbortSignal.timeout).
 * A peer answering HTML, garbage, a 401, a redirect, another instance's report, or nothing in time is not
 * heard from: the reason is logged once when it starts (and once when the peer answers again), never thrown.
 * Only facts are kept here (core/peers judges them): when each peer last answered and its last report.
 */
export class PeerPoller {
  #views = new Map<string, PeerView>();
  #timers = new Map<string, NodeJS.Timeout>();
  #inflight = new Set<AbortController>();
  #agent: Agent;
  #stopped = false;
  #listeners = new Set<(peer: string) => void>();
  #silent = new Map<string, boolean>();

  constructor(
    private readonly deps: {
      self: string;
      config: PeersConfig;
      clock: Clock;
      logger: Logger;
      version: string;
      /**
       * The previous run's `peers[]` (its state file). A peer that was already silent then counts as silent from
       * the start, so a restart next to a dead peer does not hold every alert for silentAfter waiting for it.
       */
      previous?: readonly PublishedPeer[];
    },
  ) {
    const now = deps.clock.now();
    for (const p of deps.config.monitors) {
      const wasSilent = deps.previous?.some((x) => x.name === p.name && x.silent) ?? false;
      const watchingSince = wasSilent ? now - deps.config.silentAfter : now;
      this.#views.set(p.name, { name: p.name, lastOkAt: null, watchingSince, lastError: null, report: null });
      this.#silent.set(p.name, wasSilent);
    }
    // Its own pool: a peer that hangs must not hold sockets the probes need.
    this.#agent = new Agent({ connections: 2, keepAliveTimeout: 4_000, connect: { timeout: deps.config.timeout } });
  }

  views(): PeerView[] {
    return [...this.#views.values()].map((v) => ({ ...v }));
  }

  /** Called after a poll that made a peer silent or live again (core/peers isSilent), or brought its first answer. */
  onChange(fn: (peer: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  start(): void {
    for (const p of this.deps.config.monitors) this.#schedule(p, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const ac of this.#inflight) ac.abort();
    await this.#agent.close().catch(() => undefined);
  }

  #schedule(p: PeerConfig, delay: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => void this.#pollOnce(p), delay);
    this.#timers.set(p.name, t);
  }

  async #pollOnce(p: PeerConfig): Promise<void> {
    const started = this.deps.clock.mono();
    // A good answer counts as of when it was asked for: polls start every `interval`, so the poll that starts
    // silentAfter after the last good one is the one that finds the peer silent (not the one after it).
    const askedAt = this.deps.clock.now();
    const r = await this.#poll(p);
    if (this.#stopped) return;
    const v = this.#views.get(p.name);
    const first = r.ok && v?.lastOkAt === null;
    if (v) {
      const log = this.deps.logger.child({ component: 'peers', peer: p.name });
      if (r.ok) {
        if (v.lastError !== null || v.lastOkAt === null) log.info({ instance: r.report.instance, version: r.report.version }, `peer ${p.name} answers`);
        if (r.report.rank.join('\u0000') !== this.deps.config.rank.join('\u0000') && v.report?.rank.join('\u0000') !== r.report.rank.join('\u0000')) {
          log.error({ ours: this.deps.config.rank, theirs: r.report.rank }, `peer ${p.name} has a different peers.rank: both may send alerts; make the lists the same on every monitor`);
        }
        Object.assign(v, { lastOkAt: askedAt, lastError: null, report: r.report });
      } else {
        // Logged once per distinct reason, not every interval.
        if (r.reason !== v.lastError) log.warn({ reason: r.reason }, `peer ${p.name} is not answering: ${r.reason}`);
        v.lastError = r.reason;
      }
    }
    if (v) {
      const silent = isSilent(v, this.deps.clock.now(), this.deps.config.silentAfter);
      const was = this.#silent.get(p.name) ?? false;
      this.#silent.set(p.name, silent);
      // Its first answer since start counts too: held alerts can be resolved once every peer is known.
      if (silent !== was || first) for (const fn of this.#listeners) fn(p.name);
    }
    const spent = this.deps.clock.mono() - started;
    this.#schedule(p, Math.max(0, this.deps.config.interval - spent));
  }

  async #poll(p: PeerConfig): Promise<PollResult> {
    const ac = new AbortController();
    this.#inflight.add(ac);
    const signal = AbortSignal.any([ac.signal, AbortSignal.timeout(this.deps.config.timeout)]);
    try {
      const res = await request(`${p.url}/peer`, {
        method: 'GET',
        dispatcher: this.#agent,
        signal,
        headers: { authorization: `Bearer ${p.token.reveal()}`, accept: 'application/json', 'user-agent': `llm-sentinel/${this.deps.version} (peer ${this.deps.self})` },
      });
      const status = res.statusCode;
      const type = String(res.headers['content-type'] ?? '').toLowerCase();
      if (status !== 200) {
        await res.body.dump().catch(() => undefined);
        if (status >= 300 && status < 400) return { ok: false, reason: `redirect (${status} to ${String(res.headers.location ?? '?').slice(0, 100)})` };
        if (status === 401 || status === 403) return { ok: false, reason: `${status}: wrong or missing token (peers.monitors[].token must be the peer's http.token)` };
        return { ok: false, reason: `HTTP ${status}` };
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const c of res.body) {
        total += (c as Buffer).length;
        if (total > MAX_PEER_REPORT_BYTES) {
          res.body.destroy();
          return { ok: false, reason: `answer larger than ${MAX_PEER_REPORT_BYTES} bytes` };
        }
        chunks.push(c as Buffer);
      }
      if (!type.startsWith('application/json')) return { ok: false, reason: `not JSON (content-type ${type.slice(0, 60) || 'none'}; HTML from a proxy or login page?)` };
      const parsed = parsePeerReport(Buffer.concat(chunks).toString('utf8'));
      if (!parsed.ok) return { ok: false, reason: parsed.error };
      if (parsed.report.instance !== p.name) return { ok: false, reason: `answered as instance ${JSON.stringify(parsed.report.instance.slice(0, 100))}, not ${JSON.stringify(p.name)} (wrong URL?)` };
      return parsed;
    } catch (e) {
      if (signal.aborted) return { ok: false, reason: `no answer within ${this.deps.config.timeout}ms` };
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
      return { ok: false, reason: `${code}: ${(e as Error).message}`.slice(0, 200) };
    } finally {
      this.#inflight.delete(ac);
    }
  }
}
