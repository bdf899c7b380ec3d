//! Passive health: rows of `calls` (every pipeline attempt) from callers other than the
//! monitor itself become observations.
//!
//! Only outcomes that say something about the provider count: a success, a timeout, a network
//! failure or a 5xx. A 4xx (including 429: our budget, not their health), an exchange error
//! in a 200 (mostly a client mistake: bad symbol, insufficient balance) and unknown outcomes
//! are skipped.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::state::{Observation, Source};
use crate::store::StoreError;

/// Most rows folded per call (the rest on the next call).
pub const MAX_ROWS: usize = 20_000;

pub(crate) struct PassiveBatch {
    pub observations: Vec<(String, Observation)>,
    /// The id to continue after.
    pub cursor: i64,
}

/// Reads rows after `cursor` (or, on the first call, from `since`).
pub(crate) fn read(conn: &Connection, cursor: Option<i64>, since: DateTime<Utc>) -> Result<PassiveBatch, StoreError> {
    let start = match cursor {
        Some(c) => c,
        None => {
            let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            conn.query_row(
                "SELECT COALESCE((SELECT MIN(id) - 1 FROM calls WHERE ts >= ?1), (SELECT MAX(id) FROM calls), 0)",
                [since],
                |r| r.get(0),
            )?
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, ts, provider, operation, status, outcome, latency_ms FROM calls
         WHERE id > ?1 AND caller <> ?2 ORDER BY id LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![start, crate::caller::Caller::MONITOR.as_str(), MAX_ROWS as i64])?;
    let mut cursor = start;
    let mut observations = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        cursor = cursor.max(id);
        let ts: String = row.get(1)?;
        let Ok(at) = DateTime::parse_from_rfc3339(&ts).map(|t| t.with_timezone(&Utc)) else { continue };
        let provider: String = row.get(2)?;
        let operation: String = row.get(3)?;
        let status: Option<i64> = row.get(4)?;
        let outcome: String = row.get(5)?;
        let latency = Duration::from_millis(u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0));
        let (ok, error) = match (outcome.as_str(), status) {
            ("ok", _) => (true, None),
            ("timeout", _) => (false, Some("timed out (real traffic)".to_string())),
            ("network", _) => (false, Some("network error (real traffic)".to_string())),
            ("http_error", Some(s)) if s >= 500 => (false, Some(format!("HTTP {s} (real traffic)"))),
            _ => continue,
        };
        observations.push((
            provider,
            Observation {
                at,
                source: Source::Passive(operation.clone()),
                label: operation,
                ok,
                latency,
                slow: false,
                system: None,
                error,
            },
        ));
    }
    // If a batch was all skipped rows, still move past them.
    if cursor == start {
        let max: Option<i64> = conn.query_row("SELECT MAX(id) FROM calls WHERE id > ?1", [start], |r| r.get(0))?;
        if let Some(m) = max.filter(|_| observations.is_empty()) {
            // Only monitor rows follow (the query above filters them): skip to the newest.
            cursor = m;
        }
    }
    Ok(PassiveBatch { observations, cursor })
}
