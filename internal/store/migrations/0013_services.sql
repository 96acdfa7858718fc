-- Backing services (issue 19): the brokers an admin registered, with their
-- catalogs as last read; the spaces' service instances and bindings, each
-- with its last operation, so an operation a killed cell left under way is
-- resumed. password and credentials are sealed by the secrets keyring. A
-- user-provided service is an instance of kind 'user-provided' with no
-- broker: its credentials are the user's, kept (sealed) on the instance.
CREATE TABLE IF NOT EXISTS service_brokers (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL DEFAULT '',
    catalog    TEXT NOT NULL DEFAULT '{}',
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS service_instances (
    space        TEXT NOT NULL REFERENCES spaces(name),
    name         TEXT NOT NULL,
    guid         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL DEFAULT 'managed', -- managed | user-provided
    broker       TEXT NOT NULL, -- '' for a user-provided service; a broker with instances is not deleted
    credentials  TEXT NOT NULL DEFAULT '', -- a user-provided service's, sealed
    tags         TEXT NOT NULL DEFAULT '[]',
    offering     TEXT NOT NULL,
    plan         TEXT NOT NULL,
    service_id   TEXT NOT NULL,
    plan_id      TEXT NOT NULL,
    parameters   TEXT NOT NULL DEFAULT '',
    op_type      TEXT NOT NULL,
    op_state     TEXT NOT NULL,
    op_detail    TEXT NOT NULL DEFAULT '',
    operation    TEXT NOT NULL DEFAULT '', -- the broker's operation to poll
    op_updated   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (space, name)
);

CREATE TABLE IF NOT EXISTS service_bindings (
    space        TEXT NOT NULL,
    name         TEXT NOT NULL,
    guid         TEXT NOT NULL UNIQUE,
    instance     TEXT NOT NULL,
    app          TEXT NOT NULL,
    credentials  TEXT NOT NULL DEFAULT '',
    op_type      TEXT NOT NULL,
    op_state     TEXT NOT NULL,
    op_detail    TEXT NOT NULL DEFAULT '',
    operation    TEXT NOT NULL DEFAULT '',
    op_updated   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (space, name),
    FOREIGN KEY (space, instance) REFERENCES service_instances(space, name)
);
