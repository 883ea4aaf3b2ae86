import type { Alerting } from '../alerts/alerting';
import type { CoreEvent, Instant, MonitorState } from '../core/decide';
import type { Logger } from '../logging';
import type { Storage } from '../storage';
import type { DaemonEmitter } from './events';
import type { WriteQueue } from './write-queue';

export interface RecordDeps {
  writes: WriteQueue;
  storage: Pick<Storage, 'transaction' | 'insertTransition' | 'insertPreferredChange'>;
  alerting: Alerting | undefined;
  logger: Logger;
  events: DaemonEmitter;
}

/**
 * Records what the core decided and says it: the state changes and the alerts they cause go into one
 * transaction (recorded together or not at all, retried by the write queue), then each change is logged and
 * emitted as a typed event.
 */
export function recordEvents(d: RecordDeps, events: readonly CoreEvent[], state: MonitorState, at: Instant): void {
  const { storage, alerting } = d;
  d.writes.push({
    what: 'state change',
    droppable: false,
    run: () =>
      storage.transaction(() => {
        for (const e of events) {
          if (e.type === 'node:transition') storage.insertTransition(e);
          else storage.insertPreferredChange(e);
        }
        alerting?.onEvents([...events], state, at);
      }),
  });
  for (const e of events) {
    if (e.type === 'node:transition') {
      d.logger.warn({ node: e.node, from: e.from, to: e.to, reason: e.reason, detail: e.detail }, `node ${e.node} is now ${e.to}`);
      d.events.emit('node:transition', e);
    } else {
      d.logger.warn({ from: e.from, to: e.to, allDown: e.allDown, reason: e.reason }, e.allDown ? `all nodes down; apps stay on ${e.to}` : `preferred node is now ${e.to}`);
      d.events.emit('preferred:changed', e);
    }
  }
}
