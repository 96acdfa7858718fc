-- API tokens and their roles. The secret is never stored: hash is the hex
-- sha256 of it, and a request's token is looked up by its hash (UNIQUE, so
-- one secret is one token). revoked_at is set by a revoke, which takes
-- effect at once: every request looks its token up afresh.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,       -- tok_<hex>
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,          -- admin, space_developer, space_auditor, pipeline_operator
    space      TEXT NOT NULL DEFAULT '',
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);
