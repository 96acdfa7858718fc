-- The cell's durable state. Every write happens in one transaction together
-- with its row in events, the append-only audit trail.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE spaces (
    name       TEXT PRIMARY KEY,
    labels     TEXT NOT NULL DEFAULT '{}',
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE apps (
    space      TEXT NOT NULL REFERENCES spaces(name),
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,          -- paved.AppSpec as JSON
    state      TEXT NOT NULL DEFAULT '{}', -- deployer-owned observed state as JSON
    version    INTEGER NOT NULL,       -- bumps on every spec write (ETag)
    generation INTEGER NOT NULL,       -- bumps on every spec write the deployer must act on
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (space, name)
);

CREATE TABLE releases (
    space      TEXT NOT NULL,
    app        TEXT NOT NULL,
    number     INTEGER NOT NULL,
    config     TEXT NOT NULL,          -- paved.ReleaseConfig as JSON
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (space, app, number),
    FOREIGN KEY (space, app) REFERENCES apps(space, name) ON DELETE CASCADE
);

CREATE TABLE sources (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    space       TEXT NOT NULL,
    app         TEXT NOT NULL,
    source      TEXT NOT NULL,
    command     TEXT NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    droplet     TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX builds_app ON builds(space, app, id);

CREATE TABLE droplets (
    digest     TEXT PRIMARY KEY,      -- sha256 of (source, build command)
    source     TEXT NOT NULL,
    command    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    time   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    request    TEXT NOT NULL,         -- method and path the key was first used with
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at TEXT NOT NULL
);
