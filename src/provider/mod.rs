//! Provider specs: presets shipped as TOML data, user specs and overrides in the database.
