-- After a handoff (a summary delivered, or an escalation) Serbero keeps the dispute's chat open
-- until a human takes the dispute over or Mostro resolves it, and forwards what the parties
-- write to the solvers in bursts. When the handoff happened, and the last party message
-- (party_messages.id) a transcript carried, so a restart neither repeats nor skips one.
ALTER TABLE solver_takes ADD COLUMN handed_off_at INTEGER;
ALTER TABLE solver_takes ADD COLUMN forwarded_through INTEGER NOT NULL DEFAULT 0;
