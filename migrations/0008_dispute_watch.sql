-- When Serbero first subscribed to dispute events. A database with no dispute stored yet looks
-- the same whether the daemon never ran or ran and stopped before storing one; this row tells
-- them apart, so a restart resumes from the first start instead of from "now".
CREATE TABLE dispute_watch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    first_started_at INTEGER NOT NULL
);
