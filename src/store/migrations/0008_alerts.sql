-- Alerts: rules, history, outgoing webhooks and their delivery attempts.
-- Webhook HMAC secrets live in the OS credential store under webhooks.secret_ref; never here.

CREATE TABLE alert_rules (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',          -- JSON thresholds, e.g. {"checks":3}
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    providers     TEXT,                                -- JSON array of provider ids; NULL = all
    desktop       INTEGER NOT NULL DEFAULT 1 CHECK (desktop IN (0, 1)),
    cooldown_secs INTEGER NOT NULL DEFAULT 900 CHECK (cooldown_secs >= 0),
    severity      TEXT CHECK (severity IN ('info', 'warning', 'critical')),  -- NULL = the input's own
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE webhooks (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    url                 TEXT NOT NULL,
    format              TEXT NOT NULL CHECK (format IN ('json', 'slack', 'discord')),
    secret_ref          TEXT,                          -- credential-store account; NULL = unsigned
    allow_insecure_http INTEGER NOT NULL DEFAULT 0 CHECK (allow_insecure_http IN (0, 1)),
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at          TEXT NOT NULL
);

-- Which webhooks a rule notifies.
CREATE TABLE alert_rule_webhooks (
    rule_id    INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, webhook_id)
);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    ts              TEXT NOT NULL,
    rule_id         INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    rule_kind       TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'resolved')),
    acknowledged_at TEXT,
    resolved_at     TEXT,
    suppressed      TEXT CHECK (suppressed IN ('cooldown', 'quiet_hours')),  -- why notifications were held back
    expires_at      TEXT                                                     -- resolves by itself then (bans)
);
CREATE INDEX alerts_ts ON alerts (ts);
CREATE INDEX alerts_rule_key_ts ON alerts (rule_id, dedup_key, ts);
CREATE INDEX alerts_open ON alerts (dedup_key) WHERE state <> 'resolved';

-- One row per delivery attempt. alert_id is NULL for test deliveries.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    alert_id    INTEGER REFERENCES alerts (id) ON DELETE SET NULL,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event       TEXT NOT NULL CHECK (event IN ('alert.raised', 'alert.resolved', 'test')),
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('delivered', 'retrying', 'failed')),
    http_status INTEGER,
    error       TEXT
);
CREATE INDEX webhook_deliveries_webhook_ts ON webhook_deliveries (webhook_id, ts);
CREATE INDEX webhook_deliveries_alert ON webhook_deliveries (alert_id);
