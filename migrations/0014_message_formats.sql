-- Every solver-facing message now travels in two forms, each its own outbox row retried on its
-- own: the NIP-17 gift wrap (as before) and the Mostro protocol v2 `send-dm` Mostrix reads. The
-- audit rows say which form an attempt was. DMs written before this version were gift wraps;
-- messages to the parties have no form (NULL).
ALTER TABLE outbox ADD COLUMN format TEXT CHECK (format IS NULL OR format IN ('nip17', 'mostrix'));
UPDATE outbox SET format = 'nip17' WHERE notif_type <> 'party_message';
ALTER TABLE notifications ADD COLUMN format TEXT CHECK (format IS NULL OR format IN ('nip17', 'mostrix'));
UPDATE notifications SET format = 'nip17';
