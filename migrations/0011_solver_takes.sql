-- Serbero as a read-only solver. One row per dispute it takes (or tries to), written only by that
-- dispute's session actor: the request, the node's answer (the parties' trade keys it needs to
-- derive the chat keys again after a restart) and how it ended. The party chat it reads and
-- writes is in party_messages, deduplicated durably on the inner event id; it is the mediation
-- transcript (the earlier mediation_messages table keeps its rows from upgraded databases).

CREATE TABLE solver_takes (
    dispute_id     TEXT PRIMARY KEY REFERENCES disputes(dispute_id),
    state          TEXT NOT NULL
                   CHECK (state IN ('requested', 'took', 'refused', 'timed_out', 'malformed', 'superseded', 'closed')),
    request_id     INTEGER NOT NULL,        -- echoed by the node's answer
    requested_at   INTEGER NOT NULL,
    deadline_at    INTEGER NOT NULL,        -- no answer by then: timed_out
    answered_at    INTEGER,                 -- the node's answer, by its own clock
    cant_do_reason TEXT,                    -- the node's refusal, as it sent it
    order_id       TEXT,
    buyer_pubkey   TEXT,                    -- trade keys from the node's solver dispute info
    seller_pubkey  TEXT,
    ended_reason   TEXT,                    -- why the conversation ended (takeover, resolution, ...)
    updated_at     INTEGER NOT NULL
);
CREATE INDEX idx_solver_takes_state ON solver_takes(state);

CREATE TABLE party_messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    dispute_id       TEXT NOT NULL REFERENCES solver_takes(dispute_id),
    party            TEXT NOT NULL CHECK (party IN ('buyer', 'seller')),
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    inner_event_id   TEXT NOT NULL,
    outer_event_id   TEXT,
    inner_created_at INTEGER NOT NULL,
    content          TEXT NOT NULL,
    legacy           INTEGER NOT NULL DEFAULT 0,   -- read from the legacy gift-wrap envelope
    stale            INTEGER NOT NULL DEFAULT 0,   -- older than that party's newest reply: kept, not counted
    persisted_at     INTEGER NOT NULL,
    UNIQUE (dispute_id, inner_event_id)
);

-- A session taken over by a human withdraws the party messages it had not delivered yet: a
-- status of its own, so they are not counted as failures. SQLite cannot alter a CHECK, so the
-- table is rebuilt with every row and index kept.
CREATE TABLE outbox_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  dispute_id TEXT,
  recipient TEXT NOT NULL,
  notif_type TEXT NOT NULL,
  body TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
         CHECK (status IN ('pending','claimed','sent','failed','dead_lettered','withdrawn')),
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
INSERT INTO outbox_new SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX idx_outbox_owner_status ON outbox(owner, status, next_attempt_at);
CREATE INDEX idx_outbox_dispute ON outbox(dispute_id);
