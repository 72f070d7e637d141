-- Schema version 3 of the earlier Serbero: guided mediation (Phase 3).

CREATE TABLE IF NOT EXISTS mediation_sessions (
    session_id                TEXT PRIMARY KEY,
    dispute_id                TEXT NOT NULL REFERENCES disputes(dispute_id),
    state                     TEXT NOT NULL,
    round_count               INTEGER NOT NULL DEFAULT 0,
    prompt_bundle_id          TEXT NOT NULL,
    policy_hash               TEXT NOT NULL,
    instructions_version      TEXT,
    assigned_solver           TEXT,
    current_classification    TEXT,
    current_confidence        REAL,
    buyer_shared_pubkey       TEXT,
    seller_shared_pubkey      TEXT,
    buyer_last_seen_inner_ts  INTEGER,
    seller_last_seen_inner_ts INTEGER,
    started_at                INTEGER NOT NULL,
    last_transition_at        INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_mediation_sessions_dispute_id ON mediation_sessions(dispute_id);
CREATE INDEX IF NOT EXISTS idx_mediation_sessions_state ON mediation_sessions(state);

CREATE TABLE IF NOT EXISTS mediation_messages (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id             TEXT NOT NULL REFERENCES mediation_sessions(session_id),
    direction              TEXT NOT NULL,
    party                  TEXT NOT NULL,
    shared_pubkey          TEXT NOT NULL,
    inner_event_id         TEXT NOT NULL,
    inner_event_created_at INTEGER NOT NULL,
    outer_event_id         TEXT,
    content                TEXT NOT NULL,
    prompt_bundle_id       TEXT,
    policy_hash            TEXT,
    persisted_at           INTEGER NOT NULL,
    stale                  INTEGER NOT NULL DEFAULT 0
);

-- A replayed chat message is stored once per session.
CREATE UNIQUE INDEX IF NOT EXISTS uq_mediation_messages_inner_event
    ON mediation_messages(session_id, inner_event_id);
CREATE INDEX IF NOT EXISTS idx_mediation_messages_session ON mediation_messages(session_id);
CREATE INDEX IF NOT EXISTS idx_mediation_messages_direction ON mediation_messages(direction);

-- Keyed by the SHA-256 of the content, so the same rationale is stored once.
CREATE TABLE IF NOT EXISTS reasoning_rationales (
    rationale_id     TEXT PRIMARY KEY,
    session_id       TEXT REFERENCES mediation_sessions(session_id),
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    prompt_bundle_id TEXT NOT NULL,
    policy_hash      TEXT NOT NULL,
    rationale_text   TEXT NOT NULL,
    generated_at     INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_reasoning_rationales_session ON reasoning_rationales(session_id);

CREATE TABLE IF NOT EXISTS mediation_summaries (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id          TEXT NOT NULL REFERENCES mediation_sessions(session_id),
    dispute_id          TEXT NOT NULL REFERENCES disputes(dispute_id),
    classification      TEXT NOT NULL,
    confidence          REAL NOT NULL,
    suggested_next_step TEXT NOT NULL,
    summary_text        TEXT NOT NULL,
    prompt_bundle_id    TEXT NOT NULL,
    policy_hash         TEXT NOT NULL,
    rationale_id        TEXT REFERENCES reasoning_rationales(rationale_id),
    generated_at        INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_mediation_summaries_session ON mediation_summaries(session_id);

-- The mediation audit log; a NULL session_id marks a dispute-scoped event.
CREATE TABLE IF NOT EXISTS mediation_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id       TEXT REFERENCES mediation_sessions(session_id),
    kind             TEXT NOT NULL,
    payload_json     TEXT NOT NULL DEFAULT '{}',
    rationale_id     TEXT REFERENCES reasoning_rationales(rationale_id),
    prompt_bundle_id TEXT,
    policy_hash      TEXT,
    occurred_at      INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_mediation_events_session_kind ON mediation_events(session_id, kind);
