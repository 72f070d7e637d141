-- Judging Serbero's standing and its takes from what real nodes give (spec/mostro-protocol.md §14).
--
-- solver_auth gains `unconfirmed` (nothing proves registration either way: takes go ahead, and
-- time alone never ends it) and remembers what the evidence against was. SQLite cannot alter a
-- CHECK, so the table is rebuilt with its row kept; a stored `unauthorized` with no recorded
-- evidence becomes `unconfirmed` (before this version, silence counted against Serbero).
CREATE TABLE solver_auth_new (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    daemon_run     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('authorized', 'unconfirmed', 'unauthorized', 'terminated')),
    against        TEXT CHECK (against IN ('other_key_announced', 'refused')),
    attempts       INTEGER NOT NULL,
    waited_seconds INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
INSERT INTO solver_auth_new (id, daemon_run, state, against, attempts, waited_seconds, updated_at)
SELECT id, daemon_run, CASE state WHEN 'unauthorized' THEN 'unconfirmed' ELSE state END, NULL,
       CASE state WHEN 'unauthorized' THEN 0 ELSE attempts END,
       CASE state WHEN 'unauthorized' THEN 0 ELSE waited_seconds END, updated_at
  FROM solver_auth;
DROP TABLE solver_auth;
ALTER TABLE solver_auth_new RENAME TO solver_auth;

-- A take is tried up to three times (the node reads only live events); the deadline of each try
-- counts from the moment a relay holds the request.
ALTER TABLE solver_takes ADD COLUMN tries_unanswered INTEGER NOT NULL DEFAULT 0;

-- What the node said about a take, one row per distinct event, written by the dispute's session:
-- the requests a relay acknowledged, the node's answers, and the `in-progress` revisions seen
-- since the take was first requested. mostrod publishes one revision per accepted take, so a
-- revision beyond the accepted takes is someone else's (a takeover), whatever its date.
CREATE TABLE take_evidence (
    dispute_id  TEXT NOT NULL REFERENCES solver_takes(dispute_id),
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('sent', 'accepted', 'refused', 'in_progress')),
    created_at  INTEGER NOT NULL,    -- the event's own timestamp
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (dispute_id, event_id)
);
