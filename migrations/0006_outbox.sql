-- Every outbound message, written in the same transaction as the decision that causes it, so a
-- crash at any moment loses nothing and a restart re-sends only what no relay acknowledged.
-- pending -> claimed -> sent, or failed (retried with backoff) and finally dead_lettered.

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,                 -- the actor that owns (and alone writes) this row: 'dispute', later 'escalation', 'session'
  idempotency_key TEXT NOT NULL UNIQUE,
  dispute_id TEXT,
  recipient TEXT NOT NULL,             -- hex pubkey
  notif_type TEXT NOT NULL,
  body TEXT NOT NULL,
  event_id TEXT NOT NULL,              -- id of the signed gift wrap stored below; a retry re-publishes the same event
  event_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','claimed','sent','failed','dead_lettered')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  claim_token TEXT,
  claim_expires_at INTEGER,
  last_error TEXT,
  accepted_relays TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  sent_at INTEGER
);
CREATE INDEX idx_outbox_owner_status ON outbox(owner, status, next_attempt_at);
CREATE INDEX idx_outbox_dispute ON outbox(dispute_id);
