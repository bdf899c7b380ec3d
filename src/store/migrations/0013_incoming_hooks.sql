-- Incoming webhooks (POST /hooks/<id> on the gateway's port) and every delivery they received.
-- Each hook's secret lives in the OS credential store under incoming_hooks.secret_ref; never here.
CREATE TABLE incoming_hooks (
    id          TEXT PRIMARY KEY,                      -- random, the URL's last segment
    name        TEXT NOT NULL UNIQUE,
    provider    TEXT,                                  -- the provider its reports are about; NULL: as the payload says
    auth        TEXT NOT NULL CHECK (auth IN ('signature', 'url_secret')),
    secret_ref  TEXT NOT NULL,                         -- credential-store account
    created_at  TEXT NOT NULL
);

-- One row per request to a known hook, accepted or refused. No body and no secret is kept.
CREATE TABLE hook_deliveries (
    id          INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    hook_id     TEXT NOT NULL REFERENCES incoming_hooks (id) ON DELETE CASCADE,
    http_status INTEGER NOT NULL,
    result      TEXT NOT NULL CHECK (result IN
                  ('accepted', 'bad_signature', 'stale', 'too_large', 'malformed', 'rate_limited', 'error')),
    detail      TEXT NOT NULL,                         -- what it became, or why it was refused
    bytes       INTEGER NOT NULL
);
CREATE INDEX hook_deliveries_hook_ts ON hook_deliveries (hook_id, ts);
CREATE INDEX hook_deliveries_ts ON hook_deliveries (ts);
