-- Pipelines: sources produce versions, jobs build them. A build is unique
-- per (pipeline, job, inputs), so a version never builds twice even if the
-- scheduler decides twice (e.g. across a restart).
CREATE TABLE pipelines (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    space      TEXT NOT NULL REFERENCES spaces(name),
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    webhooks   TEXT NOT NULL DEFAULT '{}', -- source → token
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (space, name)
);

CREATE TABLE source_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    version     TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    UNIQUE (pipeline_id, source, version)
);

CREATE TABLE job_builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    job         TEXT NOT NULL,
    number      INTEGER NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    inputs      TEXT NOT NULL,          -- source → {id, version}
    inputs_key  TEXT NOT NULL,
    steps       TEXT NOT NULL DEFAULT '[]',
    attempt     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    UNIQUE (pipeline_id, job, inputs_key),
    UNIQUE (pipeline_id, job, number)
);
CREATE INDEX job_builds_status ON job_builds(status);
