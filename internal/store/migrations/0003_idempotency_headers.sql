-- A replayed answer carries the same ETag and Location as the first one.
ALTER TABLE idempotency ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
