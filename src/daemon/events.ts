import { EventEmitter } from 'node:events';
import type { CoreEvent } from '../core/decide';
import type { ProbeResult } from '../probes/types';
import type { WarmthLoad } from '../probes/keep-warm';
import type { NodeKnowledge } from './knowledge';
import type { ClockJump } from './wake';

/** Typed daemon events; tests await them instead of sleeping. */
export interface DaemonEvents {
  'probe:done': [result: ProbeResult, judged: boolean];
  'node:transition': [event: Extract<CoreEvent, { type: 'node:transition' }>];
  'preferred:changed': [event: Extract<CoreEvent, { type: 'preferred:changed' }>];
  'state:written': [json: string];
  'clock:jump': [jump: ClockJump];
  'report:received': [report: { node: string; reason: string; source: string }];
  /** The monitor's own network went down (offline) or came back; `since` is when it went down. */
  'monitor:network': [event: { offline: boolean; since: number; at: number }];
  /** An exposure check's verdict; `changed` when it differs from the previous one. */
  'node:exposure': [event: { node: string; exposed: boolean; changed: boolean; detail: string; at: number }];
  /** Something learnt about a node's server: flavor, a discovered model, a refused thinking knob. */
  'node:server': [event: { node: string } & NodeKnowledge];
  /** A keep-warm load request went out (why: not_loaded = a cold event, expiring = a refresh). */
  'keepwarm:load': [event: { node: string } & WarmthLoad];
}

export class DaemonEmitter extends EventEmitter<DaemonEvents> {}
