-- One row per attempt made through the call pipeline (usage, cost and passive health build on
-- it). Never holds request or response bodies, headers or secrets.
CREATE TABLE calls (
    id          INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    provider    TEXT NOT NULL,
    environment TEXT NOT NULL,
    operation   TEXT NOT NULL,
    key_label   TEXT,
    caller      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    outcome     TEXT NOT NULL,
    latency_ms  INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    weight      INTEGER NOT NULL,
    cost        REAL NOT NULL
);
CREATE INDEX calls_provider_ts ON calls (provider, ts);
