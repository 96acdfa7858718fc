-- Webhook secrets are kept as hashes, as API tokens are: webhook_hashes
-- maps source → hex sha256 of its secret. The rename keeps the rows; the
-- Go half of this migration (hashWebhookTokens) hashes the tokens that
-- were stored in plain text, in the same transaction.
ALTER TABLE pipelines RENAME COLUMN webhooks TO webhook_hashes;
