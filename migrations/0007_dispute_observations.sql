-- Every (dispute, status) Serbero has acted on, so a replayed or re-delivered event is handled
-- once, whatever status it carries; a daemon that was down may first see a dispute past
-- `initiated`.

CREATE TABLE dispute_observations (
  dispute_id TEXT NOT NULL REFERENCES disputes(dispute_id),
  status TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_created_at INTEGER NOT NULL,
  observed_at INTEGER NOT NULL,
  PRIMARY KEY (dispute_id, status)
);

-- Every dispute already stored was observed at the status it was stored with.
INSERT OR IGNORE INTO dispute_observations (dispute_id, status, event_id, event_created_at, observed_at)
SELECT dispute_id, dispute_status, event_id, event_timestamp, detected_at FROM disputes;

-- Re-notification rounds sent so far for the dispute; existing disputes start at 0.
ALTER TABLE disputes ADD COLUMN renotification_round INTEGER NOT NULL DEFAULT 0;
