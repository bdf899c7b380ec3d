-- Billed units (calls or credits, as the provider's plan counts them), throttled calls, latency buckets in the
-- rollups (so long ranges have percentiles), a daily rollup for month-long ranges and a minute
-- rollup for the edges of ranges.
--
-- `lat_0` .. `lat_15` count calls by latency, upper bounds (ms, exclusive) 10, 25, 50, 75, 100, 125, 150, 200, 250, 350, 500, 750, 1000, 2500, 10000
-- and none (see usage::latency::BOUNDS_MS). Hours recorded before this migration put all their
-- calls in the bucket of their average latency.
ALTER TABLE calls ADD COLUMN units REAL NOT NULL DEFAULT 0;

ALTER TABLE calls_hourly ADD COLUMN units REAL NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_0 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_1 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_3 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_5 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_6 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_7 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_8 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_9 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_13 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_14 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls_hourly ADD COLUMN lat_15 INTEGER NOT NULL DEFAULT 0;

UPDATE calls_hourly SET
    lat_0 = CASE WHEN latency_ms / calls < 10 THEN calls ELSE 0 END,
    lat_1 = CASE WHEN latency_ms / calls >= 10 AND latency_ms / calls < 25 THEN calls ELSE 0 END,
    lat_2 = CASE WHEN latency_ms / calls >= 25 AND latency_ms / calls < 50 THEN calls ELSE 0 END,
    lat_3 = CASE WHEN latency_ms / calls >= 50 AND latency_ms / calls < 75 THEN calls ELSE 0 END,
    lat_4 = CASE WHEN latency_ms / calls >= 75 AND latency_ms / calls < 100 THEN calls ELSE 0 END,
    lat_5 = CASE WHEN latency_ms / calls >= 100 AND latency_ms / calls < 125 THEN calls ELSE 0 END,
    lat_6 = CASE WHEN latency_ms / calls >= 125 AND latency_ms / calls < 150 THEN calls ELSE 0 END,
    lat_7 = CASE WHEN latency_ms / calls >= 150 AND latency_ms / calls < 200 THEN calls ELSE 0 END,
    lat_8 = CASE WHEN latency_ms / calls >= 200 AND latency_ms / calls < 250 THEN calls ELSE 0 END,
    lat_9 = CASE WHEN latency_ms / calls >= 250 AND latency_ms / calls < 350 THEN calls ELSE 0 END,
    lat_10 = CASE WHEN latency_ms / calls >= 350 AND latency_ms / calls < 500 THEN calls ELSE 0 END,
    lat_11 = CASE WHEN latency_ms / calls >= 500 AND latency_ms / calls < 750 THEN calls ELSE 0 END,
    lat_12 = CASE WHEN latency_ms / calls >= 750 AND latency_ms / calls < 1000 THEN calls ELSE 0 END,
    lat_13 = CASE WHEN latency_ms / calls >= 1000 AND latency_ms / calls < 2500 THEN calls ELSE 0 END,
    lat_14 = CASE WHEN latency_ms / calls >= 2500 AND latency_ms / calls < 10000 THEN calls ELSE 0 END,
    lat_15 = CASE WHEN latency_ms / calls >= 10000 THEN calls ELSE 0 END
WHERE calls > 0;

-- The same sums per UTC day (`day`: the Unix time of its 00:00).
CREATE TABLE calls_daily (
    day         INTEGER NOT NULL,
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
    units       REAL NOT NULL,
    throttled   INTEGER NOT NULL,
    lat_0 INTEGER NOT NULL,
    lat_1 INTEGER NOT NULL,
    lat_2 INTEGER NOT NULL,
    lat_3 INTEGER NOT NULL,
    lat_4 INTEGER NOT NULL,
    lat_5 INTEGER NOT NULL,
    lat_6 INTEGER NOT NULL,
    lat_7 INTEGER NOT NULL,
    lat_8 INTEGER NOT NULL,
    lat_9 INTEGER NOT NULL,
    lat_10 INTEGER NOT NULL,
    lat_11 INTEGER NOT NULL,
    lat_12 INTEGER NOT NULL,
    lat_13 INTEGER NOT NULL,
    lat_14 INTEGER NOT NULL,
    lat_15 INTEGER NOT NULL,
    PRIMARY KEY (day, provider, environment, operation, key_label, caller)
) WITHOUT ROWID;

INSERT INTO calls_daily
SELECT (hour / 86400) * 86400, provider, environment, operation, key_label, caller,
       SUM(calls), SUM(errors), SUM(weight), SUM(cost), SUM(latency_ms), SUM(units), SUM(throttled),
       SUM(lat_0), SUM(lat_1), SUM(lat_2), SUM(lat_3), SUM(lat_4), SUM(lat_5), SUM(lat_6), SUM(lat_7), SUM(lat_8), SUM(lat_9), SUM(lat_10), SUM(lat_11), SUM(lat_12), SUM(lat_13), SUM(lat_14), SUM(lat_15)
FROM calls_hourly
GROUP BY 1, 2, 3, 4, 5, 6;

-- The same sums per minute (`minute`: Unix seconds of its start), made from the raw rows as they
-- are pruned and kept 7 days (usage::MINUTE_RETENTION_DAYS): the partial hours at the ends of
-- ranges older than the raw rows, and minute-sized charts of them, read it.
CREATE TABLE calls_minutely (
    minute      INTEGER NOT NULL,
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
    units       REAL NOT NULL,
    throttled   INTEGER NOT NULL,
    lat_0 INTEGER NOT NULL,
    lat_1 INTEGER NOT NULL,
    lat_2 INTEGER NOT NULL,
    lat_3 INTEGER NOT NULL,
    lat_4 INTEGER NOT NULL,
    lat_5 INTEGER NOT NULL,
    lat_6 INTEGER NOT NULL,
    lat_7 INTEGER NOT NULL,
    lat_8 INTEGER NOT NULL,
    lat_9 INTEGER NOT NULL,
    lat_10 INTEGER NOT NULL,
    lat_11 INTEGER NOT NULL,
    lat_12 INTEGER NOT NULL,
    lat_13 INTEGER NOT NULL,
    lat_14 INTEGER NOT NULL,
    lat_15 INTEGER NOT NULL,
    PRIMARY KEY (minute, provider, environment, operation, key_label, caller)
) WITHOUT ROWID;
