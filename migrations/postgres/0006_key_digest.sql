-- The content digest an idempotency key was claimed with (postgres). Keep in step with
-- sqlite/0006_key_digest.sql.
--
-- A re-sent input (same sender key, same content) is a duplicate; the same key with other
-- content is refused (intake.key_reused), never acknowledged as stored. Keys claimed
-- before this migration have no digest and count as the same content.
ALTER TABLE idempotency_keys ADD COLUMN digest BYTEA;
