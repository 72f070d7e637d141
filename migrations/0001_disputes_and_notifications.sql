-- Schema version 1 of the earlier Serbero: detected disputes and every notification attempt.
-- IF NOT EXISTS throughout, so a database the earlier Serbero half-built still upgrades.

-- One row per dispute, first seen from its `initiated` event; the primary key is the dedup key.
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id      TEXT PRIMARY KEY,                      -- `d` tag
    event_id        TEXT NOT NULL UNIQUE,                  -- hex id of the first `initiated` event
    mostro_pubkey   TEXT NOT NULL,                         -- event author, hex
    initiator_role  TEXT NOT NULL,                         -- 'buyer' | 'seller'
    dispute_status  TEXT NOT NULL DEFAULT 'initiated',
    event_timestamp INTEGER NOT NULL,                      -- event created_at
    detected_at     INTEGER NOT NULL
);

-- One row per attempt per solver, sent or failed.
CREATE TABLE IF NOT EXISTS notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dispute_id    TEXT NOT NULL REFERENCES disputes(dispute_id),
    solver_pubkey TEXT NOT NULL,                           -- as configured, not normalised
    sent_at       INTEGER NOT NULL,                        -- attempt time, failures included
    status        TEXT NOT NULL,                           -- 'sent' | 'failed'
    error_message TEXT,
    notif_type    TEXT NOT NULL DEFAULT 'initial'
);

CREATE INDEX IF NOT EXISTS idx_notifications_dispute_id ON notifications(dispute_id);
