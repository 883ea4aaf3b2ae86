import { Agent, request } from '../undici';
import type { PeerConfig, PeersConfig } from '../config';
import { isSilent, type PeerReport, type PeerView } from '../core/peers';
import type { Logger } from '../logging';
import type { PublishedPeer } from '../state/types';
import type { Clock } from '../util/clock';
import { MAX_PEER_REPORT_BYTES, parsePeerReport } from './wire';

type PollResult = { ok: true; report: PeerReport; problem?: string } | { ok: false; reason: string; problem?: string; answersAs?: string };

/**
 * Polls every peer's /peer every `interval`, each poll with an exact deadline (`timeout`, independent of the
 * interval: a slow peer is logged slow, not counted silent). Each poll is a POST carrying this monitor's own
 * report, so the peer hears from us whenever we reach it (heard both ways: a one-way partition leaves both
 * monitors informed); `heard()` takes the reports peers POST to us. A peer answering HTML, garbage, a 401, a
 * redirect, another instance's report, or nothing in time is not heard from: the reason is logged once when it
 * starts (and once when the peer answers again), never thrown. Misconfigurations (404: peers configured on one
 * side only; 401/403; a redirect such as Cloudflare Access; another instance name; a different rank) are kept
 * as the peer's `problem` for the "monitors disagree" alert, `check` and /healthz.
 * Only facts are kept here (core/peers judges them), on the monotonic clock.
 */
export class PeerPoller {
  #views = new Map<string, PeerView>();
  #timers = new Map<string, NodeJS.Timeout>();
  #inflight = new Map<string, AbortController>();
  #agent: Agent;
  #stopped = false;
  #listeners = new Set<(peer: string) => void>();
  #silent = new Map<string, boolean>();
  #slowLogged = new Set<string>();
  #strangerLogged = new Set<string>();
  /** Peers whose answer to one of our polls was logged ("answers"): its own polls of us do not count here. */
  #answered = new Set<string>();

