-- What a `/metrics` scrape reads, found in indexes instead of the tables: the outbox's rows of
-- one status are counted, and the oldest of them found, on (status, created_at) without reading
-- a row (each carries its signed event); the escalation handoffs are counted by outcome. The
-- outbox actor's own statements keep using idx_outbox_owner_status.
CREATE INDEX idx_outbox_status_created ON outbox(status, created_at);
CREATE INDEX idx_escalation_handoffs_outcome ON escalation_handoffs(outcome);
