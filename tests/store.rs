use keyward::store::{open_connection, Store, StoreError, LATEST_SCHEMA_VERSION, MIGRATIONS};

use crate::support::plant_future_schema;

fn applied(path: &std::path::Path) -> Vec<(u32, String, String)> {
    let conn = open_connection(path).expect("connection opens");
    let mut stmt =
        conn.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").expect("query");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows decode")
}

#[test]
fn applies_every_migration_to_an_empty_database_and_records_each_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyward.db");
    let store = Store::open(&path).expect("empty database migrates");
    assert_eq!(store.schema_version(), LATEST_SCHEMA_VERSION);
    let rows = applied(&path);
    let versions: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let expected: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
    for (row, m) in rows.iter().zip(MIGRATIONS) {
        assert_eq!(row.1, m.name);
    }
}

#[test]
fn a_second_open_applies_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyward.db");
    Store::open(&path).expect("first open");
    let before = applied(&path);
    let store = Store::open(&path).expect("second open");
    assert_eq!(store.schema_version(), LATEST_SCHEMA_VERSION);
    assert_eq!(applied(&path), before, "a second open must not re-run or re-record migrations");
}

#[test]
fn refuses_a_database_written_by_a_newer_keyward() {
    let dir = tempfile::tempdir().expect("tempdir");
    plant_future_schema(dir.path(), LATEST_SCHEMA_VERSION + 7);
    let err = Store::open(&dir.path().join("keyward.db")).expect_err("a newer schema must not be opened");
    match &err {
        StoreError::SchemaTooNew { found, supported, .. } => {
            assert_eq!(*found, LATEST_SCHEMA_VERSION + 7);
            assert_eq!(*supported, LATEST_SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&format!("schema version {}", LATEST_SCHEMA_VERSION + 7)), "{msg}");
    assert!(msg.contains("newer Keyward"), "{msg}");
}

#[test]
fn uses_wal_and_a_busy_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyward.db");
    Store::open(&path).expect("open");
    let conn = open_connection(&path).expect("connection");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).expect("busy_timeout");
    assert_eq!(timeout, 5000);
}

#[test]
fn settings_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyward.db");
    let store = Store::open(&path).expect("open");
    assert_eq!(store.setting("theme").expect("read"), None);
    store.set_setting("theme", "dark").expect("write");
    store.set_setting("theme", "light").expect("overwrite");
    drop(store);
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.setting("theme").expect("read").as_deref(), Some("light"));
}

#[test]
fn keyward_open_creates_the_data_dir_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("nested").join("keyward");
    let kw = keyward::Keyward::open_with_secrets(&data_dir, std::sync::Arc::new(keyward::vault::MemoryStore::new()))
        .expect("opens");
    let info = kw.info();
    assert_eq!(info.data_dir, data_dir);
    assert_eq!(info.database_path, data_dir.join("keyward.db"));
    assert!(info.database_path.exists());
    assert_eq!(info.schema_version, LATEST_SCHEMA_VERSION);
    assert_eq!(info.secret_backend.kind, keyward::vault::BackendKind::Memory);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_provider_change_made_by_another_process_is_seen_at_once_despite_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = std::sync::Arc::new(keyward::vault::MemoryStore::new());
    let app = keyward::Keyward::open_with_secrets(dir.path(), secrets.clone()).expect("app");
    let cli = keyward::Keyward::open_with_secrets(dir.path(), secrets).expect("cli");
    let before = app.providers().get("kraken").expect("get").spec.timeout_ms;
    assert_eq!(app.providers().get("kraken").expect("cached").spec.timeout_ms, before);
    cli.providers().set("kraken", &[("timeout_ms", "1234")]).expect("set elsewhere");
    assert_eq!(app.providers().get("kraken").expect("fresh").spec.timeout_ms, 1234);
    app.providers().set("kraken", &[("timeout_ms", "4321")]).expect("set here");
    assert_eq!(app.providers().get("kraken").expect("fresh").spec.timeout_ms, 4321);
    assert_eq!(cli.providers().get("kraken").expect("fresh").spec.timeout_ms, 4321);
}
