-- API key metadata. The secret, passphrase and private key live only in the OS credential
-- store under the account names in secret_ref / passphrase_ref; never here.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    provider       TEXT NOT NULL,
    label          TEXT NOT NULL,
    environment    TEXT NOT NULL,
    api_key        TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    secret_ref     TEXT NOT NULL,
    passphrase_ref TEXT,
    notes          TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    last_used_at   TEXT,
    expires_at     TEXT,
    rotate_by      TEXT,
    UNIQUE (provider, label)
);
