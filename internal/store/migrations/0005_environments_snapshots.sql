-- Preview environments (a space with a lifecycle) and space snapshots (the
-- last good release of every app, numbered, so a space can go back).
CREATE TABLE environments (
    space              TEXT PRIMARY KEY REFERENCES spaces(name) ON DELETE CASCADE,
    from_space         TEXT NOT NULL,
    ttl_seconds        INTEGER NOT NULL,
    expires_at         TEXT NOT NULL,
    destroy_on_success INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL
);

CREATE TABLE snapshots (
    space      TEXT NOT NULL,
    number     INTEGER NOT NULL,
    releases   TEXT NOT NULL,          -- app → release number
    reason     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (space, number)
);
