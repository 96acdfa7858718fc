-- Secrets at rest: the secret_env of apps.spec and releases.config is
-- stored as a string sealed with AES-256-GCM (internal/secrets/seal.go)
-- instead of a JSON object. No schema change is needed, and the sealing
-- of plain values is not done here but by sealAll (internal/store/
-- secrets.go) on every open, because it needs the key file and because
-- the same pass finishes an interrupted key rotation. This migration only
-- holds its number: a migration's version is its position in this
-- directory, so a gap would renumber every later one.
SELECT 1;
