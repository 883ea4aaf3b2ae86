/**
 * A small reader of plain cron expressions and the next local time one matches. Pure (time passed in).
 *
 * Why, beside node-cron: node-cron works out the next run with `Intl.DateTimeFormat`, and the first use of
 * Intl makes V8 page in ICU's locale data, about 5.5 MB of the daemon's resident memory for an hourly job.
 * Plain expressions (numbers, names, `*`, ranges, steps, lists; 5 fields, or 6 with seconds `0`) are read here
 * and scheduled with `Date`'s local-time getters; anything else (`L`, `#`, `?`, other seconds) returns
 * undefined and the caller keeps node-cron. Day of month and day of week follow node-cron's rule, not classic
 * cron's: when both are restricted, a day must match both (AND; docs/alerts.md says the same for windows).
 */

export interface CronSpec {
  minute: ReadonlySet<number>;
  hour: ReadonlySet<number>;
  dom: ReadonlySet<number>;
  month: ReadonlySet<number>;
  /** 0 = Sunday (7 is read as 0). */
  dow: ReadonlySet<number>;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldRule {
  min: number;
  max: number;
  /** Name → value: months are 1-based, days 0-based. */
  names?: readonly string[];
  base?: number;
}

const RULES: readonly FieldRule[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS, base: 1 },
  { min: 0, max: 7, names: DAYS, base: 0 },
];

function value(token: string, rule: FieldRule): number | undefined {
  if (/^\d{1,2}$/.test(token)) return Number(token);
  const i = rule.names?.indexOf(token.toLowerCase()) ?? -1;
  return i >= 0 ? i + (rule.base ?? 0) : undefined;
}

function field(text: string, rule: FieldRule): Set<number> | undefined {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) return undefined;
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) return undefined;
    let lo: number | undefined;
    let hi: number | undefined;
    if (m[1] === '*') {
      lo = rule.min;
      hi = rule.max;
    } else {
      const [a, b] = (m[1] as string).split('-');
      // `5/10` (a start with a step, no range) is classic cron but node-cron refuses it: so do we, so that
      // every expression read here is one node-cron accepts too (config validation relies on that).
      if (b === undefined && m[2] !== undefined) return undefined;
      lo = value(a as string, rule);
      hi = b === undefined ? lo : value(b, rule);
    }
    if (lo === undefined || hi === undefined || lo < rule.min || hi > rule.max || lo > hi) return undefined;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** The spec of a plain expression; undefined for anything this reader does not handle (use node-cron). */
export function parseCron(expr: string): CronSpec | undefined {
  let parts = expr.trim().split(/\s+/);
  if (parts.length === 6) {
    if (parts[0] !== '0') return undefined;
    parts = parts.slice(1);
  }
  if (parts.length !== 5) return undefined;
  const sets = parts.map((p, i) => field(p, RULES[i] as FieldRule));
  if (sets.some((s) => s === undefined)) return undefined;
  const [minute, hour, dom, month, dowRaw] = sets as Set<number>[];
  const dow = new Set([...(dowRaw as Set<number>)].map((d) => d % 7));
  return { minute: minute as Set<number>, hour: hour as Set<number>, dom: dom as Set<number>, month: month as Set<number>, dow };
}

function dayMatches(s: CronSpec, d: Date): boolean {
  const dom = s.dom.has(d.getDate());
  const dow = s.dow.has(d.getDay());
  return dom && dow;
}

/** The first whole local minute strictly after `afterMs` that matches; undefined if none within 5 years. */
export function nextCronMatch(s: CronSpec, afterMs: number): number | undefined {
  const d = new Date(afterMs);
  d.setSeconds(0, 0);
  d.setMinutes(d.getMinutes() + 1);
  const limit = afterMs + 5 * 366 * 86_400_000;
  while (d.getTime() <= limit) {
    if (!s.month.has(d.getMonth() + 1)) {
      d.setMonth(d.getMonth() + 1, 1);
      d.setHours(0, 0, 0, 0);
    } else if (!dayMatches(s, d)) {
      d.setDate(d.getDate() + 1);
      d.setHours(0, 0, 0, 0);
    } else if (!s.hour.has(d.getHours())) {
      d.setHours(d.getHours() + 1, 0, 0, 0);
    } else if (!s.minute.has(d.getMinutes())) {
      d.setMinutes(d.getMinutes() + 1, 0, 0);
    } else return d.getTime();
  }
  return undefined;
}
