-- Schema version 4 of the earlier Serbero: bookkeeping for the mid-session evaluator.
-- Existing sessions get 0 for both, so each is evaluated once more after the upgrade.

ALTER TABLE mediation_sessions ADD COLUMN round_count_last_evaluated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mediation_sessions ADD COLUMN consecutive_eval_failures INTEGER NOT NULL DEFAULT 0;
