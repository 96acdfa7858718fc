-- Each space's unprivileged user: the uid (and gid, the same number) its
-- instances, builds and pipeline tasks run as when the cell isolates them.
-- Allocated once, on first use, from the cell's configured range and never
-- reused: files a deleted space left behind must not become another's.
CREATE TABLE IF NOT EXISTS space_users (
    space TEXT PRIMARY KEY,
    uid   INTEGER NOT NULL UNIQUE CHECK (uid > 0)
);
