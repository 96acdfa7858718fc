-- Replica sets this cell serves: the local app behind a global host and the
-- peer cells (region, router address) the router fails over to. The fan-out
-- of the paved library writes the same record to every region. A global
-- host belongs to one replica set per cell (UNIQUE), so two sets cannot
-- split its traffic.
CREATE TABLE replica_sets (
    name        TEXT PRIMARY KEY,
    space       TEXT NOT NULL,
    app         TEXT NOT NULL,
    global_host TEXT NOT NULL UNIQUE,
    peers       TEXT NOT NULL,         -- JSON [{"region","router"}]
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
