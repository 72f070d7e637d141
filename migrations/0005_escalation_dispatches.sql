-- Schema version 5 of the earlier Serbero: one row per dispatch of a prepared handoff (Phase 4).

CREATE TABLE IF NOT EXISTS escalation_dispatches (
    dispatch_id        TEXT PRIMARY KEY,                   -- UUID v4
    dispute_id         TEXT NOT NULL REFERENCES disputes(dispute_id),
    session_id         TEXT REFERENCES mediation_sessions(session_id),
    handoff_event_id   INTEGER NOT NULL REFERENCES mediation_events(id),
    target_solver      TEXT NOT NULL,                      -- comma-joined list on broadcast
    dispatched_at      INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    status             TEXT NOT NULL DEFAULT 'dispatched'
                       CHECK (status IN ('dispatched', 'send_failed')),
    fallback_broadcast INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS idx_escalation_dispatches_dispute ON escalation_dispatches(dispute_id);
-- At most one dispatch per handoff: a second insert fails instead of sending a second DM.
CREATE UNIQUE INDEX IF NOT EXISTS idx_escalation_dispatches_handoff
    ON escalation_dispatches(handoff_event_id);
