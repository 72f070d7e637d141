-- What the escalation dispatcher decided for each prepared handoff. Its scan reads only
-- undecided handoffs (and, once per start, the unroutable ones), so decided handoffs never
-- crowd out new ones: the earlier implementation re-read superseded handoffs on every scan and
-- stalled once 128 of them piled up.
CREATE TABLE escalation_handoffs (
    handoff_event_id INTEGER PRIMARY KEY REFERENCES mediation_events(id),
    outcome          TEXT NOT NULL CHECK (outcome IN ('dispatched', 'superseded', 'unroutable', 'parse_failed')),
    decided_at       INTEGER NOT NULL
);

CREATE INDEX idx_mediation_events_kind ON mediation_events(kind, id);

-- Decisions an earlier Serbero already recorded. Unroutable handoffs are recorded as such, so
-- their audit row is not written twice; every start looks at them again anyway.
INSERT OR IGNORE INTO escalation_handoffs (handoff_event_id, outcome, decided_at)
    SELECT handoff_event_id, 'dispatched', dispatched_at FROM escalation_dispatches;
INSERT OR IGNORE INTO escalation_handoffs (handoff_event_id, outcome, decided_at)
    SELECT CAST(json_extract(payload_json, '$.handoff_event_id') AS INTEGER),
           CASE kind
               WHEN 'escalation_superseded' THEN 'superseded'
               WHEN 'escalation_dispatch_unroutable' THEN 'unroutable'
               ELSE 'parse_failed'
           END,
           occurred_at
      FROM mediation_events
     WHERE kind IN ('escalation_superseded', 'escalation_dispatch_unroutable', 'escalation_dispatch_parse_failed')
       AND json_extract(payload_json, '$.handoff_event_id') IN (SELECT id FROM mediation_events);