  constructor(
    private readonly deps: {
      self: string;
      config: PeersConfig;
      clock: Clock;
      logger: Logger;
      version: string;
      /** This monitor's own report, sent with each poll (absent: a plain GET, as older versions did). */
      ownReport?: () => unknown;
      /**
       * The previous run's `peers[]` (its state file). A peer that was already silent then counts as silent from
       * the start, so a restart next to a dead peer does not hold every alert for silentAfter waiting for it.
       */
      previous?: readonly PublishedPeer[];
    },
  ) {
    const mono = deps.clock.mono();
    for (const p of deps.config.monitors) {
      const wasSilent = deps.previous?.some((x) => x.name === p.name && x.silent) ?? false;
      const watchingSince = wasSilent ? mono - deps.config.silentAfter : mono;
      this.#views.set(p.name, { name: p.name, lastOkAt: null, lastOkWall: null, watchingSince, lastError: null, report: null, answerMs: null, problem: null });
      this.#silent.set(p.name, wasSilent);
    }
    // Its own pool: a peer that hangs must not hold sockets the probes need.
    this.#agent = new Agent({ connections: 2, keepAliveTimeout: 4_000, connect: { timeout: Math.min(deps.config.timeout, 10_000) } });
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

  /** Polls every peer now (not waiting for the interval), e.g. right after a send so followers learn of it at once. */
  pollNow(): void {
    if (this.#stopped) return;
    for (const p of this.deps.config.monitors) {
      if (this.#inflight.has(p.name)) continue;
      clearTimeout(this.#timers.get(p.name));
      this.#schedule(p, 0);
    }
  }

  /**
   * A peer's own report, arriving with its authenticated poll of us (POST /peer): it is heard from. A report
   * naming a monitor that is not among our peers is ignored and logged once (returns false).
   */
  heard(report: PeerReport): boolean {
    const v = this.#views.get(report.instance);
    if (!v) {
      if (!this.#strangerLogged.has(report.instance)) {
        this.#strangerLogged.add(report.instance);
        this.deps.logger.child({ component: 'peers' }).warn({ instance: report.instance.slice(0, 100) }, `a monitor named ${JSON.stringify(report.instance.slice(0, 100))} polls us, but it is not in peers.monitors (names must match each peer's instance); ignored`);
      }
      return false;
    }
    const first = v.lastOkAt === null;
    Object.assign(v, { lastOkAt: this.deps.clock.mono(), lastOkWall: this.deps.clock.now(), report });
    this.#judge(v.name, first);
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const ac of this.#inflight.values()) ac.abort();
    await this.#agent.close().catch(() => undefined);
  }

  #schedule(p: PeerConfig, delay: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => void this.#pollOnce(p), delay);
    this.#timers.set(p.name, t);
  }

  #judge(name: string, first: boolean): void {
    const v = this.#views.get(name);
    if (!v) return;
    const silent = isSilent(v, this.deps.clock.mono(), this.deps.config.silentAfter);
    const was = this.#silent.get(name) ?? false;
    this.#silent.set(name, silent);
    // Its first answer since start counts too: held alerts can be resolved once every peer is known.
    if (silent !== was || first) for (const fn of this.#listeners) fn(name);
  }

  async #pollOnce(p: PeerConfig): Promise<void> {
    if (this.#inflight.has(p.name)) return;
    const started = this.deps.clock.mono();
    // A good answer counts as of when it was asked for: polls start every `interval`, so the poll that starts
    // silentAfter after the last good one is the one that finds the peer silent (not the one after it).
    const askedWall = this.deps.clock.now();
    const r = await this.#poll(p);
    if (this.#stopped) return;
    const v = this.#views.get(p.name);
    const spent = this.deps.clock.mono() - started;
    const first = r.ok && v?.lastOkAt === null;
    if (v) {
      const log = this.deps.logger.child({ component: 'peers', peer: p.name });
      if (r.ok) {
        if (v.lastError !== null || !this.#answered.has(p.name)) log.info({ instance: r.report.instance, version: r.report.version }, `peer ${p.name} answers`);
        const rankProblem = r.report.rank.join('\u0000') !== this.deps.config.rank.join('\u0000') ? `peer ${p.name} has a different peers.rank (${r.report.rank.join(', ')}; ours ${this.deps.config.rank.join(', ')})` : null;
        if (rankProblem && v.problem !== rankProblem) log.error({ ours: this.deps.config.rank, theirs: r.report.rank }, `${rankProblem}: both rank by name until the lists are the same on every monitor`);
        this.#answered.add(p.name);
        // Slow is not silent: it answered, late. Logged once per slow spell.
        if (spent > this.deps.config.timeout / 2) {
          if (!this.#slowLogged.has(p.name)) log.warn({ ms: Math.round(spent) }, `peer ${p.name} is slow: answered in ${Math.round(spent)}ms (deadline ${this.deps.config.timeout}ms); still live`);
          this.#slowLogged.add(p.name);
        } else this.#slowLogged.delete(p.name);
        // Heard as of when it was asked (monotonic), unless its own poll of us came later.
        const asked = started;
        Object.assign(v, {
          lastOkAt: Math.max(asked, v.lastOkAt ?? -Infinity),
          lastOkWall: Math.max(askedWall, v.lastOkWall ?? -Infinity),
          lastError: null,
          report: r.report,
          answerMs: Math.round(spent),
          problem: rankProblem,
          answersAs: null,
        });
      } else {
        // Logged once per distinct reason, not every interval.
        if (r.reason !== v.lastError) log.warn({ reason: r.reason }, `peer ${p.name} is not answering: ${r.reason}`);
        v.lastError = r.reason;
        v.problem = r.problem ?? (v.problem?.includes('peers.rank') ? v.problem : null);
        v.answersAs = r.answersAs ?? null;
      }
    }
    this.#judge(p.name, first);
    this.#schedule(p, Math.max(0, this.deps.config.interval - spent));
  }

  async #poll(p: PeerConfig): Promise<PollResult> {
    const r = await this.#pollAttempt(p);
    // A pooled keep-alive connection the peer had just closed (its idle timer ran out while our answer was on a
    // slow path): one fresh try, as the request is idempotent. Not a sign of a dead peer.
    if (!r.ok && /^(UND_ERR_SOCKET|ECONNRESET|EPIPE)\b/.test(r.reason) && !this.#stopped) return this.#pollAttempt(p);
    return r;
  }

  async #pollAttempt(p: PeerConfig): Promise<PollResult> {
    const ac = new AbortController();
    this.#inflight.set(p.name, ac);
    const signal = AbortSignal.any([ac.signal, AbortSignal.timeout(this.deps.config.timeout)]);
    const own = this.deps.ownReport?.();
    try {
      const headers: Record<string, string> = {
        ...Object.fromEntries(Object.entries(p.headers ?? {}).map(([k, v]) => [k, v.reveal()])),
        authorization: `Bearer ${p.token.reveal()}`,
        accept: 'application/json',
        'user-agent': `llm-sentinel/${this.deps.version} (peer ${this.deps.self})`,
      };
      let res = await request(`${p.url}/peer`, {
        method: own === undefined ? 'GET' : 'POST',
        dispatcher: this.#agent,
        signal,
        headers: own === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(own === undefined ? {} : { body: JSON.stringify(own) }),
      });
      if (res.statusCode === 405 && own !== undefined) {
        // An older peer answers GET only.
        await res.body.dump().catch(() => undefined);
        res = await request(`${p.url}/peer`, { method: 'GET', dispatcher: this.#agent, signal, headers });
      }
      const status = res.statusCode;
      const type = String(res.headers['content-type'] ?? '').toLowerCase();
      if (status !== 200) {
        await res.body.dump().catch(() => undefined);
        if (status >= 300 && status < 400) {
          const reason = `redirect (${status} to ${String(res.headers.location ?? '?').slice(0, 100)})`;
          return { ok: false, reason, problem: `peer ${p.name} answers ${reason}: a login page such as Cloudflare Access in front of /peer? (send its service token with peers.monitors[].headers)` };
        }
        if (status === 401 || status === 403) {
          const reason = `${status}: wrong or missing token (peers.monitors[].token must be the peer's peers.token or http.token)`;
          return { ok: false, reason, problem: `peer ${p.name} refuses our token (${status})` };
        }
        if (status === 404) return { ok: false, reason: 'HTTP 404: no /peer there', problem: `peer ${p.name} has no peers configured (its /peer answers 404): it speaks alone` };
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
      if (parsed.report.instance !== p.name) {
        const said = JSON.stringify(parsed.report.instance.slice(0, 100));
        return { ok: false, reason: `answered as instance ${said}, not ${JSON.stringify(p.name)} (wrong URL?)`, problem: `peer ${p.name} answers as instance ${said}: names must match each monitor's instance`, answersAs: parsed.report.instance.slice(0, 100) };
      }
      return parsed;
    } catch (e) {
      if (signal.aborted) return { ok: false, reason: `no answer within ${this.deps.config.timeout}ms` };
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
      return { ok: false, reason: `${code}: ${(e as Error).message}`.slice(0, 200) };
    } finally {
      this.#inflight.delete(p.name);
    }
  }
}
