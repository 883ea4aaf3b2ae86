import { z } from 'zod';
import { isOutageKey } from '../core/outage-id';
import type { PeerReport } from '../core/peers';

/** GET /peer bodies larger than this are not a peer's answer (a report is a few KiB). */
export const MAX_PEER_REPORT_BYTES = 256 * 1024;

const isoDate = z.string().max(64).refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO date');
const name = z.string().min(1).max(200);
/** An outage key must be one a monitor writes for that node (core/outage-id): an absurd one would be adopted and rendered. */
const keyOfNode = (x: { node: string; key: string }) => isOutageKey(x.node, x.key);
const KEY_MESSAGE = 'an outage key of its node ({node}.{chain}.{n}.{since} or {node}.{since}, times in base 36)';

/** The shape a peer must answer; unknown fields are dropped (a newer peer may add some). */
const reportSchema = z.object({
  protocol: z.literal(1),
  instance: name,
  version: z.string().max(100),
  startedAt: isoDate,
  at: isoDate,
  rank: z.array(name).max(64),
  network: z.object({ monitorOffline: z.boolean(), witnesses: z.number().int().min(0) }),
  nodes: z
    .array(
      z.object({
        name,
        status: z.enum(['up', 'degraded', 'down', 'unknown']),
        since: isoDate,
        reason: z.string().max(200),
        cause: z.string().max(100).nullable(),
      }),
    )
    .max(256),
  outages: z.array(z.object({ node: name, key: z.string().min(1).max(300), since: isoDate, mailedBy: name.nullable() }).refine(keyOfNode, KEY_MESSAGE)).max(256),
  lastKeys: z.array(z.object({ node: name, key: z.string().min(1).max(300) }).refine(keyOfNode, KEY_MESSAGE)).max(256).optional(),
  sent: z
    .array(
      z.object({
        id: z.number().int(),
        node: name,
        kind: z.string().max(60),
        outageKey: z.string().max(300).nullable(),
        status: z.string().max(30),
        heldBy: name.nullable(),
        at: isoDate,
        root: z.boolean().optional(),
        about: name.nullable().optional(),
      }).refine((x) => x.outageKey === null || keyOfNode({ node: x.node, key: x.outageKey }), KEY_MESSAGE),
    )
    .max(1000),
  delivery: z
    .object({
      oldestFailingMs: z.number().min(0).max(1e12).nullable(),
      waiting: z.number().int().min(0).max(1e9),
      channels: z
        .array(z.object({ name: z.string().max(100), lastSuccessAt: isoDate.nullable(), lastFailureAt: isoDate.nullable(), permanentFailures: z.number().int().min(0).max(1e9) }))
        .max(64),
    })
    .optional(),
});

export type ParsedReport = { ok: true; report: PeerReport } | { ok: false; error: string };

export function parsePeerReport(text: string): ParsedReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const r = reportSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, error: `not a peer report (${i ? `${i.path.join('.') || 'body'}: ${i.message}` : 'invalid'})` };
  }
  return { ok: true, report: r.data };
}
