//! SQLite storage: one database file in the data directory, WAL mode, numbered migrations.
//!
//! Connection pragmas are set per connection (not in migrations). Each migration runs in one
//! `IMMEDIATE` transaction together with the row that records its version, so a crash leaves
//! either the whole migration or none of it.

pub(crate) mod batch;
mod migrate;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use migrate::{Migration, LATEST_SCHEMA_VERSION, MIGRATIONS};

/// How long a writer waits for another connection's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database {} has schema version {found}, but this Keyward knows only up to version {supported}; \
         it was written by a newer Keyward. Upgrade Keyward, or open another data directory with --data-dir",
        path.display()
    )]
    SchemaTooNew { path: PathBuf, found: u32, supported: u32 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// A handle to the database. Cheap to clone; the connection is shared behind a mutex that is
/// never held across an `.await` (callers run queries on blocking threads).
#[derive(Clone)]
pub struct Store {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Connection>>,
    schema_version: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("schema_version", &self.schema_version).finish()
    }
}

impl Store {
    /// Opens the database file (creating it), sets the connection pragmas and applies every
    /// migration that has not run yet.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = open_connection(path)?;
        let schema_version = migrate::apply(&mut conn, path)?;
        Ok(Self { path: Arc::new(path.to_path_buf()), conn: Arc::new(Mutex::new(conn)), schema_version })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version after migrations ran at open.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// Runs `f` with the connection. Blocking: call it from a blocking thread in async code.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let guard = self.lock();
        f(&guard)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-written (SQLite
        // rolls back an open transaction), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads one setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached("SELECT value FROM settings WHERE key = ?1")?;
            let mut rows = stmt.query([key])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
    }

    /// Writes one setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [key, value],
            )?;
            Ok(())
        })
    }
}

/// Opens one connection with Keyward's pragmas.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open(path).map_err(wrap)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(wrap)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(wrap)?;
    Ok(conn)
}

/// A time as the tables store it: RFC 3339 UTC with milliseconds, so text order is time order.
pub fn fmt_ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a stored time from column `idx`; a value that is not one names itself.
pub fn ts_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<chrono::DateTime<chrono::Utc>> {
    let s: String = row.get(idx)?;
    chrono::DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&chrono::Utc)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            Box::<dyn std::error::Error + Send + Sync>::from(format!("timestamp {s:?}: {e}")),
        )
    })
}
