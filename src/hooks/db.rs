//! SQL for the hook tables (migration 0013).

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Delivery, Hook, HookAuth};

use crate::store::{fmt_ts, ts_at};

fn bad(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::<dyn std::error::Error + Send + Sync>::from(msg))
}

const HOOK_COLUMNS: &str = "id, name, provider, auth, secret_ref, created_at";

fn hook_row(row: &Row<'_>) -> rusqlite::Result<Hook> {
    let auth: String = row.get(3)?;
    Ok(Hook {
        id: row.get(0)?,
        name: row.get(1)?,
        provider: row.get(2)?,
        auth: HookAuth::parse(&auth).ok_or_else(|| bad(3, format!("hook auth {auth:?}")))?,
        secret_ref: row.get(4)?,
        created_at: ts_at(row, 5)?,
    })
}

pub(super) fn insert(c: &Connection, h: &Hook) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO incoming_hooks (id, name, provider, auth, secret_ref, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![h.id, h.name, h.provider, h.auth.as_str(), h.secret_ref, fmt_ts(h.created_at)],
    )?;
    Ok(())
}

pub(super) fn list(c: &Connection) -> rusqlite::Result<Vec<Hook>> {
    let mut st = c.prepare(&format!("SELECT {HOOK_COLUMNS} FROM incoming_hooks ORDER BY name"))?;
    let rows = st.query_map([], hook_row)?;
    rows.collect()
}

/// By id or by name.
pub(super) fn find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<Hook>> {
    c.query_row(
        &format!("SELECT {HOOK_COLUMNS} FROM incoming_hooks WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1"),
        [id_or_name],
        hook_row,
    )
    .optional()
}

pub(super) fn by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<Hook>> {
    c.query_row(&format!("SELECT {HOOK_COLUMNS} FROM incoming_hooks WHERE id = ?1"), [id], hook_row).optional()
}

pub(super) fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM incoming_hooks WHERE id = ?1", [id])?;
    Ok(())
}

pub(super) fn record(c: &Connection, d: &Delivery) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO hook_deliveries (ts, hook_id, http_status, result, detail, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![fmt_ts(d.ts), d.hook_id, d.http_status, d.result, d.detail, d.bytes],
    )?;
    Ok(c.last_insert_rowid())
}

/// The newest deliveries (of one hook, or all), newest first.
pub(super) fn deliveries(c: &Connection, hook: Option<&str>, limit: u32) -> rusqlite::Result<Vec<(Delivery, String)>> {
    let mut st = c.prepare(
        "SELECT d.id, d.ts, d.hook_id, d.http_status, d.result, d.detail, d.bytes, h.name
         FROM hook_deliveries d JOIN incoming_hooks h ON h.id = d.hook_id
         WHERE ?1 IS NULL OR d.hook_id = ?1 ORDER BY d.id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![hook, limit], |row| {
        Ok((
            Delivery {
                id: row.get(0)?,
                ts: ts_at(row, 1)?,
                hook_id: row.get(2)?,
                http_status: row.get(3)?,
                result: row.get(4)?,
                detail: row.get(5)?,
                bytes: row.get(6)?,
            },
            row.get(7)?,
        ))
    })?;
    rows.collect()
}
