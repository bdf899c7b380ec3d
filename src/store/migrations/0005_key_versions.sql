-- Key rotation: every secret version of a key (metadata only; the secrets are in the
-- credential store under secret_ref / passphrase_ref), and the last permission check.
CREATE TABLE api_key_versions (
    key_id         INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    api_key        TEXT NOT NULL,
    secret_ref     TEXT NOT NULL,
    passphrase_ref TEXT,
    created_at     TEXT NOT NULL,
    verified_at    TEXT,
    activated_at   TEXT,
    retired_at     TEXT,
    PRIMARY KEY (key_id, version)
);
INSERT INTO api_key_versions (key_id, version, api_key, secret_ref, passphrase_ref, created_at, activated_at)
    SELECT id, 1, api_key, secret_ref, passphrase_ref, created_at, created_at FROM api_keys;
ALTER TABLE api_keys ADD COLUMN active_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN rotation_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE api_keys ADD COLUMN permissions_json TEXT;
ALTER TABLE api_keys ADD COLUMN permissions_checked_at TEXT;
