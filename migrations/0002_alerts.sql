-- 0002_alerts: the alert outbox, every delivery attempt, what the alert policy remembers, maintenance windows.
--
-- An alert row is written in the same transaction as the transition that caused it, so a crash can neither
-- lose it nor produce it twice; a sender delivers it afterwards (docs/alerts.md). Times are epoch ms (wall
-- clock). Enumerations (kind, severity, status, outcome) are checked in TypeScript, as in 0001.

-- One row per alert the policy produced, sent or not. `status` is the roll-up of its deliveries:
-- pending | sent | partial (some channels failed for good) | failed | suppressed (recorded, never sent:
-- maintenance, flapping, an event switched off, alerts disabled, no channel). `facts` is the JSON the
-- renderer needs (no secrets ever: node names, statuses, reasons, probe details). `thread_of` is the alert
-- that opened the outage, so a recovery mail can answer it (In-Reply-To).
CREATE TABLE alerts (
  id         INTEGER PRIMARY KEY,
  instance   TEXT    NOT NULL,
  node       TEXT    NOT NULL,
  kind       TEXT    NOT NULL,
  severity   TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  subject    TEXT    NOT NULL,
  facts      TEXT    NOT NULL,
  thread_of  INTEGER,
  status     TEXT    NOT NULL,
  suppressed TEXT
);
-- The sender only ever looks at what is still pending; keeps that lookup small however long the history.
CREATE INDEX alerts_pending ON alerts (id) WHERE status = 'pending';

-- One row per alert and channel (email, each webhook). next_attempt_at drives the backoff.
CREATE TABLE alert_deliveries (
  alert_id        INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
  channel         TEXT    NOT NULL,
  status          TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at    INTEGER,
  last_error      TEXT,
  response        TEXT,
  PRIMARY KEY (alert_id, channel)
) WITHOUT ROWID;
CREATE INDEX alert_deliveries_pending ON alert_deliveries (alert_id) WHERE status = 'pending';

-- Every attempt, kept: when, how it went, the error and the server's answer (SMTP reply, HTTP status).
CREATE TABLE alert_attempts (
  id          INTEGER PRIMARY KEY,
  alert_id    INTEGER NOT NULL,
  channel     TEXT    NOT NULL,
  at          INTEGER NOT NULL,
  outcome     TEXT    NOT NULL,
  duration_ms REAL    NOT NULL,
  error       TEXT,
  response    TEXT,
  FOREIGN KEY (alert_id, channel) REFERENCES alert_deliveries (alert_id, channel) ON DELETE CASCADE
);
CREATE INDEX alert_attempts_delivery ON alert_attempts (alert_id, channel);

-- The alert policy's memory per node (open outage and which alert announced it, last reminder, recent
-- flips, flapping, whether a maintenance window was active): one JSON value the pure policy reads and
-- returns (src/core/alert-policy.ts), so a restart neither repeats a down mail nor forgets a recovery.
CREATE TABLE alert_node_state (
  node       TEXT    PRIMARY KEY,
  state      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One-off maintenance windows from `llm-sentinel maintenance start`. ended_at is set by `maintenance end`
-- (a window that simply runs out keeps it NULL). Recurring windows live in the config, not here.
CREATE TABLE maintenance_windows (
  id         INTEGER PRIMARY KEY,
  node       TEXT    NOT NULL,
  starts_at  INTEGER NOT NULL,
  ends_at    INTEGER NOT NULL,
  reason     TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  ended_at   INTEGER
);
CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at);
