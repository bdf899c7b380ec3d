//! Audit page commands. Thin: parse the filter, one core call, DTO out.
//!
//! There is no save dialog in this build, so an export is written into the data directory's
//! `exports/` folder under a timestamped name, and the UI shows the path.

use keyward::ErrorKind;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use keyward::audit::{AuditError, AuditOptions, AuditQuery, AuditRowView, AuditVerifyView};
use tauri::State;

use crate::commands::blocking;
use crate::dto::audit::{AuditExportDto, AuditPageDto};
use crate::dto::CommandError;
use crate::AppState;

/// The folder under the data directory that exports are written to.
pub const EXPORTS_DIR: &str = "exports";
/// Rows per page when the UI does not say.
pub const PAGE_DEFAULT: u32 = 50;
/// The largest page the UI may ask for.
pub const PAGE_MAX: u32 = 1000;
/// Exports started within one second get `-2`, `-3`, … up to this many.
const MAX_SAME_SECOND: u32 = 100;

#[tauri::command]
pub fn audit_options() -> AuditOptions {
    AuditOptions::default()
}

/// One page of rows matching `filter`, newest first.
#[tauri::command]
pub async fn audit_list(state: State<'_, AppState>, filter: AuditQuery) -> Result<AuditPageDto, CommandError> {
    blocking(&state, move |kw| {
        let page = filter.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX) as usize;
        // One row more than the page tells whether older rows exist.
        let core_filter = keyward::audit::AuditFilter { limit: Some(page + 1), ..filter.filter()? };
        let mut rows = kw.audit().list(&core_filter)?;
        let has_more = rows.len() > page;
        rows.truncate(page);
        Ok(AuditPageDto { rows: rows.iter().map(AuditRowView::from).collect(), has_more })
    })
    .await
}

/// Walks the hash chain. A broken chain is an answer (the problems), not a failure.
#[tauri::command]
pub async fn audit_verify(state: State<'_, AppState>) -> Result<AuditVerifyView, CommandError> {
    blocking(&state, |kw| Ok(AuditVerifyView::of(kw.audit().verify())?)).await
}

/// Writes every row matching `filter` (paging ignored), oldest first, to
/// `<data dir>/exports/audit-<UTC time>.<jsonl|csv>`.
#[tauri::command]
pub async fn audit_export(
    state: State<'_, AppState>,
    format: String,
    filter: AuditQuery,
) -> Result<AuditExportDto, CommandError> {
    let csv = match format.as_str() {
        "jsonl" => false,
        "csv" => true,
        other => {
            return Err(CommandError::new(ErrorKind::Invalid, format!("export format \"{other}\" is not jsonl or csv")))
        }
    };
    blocking(&state, move |kw| {
        let core_filter = keyward::audit::AuditFilter { before_id: None, limit: None, ..filter.filter()? };
        let (path, file) = create_export(&kw.data_dir().join(EXPORTS_DIR), &format, chrono::Utc::now())?;
        let mut out = BufWriter::new(file);
        let written = if csv {
            kw.audit().export_csv(&core_filter, &mut out)
        } else {
            kw.audit().export_json_lines(&core_filter, &mut out)
        }
        .and_then(|n| out.flush().map(|()| n).map_err(AuditError::Export));
        match written {
            Ok(rows) => Ok(AuditExportDto { path: path.display().to_string(), format, rows: rows as u64 }),
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(&path);
                Err(e.into())
            }
        }
    })
    .await
}

