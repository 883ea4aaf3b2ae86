import { parseOutageKey } from '../../src/core/outage-id';

/*
 * The judge of the chaos test between two monitors (test/faults/peer-chaos.test.ts), pure so that its own
 * rules are tested (test/unit/chaos-judge.test.ts).
 *
 * Which outage a mail is about is read from its identity, not from when it arrived: an outage's DOWN may
 * legitimately arrive after the next outage began (the only live monitor's SMTP refused meanwhile), and
 * attributing it by arrival counted that outage lost and the next one doubled. The identity carries the time the
 * outage was confirmed down on the clock of the monitor that named it; the test steps those clocks (±2 min), so
 * the judge maps it back to true time through each monitor's offset history. That time is in the mail's
 * X-LLM-Sentinel-Outage header (the Message-ID names only the outage's thread, alike on both monitors).
 */

export interface ChaosOutage {
  start: number;
  end: number | null;
  twoWay: boolean;
}

export interface ArrivedMail {
  messageId: string;
  /** Its X-LLM-Sentinel-Outage header: the outage's full key, with the naming monitor's confirmed-down time. */
  outageKey?: string;
  /** When the sink received it (true time). */
  at: number;
}

/** One monitor's wall-clock offset from true time, as a list of steps (from = true time it took effect). */
export type OffsetHistory = ReadonlyArray<{ from: number; offset: number }>;

export interface JudgeFigures {
  outages: number;
  exactlyOnce: number;
  duplicatesSameId: number;
  duplicatesOtherId: number;
  lost: number;
  worstDelayMs: number;
}

/** A daemon reads its offset file every 100 ms: a step takes effect up to then (with margin). */
const STEP_LAG_MS = 500;
/** From an outage's end to the latest a down confirmation can be stamped (a probe already in flight). */
const CONFIRM_AFTER_END_MS = 2_000;

/** [, part, thread] of an outage mail's Message-ID (docs/alerts.md "Threads and Message-IDs"). */
const keyOf = (id: string) => /^<(outage|recovered)\.(primary\.[0-9a-z.]+)@/.exec(id);
/** The confirmed-down time a mail's outage key carries (the last part, base 36), if any. */
const stampOf = (m: ArrivedMail): number | null => {
  const since = m.outageKey ? parseOutageKey('primary', m.outageKey).since : null;
  if (since !== null) return since;
  const k = keyOf(m.messageId)?.[2];
  return k ? parseOutageKey('primary', k).since : null;
};

/** True times at which some monitor's clock read `stamp`. */
export function trueTimes(stamp: number, histories: ReadonlyArray<OffsetHistory>): number[] {
  const out = new Set<number>();
  for (const h of histories) {
    const steps = [{ from: -Infinity, offset: 0 }, ...h];
    steps.forEach((s, i) => {
      const t = stamp - s.offset;
      const until = steps[i + 1]?.from ?? Infinity;
      if (t >= s.from - STEP_LAG_MS && t < until + STEP_LAG_MS) out.add(t);
    });
  }
  return [...out];
}

/**
 * The outage a root mail names: the one whose span holds the true time of its confirmed-down stamp, when exactly
 * one does; else (no stamp, or ambiguous) the outage during which it arrived (the old rule, as a fallback).
 */
export function outageOf(mail: ArrivedMail, outages: ReadonlyArray<ChaosOutage>, histories: ReadonlyArray<OffsetHistory>, healedAt: number): number {
  const stamp = stampOf(mail);
  if (stamp !== null) {
    const times = trueTimes(stamp, histories);
    const hits = new Set<number>();
    outages.forEach((o, i) => {
      if (times.some((t) => t >= o.start && t <= (o.end ?? healedAt) + CONFIRM_AFTER_END_MS)) hits.add(i);
    });
    if (hits.size === 1) return [...hits][0] as number;
  }
  let i = -1;
  outages.forEach((o, j) => {
    if (mail.at >= o.start) i = j;
  });
  return i;
}

export function judgeChaos(outages: ReadonlyArray<ChaosOutage>, mails: ReadonlyArray<ArrivedMail>, histories: ReadonlyArray<OffsetHistory>, healedAt: number): JudgeFigures {
  let exactlyOnce = 0;
  let duplicatesOtherId = 0;
  let lost = 0;
  let worst = 0;
  const roots = mails.filter((m) => keyOf(m.messageId)?.[1] === 'outage').map((m) => ({ m, outage: outageOf(m, outages, histories, healedAt) }));
  outages.forEach((o, i) => {
    const mine = roots.filter((r) => r.outage === i).map((r) => r.m);
    const keys = new Set(mine.map((m) => keyOf(m.messageId)?.[2]));
    const recs = mails.filter((m) => keyOf(m.messageId)?.[1] === 'recovered' && keys.has(keyOf(m.messageId)?.[2]));
    if (mine.length === 0 || recs.length === 0) {
      lost++;
      return;
    }
    worst = Math.max(worst, Math.min(...mine.map((m) => m.at)) - o.start, Math.min(...recs.map((m) => m.at)) - (o.end ?? healedAt));
    const rootIds = new Set(mine.map((m) => m.messageId));
    const recIds = new Set(recs.map((m) => m.messageId));
    if (rootIds.size > 1 || recIds.size > 1) duplicatesOtherId++;
    else if (mine.length === 1 && recs.length === 1) exactlyOnce++;
  });
  const counts = new Map<string, number>();
  for (const m of mails) if (keyOf(m.messageId)) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
  const duplicatesSameId = [...counts.values()].filter((c) => c > 1).length;
  return { outages: outages.length, exactlyOnce, duplicatesSameId, duplicatesOtherId, lost, worstDelayMs: worst };
}
