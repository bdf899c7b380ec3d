//! Numbered, append-only migrations. Never edit a released migration: add the next number.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Versions are consecutive from 1.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "settings", sql: include_str!("migrations/0001_settings.sql") },
    Migration { version: 2, name: "providers", sql: include_str!("migrations/0002_providers.sql") },
    Migration { version: 3, name: "api_keys", sql: include_str!("migrations/0003_keys.sql") },
    Migration { version: 4, name: "calls", sql: include_str!("migrations/0004_calls.sql") },
    Migration { version: 5, name: "key_versions", sql: include_str!("migrations/0005_key_versions.sql") },
    Migration { version: 6, name: "audit", sql: include_str!("migrations/0006_audit.sql") },
    Migration { version: 7, name: "monitor", sql: include_str!("migrations/0007_monitor.sql") },
    Migration { version: 8, name: "alerts", sql: include_str!("migrations/0008_alerts.sql") },
    Migration { version: 9, name: "provider_generation", sql: include_str!("migrations/0009_provider_generation.sql") },
    Migration { version: 10, name: "calls_ts", sql: include_str!("migrations/0010_calls_ts.sql") },
    Migration { version: 11, name: "audit_seal", sql: include_str!("migrations/0011_audit_seal.sql") },
    Migration { version: 12, name: "gateway_tokens", sql: include_str!("migrations/0012_gateway_tokens.sql") },
    Migration { version: 13, name: "incoming_hooks", sql: include_str!("migrations/0013_incoming_hooks.sql") },
    Migration { version: 14, name: "calls_hourly", sql: include_str!("migrations/0014_calls_hourly.sql") },
    Migration { version: 15, name: "usage_billing", sql: include_str!("migrations/0015_usage_billing.sql") },
];

/// The newest schema this build understands.
pub const LATEST_SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Applies the pending migrations and returns the resulting schema version.
pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    conn.execute_batch(BOOKKEEPING)?;
    let current = current_version(conn)?;
    if current > LATEST_SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: LATEST_SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let fail = |source| StoreError::Migration { version: m.version, name: m.name, source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
        // Another process may have migrated between our read and our lock.
        let now_current: u32 =
            tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(fail)?;
        if now_current >= m.version {
            continue;
        }
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
            rusqlite::params![m.version, m.name],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version = m.version, name = m.name, "applied database migration");
    }
    current_version(conn)
}

fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration {} is out of order", m.name);
        }
    }
}
