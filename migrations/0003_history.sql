-- 0003_history: rollups that outlive the raw probes. Raw probe rows are kept `history.keepRaw` (30 days by
-- default); before a row is pruned, its hour has been summarised here. Hourly rows are merged into daily rows
-- once a UTC day is complete, and each level has its own retention (docs/report.md).
--
-- A rollup row summarises one node, one probe kind, one period. Times are epoch ms of the period's start (UTC).
-- Histograms are sparse JSON objects {"bucket index": count} over fixed log-scale buckets (src/history/histogram.ts:
-- 8 buckets per doubling from 0.1, so a percentile read back is within 4.5 % of the true value). Only ok probes
-- feed the latency histograms: a timeout says nothing about how fast the node answers.
--   ttft_hist   canary time to first token (ms)
--   total_hist  canary: whole generation (ms); liveness: whole probe (ms)
--   tps_hist    canary tokens per second
-- failures is a JSON object {reason: count}; cold_starts counts successful canaries whose load time exceeded
-- probes.canary.coldStart; eval_tokens sums the tokens canaries generated (their cost).
--
-- WITHOUT ROWID with the period first in the key: every read is a time range, and so is every prune.

CREATE TABLE rollups_hourly (
  at          INTEGER NOT NULL,
  node        TEXT    NOT NULL,
  kind        TEXT    NOT NULL,
  checks      INTEGER NOT NULL,
  ok          INTEGER NOT NULL,
  failures    TEXT    NOT NULL DEFAULT '{}',
  ttft_hist   TEXT,
  total_hist  TEXT,
  tps_hist    TEXT,
  cold_starts INTEGER NOT NULL DEFAULT 0,
  eval_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (at, node, kind)
) WITHOUT ROWID;

CREATE TABLE rollups_daily (
  at          INTEGER NOT NULL,
  node        TEXT    NOT NULL,
  kind        TEXT    NOT NULL,
  checks      INTEGER NOT NULL,
  ok          INTEGER NOT NULL,
  failures    TEXT    NOT NULL DEFAULT '{}',
  ttft_hist   TEXT,
  total_hist  TEXT,
  tps_hist    TEXT,
  cold_starts INTEGER NOT NULL DEFAULT 0,
  eval_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (at, node, kind)
) WITHOUT ROWID;

-- How far each level is complete: every period that starts before `at` has been summarised. Pruning raw probes
-- never goes past the hourly mark, so a failed or late rollup can delay retention but never lose data.
CREATE TABLE history_marks (
  name TEXT    PRIMARY KEY,
  at   INTEGER NOT NULL
) WITHOUT ROWID;
