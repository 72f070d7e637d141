-- The trade's facts from the node's answer to our take (amount in sats, fiat amount, payment
-- method), kept so that reviewed catalog texts can name them after a restart. They are checked
-- again before any reaches a party.
ALTER TABLE solver_takes ADD COLUMN amount_sats INTEGER;
ALTER TABLE solver_takes ADD COLUMN fiat_amount INTEGER;
ALTER TABLE solver_takes ADD COLUMN payment_method TEXT;
