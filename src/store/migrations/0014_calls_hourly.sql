-- Calls per hour and per provider, environment, endpoint, key and caller: what usage reads for
-- long ranges, kept after the raw rows of `calls` are pruned. `hour` is the Unix time of the
-- hour's start; `key_label` is '' for calls without a key (so the key is unique).
CREATE TABLE calls_hourly (
    hour        INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    environment TEXT NOT NULL,
    operation   TEXT NOT NULL,
    key_label   TEXT NOT NULL,
    caller      TEXT NOT NULL,
    calls       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    weight      INTEGER NOT NULL,
    cost        REAL NOT NULL,
    latency_ms  INTEGER NOT NULL,
    PRIMARY KEY (hour, provider, environment, operation, key_label, caller)
) WITHOUT ROWID;

INSERT INTO calls_hourly (hour, provider, environment, operation, key_label, caller, calls, errors, weight, cost, latency_ms)
SELECT (CAST(strftime('%s', ts) AS INTEGER) / 3600) * 3600, provider, environment, operation, COALESCE(key_label, ''),
       caller, COUNT(*), SUM(outcome != 'ok'), SUM(weight), SUM(cost), SUM(latency_ms)
FROM calls
GROUP BY 1, 2, 3, 4, 5, 6;
