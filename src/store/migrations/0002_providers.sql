-- Provider specs the user added (origin 'custom') and the user's edits of built-in presets
-- (origin 'override'), each stored as the TOML text of a whole spec. The presets themselves
-- ship inside the binary and are never stored here.
CREATE TABLE provider_specs (
    id         TEXT PRIMARY KEY,
    origin     TEXT NOT NULL CHECK (origin IN ('custom', 'override')),
    spec_toml  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Per-provider state, for presets and custom specs alike. No row means the defaults:
-- disabled, and the spec's default_environment. environment NULL also means the default.
CREATE TABLE provider_state (
    id          TEXT PRIMARY KEY,
    enabled     INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    environment TEXT,
    updated_at  TEXT NOT NULL
);
