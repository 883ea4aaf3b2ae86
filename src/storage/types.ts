import type BetterSqlite3 from 'better-sqlite3';
import type { History } from './history';
import type { MaintenanceStore } from './maintenance';
import type { Outbox } from './outbox';
import type { NodeStatus } from '../core/status';
import type { ProbeKind, ProbeResult } from '../probes/types';

export type { NodeStatus };

/** A probe row as read back: the ProbeResult facts we keep (not the answer text or Cloudflare ray), plus its id. */
export interface StoredProbe extends Omit<ProbeResult, 'answer' | 'cloudflare'> {
  id: number;
}

export interface TransitionInput {
  node: string;
  from: NodeStatus;
  to: NodeStatus;
  reason: string;
  detail?: string;
  at: number;
}

export interface StoredTransition extends TransitionInput {
  id: number;
}

export interface PreferredChangeInput {
  /** null for the first choice after a fresh start. */
  from: string | null;
  to: string;
  reason: string;
  allDown: boolean;
  at: number;
}

export interface RunStartInput {
  instance: string;
  pid: number;
  version: string;
  at: number;
}

export interface RunStarted {
  runId: number;
  /** Runs that never stopped cleanly (crash, kill -9, power loss), now closed at their last heartbeat. */
  uncleanPrevious: Array<{ runId: number; lastSeenAt: number }>;
}

/** sleep: the host slept; clock_back: the wall clock was set back; offline: the monitor's own network was down. */
export type GapKind = 'sleep' | 'clock_back' | 'offline';

export interface GapInput {
  runId: number;
  kind: GapKind;
  from: number;
  to: number;
}

export interface LastTransition {
  node: string;
  to: NodeStatus;
  at: number;
  reason: string;
}

export interface LastPreferred {
  to: string;
  at: number;
  allDown: boolean;
}

export interface RecentProbesOptions {
  node?: string;
  kind?: ProbeKind;
  /** Only probes that started at or after this epoch ms. */
  sinceMs?: number;
  /** Newest first; default 100, at most 10 000. */
  limit?: number;
}

export interface RecentTransitionsOptions {
  node?: string;
  sinceMs?: number;
  /** Newest first; default 100, at most 10 000. */
  limit?: number;
}

export interface StorageCounts {
  probes: number;
  transitions: number;
  preferredChanges: number;
}

export interface Storage {
  insertProbe(r: ProbeResult): number;
  insertTransition(t: TransitionInput): number;
  insertPreferredChange(c: PreferredChangeInput): number;
  /** Runs fn in one transaction (nested calls become savepoints); fn must be synchronous. */
  transaction<T>(fn: () => T): T;
  startRun(r: RunStartInput): RunStarted;
  /** Heartbeat: the run was alive at `at`. */
  touchRun(runId: number, at: number): void;
  /** Clean stop. A second call for the same run changes nothing. */
  endRun(runId: number, at: number, reason: string): void;
  insertGap(g: GapInput): void;
  /** The latest transition of every node that has one (to restore state after a restart). */
  lastTransitions(): LastTransition[];
  lastPreferred(): LastPreferred | undefined;
  recentProbes(opts: RecentProbesOptions): StoredProbe[];
  recentTransitions(opts: RecentTransitionsOptions): StoredTransition[];
  /** started_at of the node's latest ok probe. */
  lastOk(node: string): number | undefined;
  counts(): StorageCounts;
  schemaVersion(): number;
  /** 'ok', or SQLite's findings one per line. */
  integrityCheck(): string;
  /** Checkpoints the WAL (TRUNCATE) and closes; safe to call twice. */
  close(): void;
  /** Rollups, retention and the reads behind reports and the status page. */
  readonly history: History;
  /** Alerts, their deliveries and attempts, and the alert policy's memory. */
  readonly outbox: Outbox;
  /** Maintenance windows set from the CLI. */
  readonly maintenance: MaintenanceStore;
  /**
   * The raw handle, for tests that inspect rows. Code outside src/storage uses the stores above (lint
   * refuses `storage.db` elsewhere in src/), so all SQL stays in this folder.
   */
  readonly db: BetterSqlite3.Database;
}