/// Creates a new export file in `dir`, never overwriting one: `audit-20260101-120000Z.csv`,
/// then `audit-20260101-120000Z-2.csv`, … within the same second.
fn create_export(dir: &Path, ext: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(PathBuf, File), CommandError> {
    let io_error = |what: &str, path: &Path, e: std::io::Error| {
        CommandError::new(ErrorKind::Io, format!("could not {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io_error("create the exports folder", dir, e))?;
    let stem = format!("audit-{}", now.format("%Y%m%d-%H%M%SZ"));
    for n in 1..=MAX_SAME_SECOND {
        let name = if n == 1 { format!("{stem}.{ext}") } else { format!("{stem}-{n}.{ext}") };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create the export file", &path, e)),
        }
    }
    Err(CommandError::new(
        ErrorKind::Io,
        format!("{MAX_SAME_SECOND} exports named {stem} already exist in {}", dir.display()),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::test_support::{boot, invoke};
    use keyward::audit::{Actor, AuditEvent, AuditKind};
    use serde_json::json;

    /// A core with `n` key_created rows.
    fn core_with_rows(n: usize) -> (tempfile::TempDir, keyward::Keyward) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = keyward::Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new()))
            .expect("core");
        for i in 0..n {
            let event = AuditEvent::new(Actor::Ui, AuditKind::KeyCreated).key("binance", format!("k{i}"));
            kw.audit().append(event, chrono::Utc::now()).expect("append");
        }
        (dir, kw)
    }

    #[test]
    fn lists_pages_backwards_and_says_when_older_rows_exist() {
        let (_dir, kw) = core_with_rows(5);
        let (_app, webview) = boot(kw);
        let page = invoke(&webview, "audit_list", json!({"filter": {"limit": 3}})).expect("list");
        let ids: Vec<i64> =
            page["rows"].as_array().expect("rows").iter().map(|r| r["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, [5, 4, 3]);
        assert_eq!(page["hasMore"], true);
        assert_eq!(page["rows"][0]["keyLabel"], "k4");
        let older = invoke(&webview, "audit_list", json!({"filter": {"limit": 3, "beforeId": 3}})).expect("older");
        assert_eq!(older["rows"].as_array().expect("rows").len(), 2);
        assert_eq!(older["hasMore"], false);

        let err = invoke(&webview, "audit_list", json!({"filter": {"actor": "robot"}})).expect_err("bad actor");
        assert_eq!(err["kind"], "invalid");
    }

    #[test]
    fn a_broken_chain_is_reported_row_by_row_not_as_a_failure() {
        let (dir, kw) = core_with_rows(3);
        let (_app, webview) = boot(kw);
        let ok = invoke(&webview, "audit_verify", json!({})).expect("verify");
        assert_eq!(ok["intact"], true);
        assert_eq!(ok["rowsChecked"], 3);

        let conn = keyward::store::open_connection(&dir.path().join(keyward::DATABASE_FILE)).expect("connection");
        conn.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET key_label = 'evil' WHERE id = 2;")
            .expect("tamper");
        let broken = invoke(&webview, "audit_verify", json!({})).expect("verify still answers");
        assert_eq!(broken["intact"], false);
        let problems = broken["problems"].as_array().expect("problems");
        assert!(problems.iter().any(|p| p["rowId"] == 2 && p["kind"] == "edited"), "{problems:?}");
    }

    #[test]
    fn exports_the_filtered_rows_into_the_exports_folder() {
        let (dir, kw) = core_with_rows(3);
        let (_app, webview) = boot(kw);
        let done =
            invoke(&webview, "audit_export", json!({"format": "jsonl", "filter": {"keyLabel": "k1", "limit": 1}}))
                .expect("export");
        assert_eq!(done["rows"], 1);
        let path = std::path::PathBuf::from(done["path"].as_str().expect("path"));
        assert_eq!(path.parent(), Some(dir.path().join(EXPORTS_DIR).as_path()));
        let text = std::fs::read_to_string(&path).expect("export file");
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"key_label\":\"k1\""), "{text}");

        let err = invoke(&webview, "audit_export", json!({"format": "xlsx", "filter": {}})).expect_err("bad format");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"xlsx\""), "{err}");
    }

    #[test]
    fn exports_get_a_timestamped_name_and_never_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exports = dir.path().join(EXPORTS_DIR);
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").expect("time").to_utc();
        let (first, _) = create_export(&exports, "csv", now).expect("first");
        let (second, _) = create_export(&exports, "csv", now).expect("second");
        assert_eq!(first, exports.join("audit-20260102-030405Z.csv"));
        assert_eq!(second, exports.join("audit-20260102-030405Z-2.csv"));
    }
}
