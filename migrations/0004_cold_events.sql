-- 0004_cold_events: models the monitor found unloaded and loaded again for the apps (keep-warm, issue 12).
-- One row per load request the monitor sent: `why` is `not_loaded` (a cold event: the model had been
-- unloaded behind everyone's back, so the next user request would have paid the load) or `expiring`
-- (its keep_alive was about to run out: a refresh, not counted as cold). load_ms is Ollama's load_duration.
CREATE TABLE cold_events (
  id      INTEGER PRIMARY KEY,
  node    TEXT    NOT NULL,
  model   TEXT    NOT NULL,
  at      INTEGER NOT NULL,
  why     TEXT    NOT NULL,
  ok      INTEGER NOT NULL,
  load_ms REAL,
  detail  TEXT
);
CREATE INDEX cold_events_at ON cold_events (at);
