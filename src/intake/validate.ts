import { MAX_DETAIL_CHARS, MAX_REASON_CHARS, REASON_PATTERN } from '../client/failure-report';

/** A failure report from an app, as the daemon receives it (POST /report or the drop folder). */
export interface ClientReport {
  node: string;
  reason: string;
  detail?: string;
}

export type ReportCheck = { ok: true; report: ClientReport } | { ok: false; error: string };

const EXAMPLE = '{"node":"primary","reason":"timeout"}';

function own(o: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

/** A value quoted for an error message, short, so a hostile report cannot make a huge answer or log line. */
function quote(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 70 ? `${s.slice(0, 67)}...` : s;
}

/**
 * Checks a parsed report. Reads own properties only (a `__proto__` key is just an unknown field), ignores
 * unknown fields, and builds a fresh object. Errors name the field and, for the node, the valid names:
 * the person reading a 400 is an app developer wiring the client up.
 */
export function validateReport(raw: unknown, nodeNames: readonly string[]): ReportCheck {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: `body must be a JSON object like ${EXAMPLE}` };
  }
  const valid = nodeNames.join(', ');
  const node = own(raw, 'node');
  if (node === undefined) return { ok: false, error: `node: required, one of: ${valid}` };
  if (typeof node !== 'string' || !nodeNames.includes(node)) {
    return { ok: false, error: `node: unknown node ${quote(node)}; valid nodes: ${valid}` };
  }
  const reason = own(raw, 'reason');
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > MAX_REASON_CHARS || !REASON_PATTERN.test(reason)) {
    return {
      ok: false,
      error: `reason: expected a short string (1-${MAX_REASON_CHARS} letters, digits, _ . : -) such as "timeout", got ${quote(reason)}`,
    };
  }
  const detail = own(raw, 'detail');
  if (detail !== undefined && detail !== null && typeof detail !== 'string') {
    return { ok: false, error: `detail: expected a string, got ${quote(detail)}` };
  }
  const report: ClientReport = { node, reason };
  // Control characters would let a report forge extra lines in a plain-text log.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point here
  if (typeof detail === 'string' && detail !== '') report.detail = detail.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, MAX_DETAIL_CHARS);
  return { ok: true, report };
}

/** Parses and checks a report body; never throws. */
export function parseReport(text: string, nodeNames: readonly string[]): ReportCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `body is not valid JSON (${(e as Error).message}); expected ${EXAMPLE}` };
  }
  return validateReport(raw, nodeNames);
}
