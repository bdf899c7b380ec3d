-- Bot tokens for the local gateway. Only a SHA-256 of each token is stored (tokens are 256-bit
-- random, so a fast hash is enough); `hint` is its first characters, for recognising it in a list.
CREATE TABLE gateway_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    provider    TEXT NOT NULL,
    key_label   TEXT,
    scopes      TEXT NOT NULL,
    allow_ips   TEXT NOT NULL DEFAULT '[]',
    max_wait_ms INTEGER NOT NULL,
    -- The part (0–1] of each of the provider's limits the bot may use; NULL: no cap.
    max_share   REAL,
    token_hash  TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    rotated_at  TEXT,
    disabled    INTEGER NOT NULL DEFAULT 0,
    last_used_at TEXT
);
