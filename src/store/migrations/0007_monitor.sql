-- Health monitoring: scheduled checks, their raw results (kept for a bounded time), minute /
-- hour / day rollups (kept longer), state changes and incidents.
--
-- Times in these tables are Unix milliseconds (UTC), so range scans and bucket arithmetic stay
-- integer. Rollup rows are keyed by (provider, bucket start) and clustered that way
-- (WITHOUT ROWID): the uptime of every provider is one index seek per provider plus a short
-- range read (see monitor/history.rs).

-- One scheduled check. A provider may have several (its health_check operation, its status
-- operation, a ticker with parameters, ...).
CREATE TABLE monitor_checks (
    id            INTEGER PRIMARY KEY,
    provider      TEXT NOT NULL,
    name          TEXT NOT NULL,                 -- unique per provider; defaults to the operation
    kind          TEXT NOT NULL CHECK (kind IN ('operation', 'status')),
    operation     TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',    -- JSON object of string parameters
    interval_ms   INTEGER NOT NULL CHECK (interval_ms >= 1000),
    timeout_ms    INTEGER NOT NULL CHECK (timeout_ms >= 100),
    expect_status INTEGER,                       -- NULL: any 2xx
    body_pointer  TEXT,                          -- RFC 6901 JSON pointer into the body
    body_equals   TEXT,                          -- JSON value; NULL with a pointer means "exists"
    degraded_ms   INTEGER,                       -- a latency above this counts as degraded
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (provider, name)
);

-- Every provider that has been monitored: its state-machine settings (JSON overrides of the
-- defaults) and its last known state, so a restart and `keyward status` see it.
CREATE TABLE monitor_providers (
    provider    TEXT PRIMARY KEY,
    settings    TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'unknown',
    state_since INTEGER,
    cause       TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Raw results of the scheduled checks (default retention 7 days).
CREATE TABLE check_results (
    id          INTEGER PRIMARY KEY,
    ts          INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    check_id    INTEGER NOT NULL,
    operation   TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    slow        INTEGER NOT NULL DEFAULT 0,
    maintenance INTEGER NOT NULL DEFAULT 0,
    error_kind  TEXT,
    message     TEXT
);
CREATE INDEX check_results_provider_ts ON check_results (provider, ts);
CREATE INDEX check_results_ts ON check_results (ts);

-- Rollups, maintained incrementally by the history writer. `count` results, of which
-- `failures` failed and `maintenance` reported maintenance; the latency columns describe the
-- `lat_count` successful results; `hist` is a sparse log-scale latency histogram so buckets
-- merge (hour -> day, or into a chart's wider bucket) without the raw rows.
CREATE TABLE rollup_minute (
    provider    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    lat_count   INTEGER NOT NULL,
    lat_sum     INTEGER NOT NULL,
    lat_min     INTEGER,
    lat_max     INTEGER,
    lat_p95     INTEGER,
    hist        BLOB NOT NULL,
    PRIMARY KEY (provider, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_minute_bucket ON rollup_minute (bucket);

CREATE TABLE rollup_hour (
    provider    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    lat_count   INTEGER NOT NULL,
    lat_sum     INTEGER NOT NULL,
    lat_min     INTEGER,
    lat_max     INTEGER,
    lat_p95     INTEGER,
    hist        BLOB NOT NULL,
    PRIMARY KEY (provider, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_hour_bucket ON rollup_hour (bucket);

CREATE TABLE rollup_day (
    provider    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    lat_count   INTEGER NOT NULL,
    lat_sum     INTEGER NOT NULL,
    lat_min     INTEGER,
    lat_max     INTEGER,
    lat_p95     INTEGER,
    hist        BLOB NOT NULL,
    PRIMARY KEY (provider, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_day_bucket ON rollup_day (bucket);

-- Every confirmed state change (kept; a few rows a day per provider).
CREATE TABLE state_changes (
    id         INTEGER PRIMARY KEY,
    provider   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    cause      TEXT NOT NULL
);
CREATE INDEX state_changes_provider_at ON state_changes (provider, at);
CREATE INDEX state_changes_at ON state_changes (at);

-- A contiguous period in a bad state (degraded, down or maintenance); `state` is the worst
-- one seen during it. At most one open incident (ended_at NULL) per provider.
CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY,
    provider   TEXT NOT NULL,
    state      TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    cause      TEXT NOT NULL
);
CREATE INDEX incidents_provider_started ON incidents (provider, started_at);
CREATE INDEX incidents_started ON incidents (started_at);
CREATE UNIQUE INDEX incidents_one_open ON incidents (provider) WHERE ended_at IS NULL;
