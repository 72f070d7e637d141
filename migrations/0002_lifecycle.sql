-- Schema version 2 of the earlier Serbero: the dispute lifecycle and its transition history.
-- The runner skips an ADD COLUMN whose column already exists: the earlier Serbero may have
-- added some of these without recording version 2.

ALTER TABLE disputes ADD COLUMN lifecycle_state TEXT NOT NULL DEFAULT 'new';
ALTER TABLE disputes ADD COLUMN assigned_solver TEXT;        -- raw `p` tag of the in-progress event
ALTER TABLE disputes ADD COLUMN last_notified_at INTEGER;    -- last fan-out with a successful send
ALTER TABLE disputes ADD COLUMN last_state_change INTEGER;

-- Append-only; written in the same transaction as the lifecycle_state update.
CREATE TABLE IF NOT EXISTS dispute_state_transitions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dispute_id      TEXT NOT NULL REFERENCES disputes(dispute_id),
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    transitioned_at INTEGER NOT NULL,
    trigger         TEXT                                   -- what caused it, e.g. 'initial_notification'
);

CREATE INDEX IF NOT EXISTS idx_state_transitions_dispute_id ON dispute_state_transitions(dispute_id);
CREATE INDEX IF NOT EXISTS idx_disputes_lifecycle_state ON disputes(lifecycle_state);
