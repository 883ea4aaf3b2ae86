-- 0004_peers: what the peer alerts remember about each peer monitor (docs/alerts.md "One voice"), so a
-- restart neither repeats "monitor X is silent" nor forgets to say it is back. One JSON value per peer
-- (src/core/peer-alerts.ts PeerAlertMemory), read and returned whole by the pure policy.
CREATE TABLE peer_alert_state (
  peer       TEXT    PRIMARY KEY,
  state      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
