-- Serbero's standing as a Mostro solver, kept by the AuthRetry actor so that a restart of the
-- actor resumes its schedule, and a `terminated` decision holds until the daemon itself is
-- restarted (a new `daemon_run`).
CREATE TABLE solver_auth (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    daemon_run     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('authorized', 'unauthorized', 'terminated')),
    attempts       INTEGER NOT NULL,
    waited_seconds INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
