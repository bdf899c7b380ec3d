//! Keyward's integration tests: one binary, one module per area. Tests that need the OS
//! credential store expect a Secret Service on the session bus (`make test` runs them inside
//! `dbus-run-session` with an unlocked gnome-keyring and a temporary HOME).

mod support;

mod billing;
mod canary;
mod cli;
mod cli_export;
mod cli_monitor;
mod cli_provider;
mod cli_usage;
mod cli_usage_insight;
mod cli_views;
mod control;
mod durability;
mod failover;
mod gateway;
mod hardening;
mod hooks;
mod hostile;
mod keys;
mod metrics;
mod pipeline;
mod services;
mod shared_budget;
mod store;
mod vault;
