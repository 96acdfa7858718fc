-- Routes are owned in the store. routes holds one row per (host, path) an
-- app serves, claimed and released in the transaction that writes the app,
-- so two apps can never both hold one route: the primary key decides.
-- host is ASCII lower-cased without a trailing dot and path is the prefix
-- as the router keys it ("" for "/", no trailing slash), see RouteKey.
-- route_hosts gives every host in use its one owning space: a route row
-- must name its host's owner (the foreign key), so another space cannot
-- add paths under a host. A host is released with its last route.
-- The Go half of this migration (backfillRoutes) claims the routes of the
-- apps there are, oldest app first. IF NOT EXISTS and a backfill that
-- skips claims already made let the migration run again on a data dir
-- set back to an older user_version (as migration tests do).
CREATE TABLE IF NOT EXISTS route_hosts (
    host  TEXT PRIMARY KEY,
    space TEXT NOT NULL,
    UNIQUE (host, space)
);

CREATE TABLE IF NOT EXISTS routes (
    host  TEXT NOT NULL,
    path  TEXT NOT NULL,
    space TEXT NOT NULL,
    app   TEXT NOT NULL,
    PRIMARY KEY (host, path),
    FOREIGN KEY (host, space) REFERENCES route_hosts(host, space),
    FOREIGN KEY (space, app) REFERENCES apps(space, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS routes_app ON routes(space, app);
