-- 0001_init: the first schema. Times are INTEGER epoch milliseconds (wall clock); durations are REAL
-- milliseconds measured on the monotonic clock, so sub-millisecond loopback timings survive.
--
-- Enumerations (kind, status, reason) are checked in TypeScript, not with CHECK constraints: SQLite cannot
-- alter a CHECK without rebuilding the table, and new probe kinds or reasons should need no migration.
-- Booleans are the exception: 0/1 will never grow.

CREATE TABLE probes (
  id             INTEGER PRIMARY KEY,
  node           TEXT    NOT NULL,
  kind           TEXT    NOT NULL,
  started_at     INTEGER NOT NULL,
  ok             INTEGER NOT NULL CHECK (ok IN (0, 1)),
  reason         TEXT    NOT NULL,
  http_status    INTEGER,
  duration_ms    REAL    NOT NULL,
  ttfb_ms        REAL,
  ttft_ms        REAL,
  total_ms       REAL,
  tokens_per_sec REAL,
  load_ms        REAL,
  eval_count     INTEGER,
  detail         TEXT
);
-- Per-node history and range queries (status page, rollups).
CREATE INDEX probes_node_started ON probes (node, started_at);
-- Cross-node "recent probes" and retention deletes by age.
CREATE INDEX probes_started ON probes (started_at);
-- "Last time this node was ok" in one index step even after days of failures. The index is (node, rowid),
-- so the latest ok row is its last entry.
CREATE INDEX probes_node_ok ON probes (node) WHERE ok = 1;

-- Every status flip of a node; the latest row per node restores the state machine after a restart.
CREATE TABLE transitions (
  id          INTEGER PRIMARY KEY,
  node        TEXT    NOT NULL,
  from_status TEXT    NOT NULL,
  to_status   TEXT    NOT NULL,
  reason      TEXT    NOT NULL,
  detail      TEXT,
  at          INTEGER NOT NULL
);
CREATE INDEX transitions_node_at ON transitions (node, at);
CREATE INDEX transitions_at ON transitions (at);

-- Every change of the endpoint apps should use. from_node is NULL for the first choice after a fresh start.
CREATE TABLE preferred_changes (
  id        INTEGER PRIMARY KEY,
  from_node TEXT,
  to_node   TEXT    NOT NULL,
  reason    TEXT    NOT NULL,
  all_down  INTEGER NOT NULL CHECK (all_down IN (0, 1)),
  at        INTEGER NOT NULL
);

-- The monitor's own lifetimes, so reports can say which periods were actually watched. A run still going
-- has ended_at NULL; one that died without a clean stop is closed at its last heartbeat on the next start.
CREATE TABLE runs (
  id           INTEGER PRIMARY KEY,
  instance     TEXT    NOT NULL,
  pid          INTEGER NOT NULL,
  version      TEXT    NOT NULL,
  started_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  ended_at     INTEGER,
  clean_exit   INTEGER CHECK (clean_exit IN (0, 1)),
  end_reason   TEXT
);
CREATE INDEX runs_open ON runs (id) WHERE ended_at IS NULL;

-- Periods inside a run when the monitor was not really watching: the host slept (wall clock jumped ahead of
-- the monotonic clock) or the wall clock was stepped back.
CREATE TABLE gaps (
  id      INTEGER PRIMARY KEY,
  run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  kind    TEXT    NOT NULL,
  from_at INTEGER NOT NULL,
  to_at   INTEGER NOT NULL
);
-- Foreign-key children need an index, or every run deletion scans the whole table.
CREATE INDEX gaps_run ON gaps (run_id);
