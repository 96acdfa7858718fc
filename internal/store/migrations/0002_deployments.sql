-- Deployments: the persisted state machine of each rollout, so a cell
-- killed mid-rollout resumes or rolls back instead of forgetting it.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    space       TEXT NOT NULL,
    app         TEXT NOT NULL,
    release     INTEGER NOT NULL,
    from_release INTEGER NOT NULL,
    generation  INTEGER NOT NULL,      -- the app spec generation it rolls out
    strategy    TEXT NOT NULL,         -- paved.DeploymentSpec as JSON
    instances   INTEGER NOT NULL,
    status      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    step        INTEGER NOT NULL DEFAULT 0,
    progress    TEXT NOT NULL DEFAULT '{}', -- the planner's Progress as JSON
    reason      TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX deployments_app ON deployments(space, app, id);
CREATE INDEX events_object ON events(object, id);
