/** Durations in config and on the command line: `500ms`, `10s`, `5m`, `2h`, `7d`, combinations like `1h30m`. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/** Parses a duration string into milliseconds; returns undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (!WHOLE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return Math.round(total);
}

/** Formats milliseconds compactly for humans: 850ms, 12.3s, 4m05s, 2h10m, 3d4h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const neg = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${neg}${Math.round(a)}ms`;
  if (a < 60_000) return `${neg}${(a / 1000).toFixed(a < 10_000 ? 2 : 1)}s`;
  const totalS = Math.round(a / 1000);
  if (totalS < 3600) return `${neg}${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`;
  const totalM = Math.round(a / 60_000);
  if (totalM < 1440) return `${neg}${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`;
  const totalH = Math.round(a / 3_600_000);
  return `${neg}${Math.floor(totalH / 24)}d${totalH % 24}h`;
}
