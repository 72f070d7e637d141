-- The current try of a take, as signed, stored before it is published: after a restart the same
-- event goes out again (a relay that has it drops it, so the node never sees a second take)
-- instead of a newly signed one, which mostrod would run as a second take. Cleared when the try
-- goes unanswered: the next one is signed afresh.
ALTER TABLE solver_takes ADD COLUMN current_try TEXT;
