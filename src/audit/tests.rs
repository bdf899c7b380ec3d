use chrono::TimeZone;
use serde_json::json;

use super::chain::row_hash;
use super::*;

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).single().expect("valid time")
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    audit: Audit,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("open store");
    let audit = Audit::new(store.clone());
    Fixture { _dir: dir, store, audit }
}

/// Appends `n` key_created events (ids 1..=n), one second apart from 12:00:00.
fn with_rows(n: u32) -> Fixture {
    let f = fixture();
    for i in 0..n {
        let event = AuditEvent::new(Actor::Cli, AuditKind::KeyCreated)
            .key("binance", format!("key-{}", i + 1))
            .detail(json!({ "scopes": ["read"], "n": i + 1 }));
        f.audit.append(event, t(12, 0, i)).expect("append");
    }
    f
}

fn sql(f: &Fixture, batch: &str) {
    f.store.with_conn(|c| Ok(c.execute_batch(batch)?)).expect("tamper sql");
}

fn tampering(f: &Fixture) -> Vec<Tamper> {
    match f.audit.verify() {
        Err(AuditError::Tampered { problems }) => problems,
        other => panic!("expected Tampered, got {other:?}"),
    }
}

fn stored(f: &Fixture, id: i64) -> RawRow {
    f.store
        .with_conn(|c| {
            Ok(c.query_row(&format!("SELECT {RAW_COLUMNS} FROM audit_log WHERE id = ?1"), [id], RawRow::from_row)?)
        })
        .expect("row")
}

fn insert_raw(f: &Fixture, r: &RawRow) {
    f.store
        .with_conn(|c| {
            c.execute(
                &format!("INSERT INTO audit_log ({RAW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![r.id, r.ts, r.actor, r.event, r.provider, r.key_label, r.detail, r.prev_hash, r.hash, r.seal],
            )?;
            Ok(())
        })
        .expect("insert forged row");
}

/// A row with a self-consistent hash, as a forger who knows the format would write it.
fn forged(id: i64, prev_hash: &str) -> RawRow {
    let mut r = RawRow {
        id,
        ts: "2026-03-01T12:30:00.000Z".to_string(),
        actor: "ui".to_string(),
        event: "key_deleted".to_string(),
        provider: Some("binance".to_string()),
        key_label: Some("forged".to_string()),
        detail: "{}".to_string(),
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
        seal: None,
    };
    r.hash = row_hash(
        &r.prev_hash,
        r.id,
        &r.ts,
        &r.actor,
        &r.event,
        r.provider.as_deref(),
        r.key_label.as_deref(),
        &r.detail,
    );
    r
}

#[test]
fn appended_rows_form_a_chain_from_the_genesis_hash_and_verify_clean() {
    let f = fixture();
    let report = f.audit.verify().expect("empty log verifies");
    assert_eq!(
        report,
        VerifyReport { rows_checked: 0, last_hash: GENESIS_HASH.to_string(), seals: SealStatus::NotYetSealed }
    );

    let a = f
        .audit
        .append(
            AuditEvent::new(Actor::Ui, AuditKind::KeyCreated)
                .key("binance", "main")
                .detail(json!({"scopes": ["read"]})),
            t(12, 0, 0),
        )
        .expect("append");
    let b = f
        .audit
        .append(AuditEvent::new(Actor::Cli, AuditKind::KeyRevealed).key("binance", "main"), t(12, 0, 5))
        .expect("append");
    let c = f.audit.append(AuditEvent::new(Actor::System, AuditKind::VaultLocked), t(12, 1, 0)).expect("append");
    assert_eq!((a.id, b.id, c.id), (1, 2, 3));
    assert_eq!(a.prev_hash, GENESIS_HASH);
    assert_eq!(b.prev_hash, a.hash);
    assert_eq!(c.prev_hash, b.hash);
    assert_eq!(a.ts, t(12, 0, 0));
    assert_eq!(c.provider, None);
    assert_eq!(a.detail, json!({"scopes": ["read"]}));

    let report = f.audit.verify().expect("clean chain");
    assert_eq!(report, VerifyReport { rows_checked: 3, last_hash: c.hash.clone(), seals: SealStatus::NotYetSealed });
}

#[test]
fn the_triggers_refuse_update_and_delete() {
    let f = with_rows(2);
    for statement in [
        "UPDATE audit_log SET detail = '{}' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 2",
        "DELETE FROM audit_anchor",
    ] {
        let err = f.store.with_conn(|c| Ok(c.execute_batch(statement)?)).expect_err(statement);
        assert!(err.to_string().contains("append-only"), "{statement}: {err}");
    }
    let err =
        f.store.with_conn(|c| Ok(c.execute_batch("UPDATE audit_anchor SET last_id = 1")?)).expect_err("rewind anchor");
    assert!(err.to_string().contains("only moves forward"), "{err}");
    f.audit.verify().expect("nothing changed");
}

#[test]
fn an_edited_row_is_named_by_its_id() {
    let f = with_rows(4);
    sql(&f, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = '{\"n\":99}' WHERE id = 2;");
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, TamperKind::Edited);
    assert_eq!(problems[0].row_id, 2);
    assert_eq!(problems[0].message, "row 2 was edited (its content no longer matches its hash)");
    let err = f.audit.verify().expect_err("tampered");
    assert!(err.to_string().contains("row 2 was edited"), "{err}");
    assert_eq!(err.kind(), "tampered");
}

#[test]
fn an_edited_last_row_with_a_recomputed_hash_is_caught_by_the_anchor() {
    let f = with_rows(3);
    let mut r = stored(&f, 3);
    r.detail = "{\"n\":1000}".to_string();
    let hash = r.compute_hash();
    sql(
        &f,
        &format!(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = '{}', hash = '{hash}' WHERE id = 3;",
            r.detail
        ),
    );
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Edited, 3));
    assert!(problems[0].message.contains("anchor"), "{}", problems[0].message);
}

#[test]
fn a_deleted_middle_row_is_named() {
    let f = with_rows(5);
    sql(&f, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 3;");
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Deleted, 3));
    assert!(problems[0].message.starts_with("row 3 was deleted"), "{}", problems[0].message);
}

#[test]
fn deleting_the_first_rows_is_caught() {
    let f = with_rows(4);
    sql(&f, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id IN (1, 2);");
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Deleted, 1));
    assert!(problems[0].message.starts_with("rows 1–2 were deleted"), "{}", problems[0].message);
}

#[test]
fn a_cut_off_tail_is_caught_by_the_anchor_and_stays_visible_after_the_next_append() {
    let f = with_rows(5);
    sql(&f, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id >= 4;");
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Deleted, 4));
    assert!(problems[0].message.contains("rows 4–5 were deleted from the end"), "{}", problems[0].message);

    // The next append chains to the anchored (deleted) row 5, so the gap does not heal.
    let next = f.audit.append(AuditEvent::new(Actor::Ui, AuditKind::SettingsChanged), t(13, 0, 0)).expect("append");
    assert_eq!(next.id, 6);
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Deleted, 4));
}

#[test]
fn a_forged_row_that_does_not_chain_is_reported_as_inserted() {
    let f = with_rows(3);
    insert_raw(&f, &forged(4, &"ab".repeat(32)));
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Inserted, 4));
    assert!(problems[0].message.starts_with("row 4 was inserted"), "{}", problems[0].message);
}

#[test]
fn a_perfectly_chained_forged_row_is_caught_by_the_anchor() {
    let f = with_rows(3);
    let last = stored(&f, 3);
    insert_raw(&f, &forged(4, &last.hash));
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Inserted, 4));
    assert!(problems[0].message.contains("inserted outside Keyward"), "{}", problems[0].message);
}

#[test]
fn a_row_forged_into_an_id_gap_is_reported_as_inserted() {
    let f = with_rows(3);
    let last = stored(&f, 3);
    insert_raw(&f, &forged(10, &last.hash));
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Inserted, 10));
    assert!(problems[0].message.contains("skips ids 4–9"), "{}", problems[0].message);
}

#[test]
fn a_middle_row_replaced_by_a_forgery_breaks_the_chain_at_the_next_row() {
    let f = with_rows(5);
    let second = stored(&f, 2);
    sql(&f, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 3;");
    insert_raw(&f, &forged(3, &second.hash));
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Inserted, 4));
    assert!(problems[0].message.contains("row 3 was replaced"), "{}", problems[0].message);
}

#[test]
fn key_uses_are_written_once_per_key_per_minute_with_the_count() {
    let f = fixture();
    for s in [1, 10, 20, 30, 59] {
        f.audit.record_use("binance", "main", t(12, 0, s));
    }
    f.audit.record_use_by(Actor::Gateway, "binance", "main", t(12, 0, 40));
    f.audit.record_use_by(Actor::Gateway, "kraken", "bot", t(12, 0, 30));
    assert_eq!(f.audit.pending_uses(), 7);

    assert!(f.audit.flush_uses(t(12, 0, 59)).expect("flush").is_empty(), "the minute has not ended");
    f.audit.record_use("binance", "main", t(12, 1, 5));
    let rows = f.audit.flush_uses(t(12, 1, 10)).expect("flush");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let binance = rows.iter().find(|r| r.provider.as_deref() == Some("binance")).expect("binance row");
    assert_eq!(binance.event, AuditKind::KeyUsed);
    assert_eq!(binance.key_label.as_deref(), Some("main"));
    assert_eq!(binance.ts, t(12, 1, 10));
    assert_eq!(binance.detail["count"], 6);
    assert_eq!(binance.detail["by_actor"], json!({"gateway": 1, "system": 5}));
    assert_eq!(binance.detail["window_start"], "2026-03-01T12:00:00.000Z");
    assert_eq!(binance.detail["first_use"], "2026-03-01T12:00:01.000Z");
    assert_eq!(binance.detail["last_use"], "2026-03-01T12:00:59.000Z");
    let kraken = rows.iter().find(|r| r.provider.as_deref() == Some("kraken")).expect("kraken row");
    assert_eq!(kraken.detail["count"], 1);

    assert_eq!(f.audit.pending_uses(), 1, "12:01's use waits for its minute to end");
    assert!(f.audit.flush_uses(t(12, 1, 30)).expect("flush").is_empty());
    let rows = f.audit.flush_all_uses(t(12, 1, 30)).expect("flush all");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail["count"], 1);
    assert_eq!(f.audit.pending_uses(), 0);
    f.audit.verify().expect("chain clean");
}

#[test]
fn many_uses_over_three_minutes_give_three_rows() {
    let f = fixture();
    for i in 0..180 {
        f.audit.record_use("okx", "k", t(12, 0, 0) + chrono::Duration::seconds(i));
    }
    let rows = f.audit.flush_uses(t(12, 5, 0)).expect("flush");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.detail["count"] == 60), "{rows:?}");
    let listed = f.audit.list(&AuditFilter { event: Some(AuditKind::KeyUsed), ..Default::default() }).expect("list");
    assert_eq!(listed.len(), 3);
}

#[test]
fn a_failed_flush_keeps_the_counts_for_the_next_one() {
    let f = fixture();
    f.audit.record_use("binance", "main", t(12, 0, 1));
    f.audit.record_use("binance", "main", t(12, 0, 2));
    sql(&f, "CREATE TRIGGER block_insert BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;");
    assert!(f.audit.flush_uses(t(12, 2, 0)).is_err());
    assert_eq!(f.audit.pending_uses(), 2);
    sql(&f, "DROP TRIGGER block_insert;");
    let rows = f.audit.flush_uses(t(12, 2, 0)).expect("flush");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail["count"], 2);
    f.audit.verify().expect("a failed append leaves no trace in the chain");
}

#[test]
fn filters_select_rows_newest_first() {
    let f = fixture();
    let add = |actor, kind, provider: &str, label: &str, at| {
        f.audit.append(AuditEvent::new(actor, kind).key(provider, label), at).expect("append");
    };
    add(Actor::Ui, AuditKind::KeyCreated, "binance", "main", t(10, 0, 0));
    add(Actor::Cli, AuditKind::KeyRevealed, "binance", "main", t(11, 0, 0));
    add(Actor::Ui, AuditKind::KeyCreated, "kraken", "bot", t(12, 0, 0));
    add(Actor::Gateway, AuditKind::KeyCopied, "binance", "alt", t(13, 0, 0));
    add(Actor::Ui, AuditKind::KeyDeleted, "binance", "main", t(14, 0, 0));

    let ids = |filter: AuditFilter| -> Vec<i64> { f.audit.list(&filter).expect("list").iter().map(|r| r.id).collect() };
    assert_eq!(ids(AuditFilter::default()), vec![5, 4, 3, 2, 1]);
    assert_eq!(ids(AuditFilter { provider: Some("binance".into()), ..Default::default() }), vec![5, 4, 2, 1]);
    assert_eq!(
        ids(AuditFilter { provider: Some("binance".into()), key_label: Some("main".into()), ..Default::default() }),
        vec![5, 2, 1]
    );
    assert_eq!(ids(AuditFilter { event: Some(AuditKind::KeyCreated), ..Default::default() }), vec![3, 1]);
    assert_eq!(ids(AuditFilter { actor: Some(Actor::Ui), ..Default::default() }), vec![5, 3, 1]);
    assert_eq!(
        ids(AuditFilter { since: Some(t(11, 0, 0)), until: Some(t(13, 0, 0)), ..Default::default() }),
        vec![3, 2]
    );
    assert_eq!(ids(AuditFilter { limit: Some(2), ..Default::default() }), vec![5, 4]);
    assert_eq!(ids(AuditFilter { before_id: Some(4), limit: Some(2), ..Default::default() }), vec![3, 2]);
}

#[test]
fn exports_write_json_lines_and_csv_oldest_first() {
    let f = fixture();
    f.audit
        .append(
            AuditEvent::new(Actor::Ui, AuditKind::KeyCreated)
                .key("binance", "main, \"quoted\"")
                .detail(json!({"scopes": ["read", "trade"]})),
            t(12, 0, 0),
        )
        .expect("append");
    f.audit.append(AuditEvent::new(Actor::System, AuditKind::VaultUnlocked), t(12, 0, 1)).expect("append");

    let mut out = Vec::new();
    assert_eq!(f.audit.export_json_lines(&AuditFilter::default(), &mut out).expect("jsonl"), 2);
    let text = String::from_utf8(out).expect("utf8");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["event"], "key_created");
    assert_eq!(lines[0]["key_label"], "main, \"quoted\"");
    assert_eq!(lines[0]["detail"], json!({"scopes": ["read", "trade"]}));
    assert_eq!(lines[0]["ts"], "2026-03-01T12:00:00.000Z");
    assert_eq!(lines[1]["provider"], serde_json::Value::Null);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);

    let mut out = Vec::new();
    let n = f
        .audit
        .export_csv(&AuditFilter { event: Some(AuditKind::KeyCreated), ..Default::default() }, &mut out)
        .expect("csv");
    assert_eq!(n, 1);
    let csv = String::from_utf8(out).expect("utf8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,ts,actor,event,provider,key_label,detail,prev_hash,hash"));
    let row = lines.next().expect("row");
    assert!(
        row.starts_with(r#"1,2026-03-01T12:00:00.000Z,ui,key_created,binance,"main, ""quoted""","{""scopes"":[""read"",""trade""]}","#),
        "{row}"
    );
    assert_eq!(lines.next(), None);
}

#[test]
fn detail_that_looks_like_secret_material_is_refused_and_nothing_is_written() {
    let f = fixture();
    for detail in
        [json!({"secret": "x"}), json!({"nested": {"Api-Secret": "x"}}), json!({"list": [{"passphrase": "x"}]})]
    {
        let err = f
            .audit
            .append(AuditEvent::new(Actor::Ui, AuditKind::KeyEdited).key("a", "b").detail(detail.clone()), t(12, 0, 0))
            .expect_err("secret field");
        assert!(matches!(err, AuditError::SecretInDetail { .. }), "{detail}: {err:?}");
    }
    assert!(f.audit.list(&AuditFilter::default()).expect("list").is_empty());
    f.audit
        .append(
            AuditEvent::new(Actor::Ui, AuditKind::KeyEdited).key("a", "b").detail(json!({"secret_ref": "keyward/1"})),
            t(12, 0, 0),
        )
        .expect("references are metadata");
}

#[test]
fn detail_is_stored_canonically_whatever_order_it_was_built_in() {
    let f = fixture();
    let mut map = serde_json::Map::new();
    map.insert("zeta".into(), json!(1));
    map.insert("alpha".into(), json!({"y": 2, "b": 3}));
    f.audit
        .append(
            AuditEvent::new(Actor::Ui, AuditKind::SettingsChanged).detail(serde_json::Value::Object(map)),
            t(12, 0, 0),
        )
        .expect("append");
    assert_eq!(stored(&f, 1).detail, r#"{"alpha":{"b":3,"y":2},"zeta":1}"#);
    f.audit.verify().expect("clean");
}

#[test]
fn two_connections_appending_in_turn_keep_one_chain() {
    let f = fixture();
    let other_store = Store::open(f.store.path()).expect("second connection");
    let other = Audit::new(other_store);
    for i in 0..10 {
        let audit = if i % 2 == 0 { &f.audit } else { &other };
        audit
            .append(AuditEvent::new(Actor::Cli, AuditKind::KeyUsed).key("binance", "main"), t(12, 0, i))
            .expect("append");
    }
    assert_eq!(f.audit.verify().expect("clean").rows_checked, 10);
}

#[test]
fn the_migration_creates_the_tables_and_an_empty_anchor() {
    let f = fixture();
    let anchor: (i64, String, i64) = f
        .store
        .with_conn(|c| {
            Ok(c.query_row("SELECT last_id, last_hash, row_count FROM audit_anchor", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
        })
        .expect("anchor");
    assert_eq!(anchor, (0, GENESIS_HASH.to_string(), 0));
}

#[test]
fn event_kinds_and_actors_have_snake_case_names_that_parse_back() {
    for kind in AuditKind::ALL {
        let s = kind.as_str();
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        assert_eq!(AuditKind::parse(s), Some(kind));
    }
    assert_eq!(AuditKind::KeyVersionRetired.as_str(), "key_version_retired");
    assert_eq!(AuditKind::VaultUnlockFailed.as_str(), "vault_unlock_failed");
    for actor in Actor::ALL {
        assert_eq!(Actor::parse(actor.as_str()), Some(actor));
    }
    assert_eq!(Actor::parse("robot"), None);
}

// ---- The keyed chain: seals under an audit key kept outside the database ----

/// A secret store that can be made to stop answering, as a locked vault file does.
#[derive(Default)]
struct Switchable {
    inner: crate::vault::MemoryStore,
    locked: std::sync::atomic::AtomicBool,
}

impl crate::vault::SecretStore for Switchable {
    fn backend_info(&self) -> crate::vault::BackendInfo {
        self.inner.backend_info()
    }
    fn put(&self, account: &str, secret: &crate::vault::SecretString) -> Result<(), crate::vault::VaultError> {
        self.check()?;
        self.inner.put(account, secret)
    }
    fn get(&self, account: &str) -> Result<crate::vault::SecretString, crate::vault::VaultError> {
        self.check()?;
        self.inner.get(account)
    }
    fn delete(&self, account: &str) -> Result<(), crate::vault::VaultError> {
        self.check()?;
        self.inner.delete(account)
    }
}

impl Switchable {
    fn check(&self) -> Result<(), crate::vault::VaultError> {
        if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            Err(crate::vault::VaultError::Locked { backend: "test vault".into() })
        } else {
            Ok(())
        }
    }
    fn lock(&self, locked: bool) {
        self.locked.store(locked, std::sync::atomic::Ordering::SeqCst);
    }
}

const ACCOUNT: &str = "audit-key/test";

fn sealed_fixture(secrets: Arc<dyn crate::vault::SecretStore>) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("open store");
    let audit = Audit::sealed(store.clone(), secrets, ACCOUNT.to_string());
    Fixture { _dir: dir, store, audit }
}

fn append_n(audit: &Audit, from: u32, n: u32) {
    for i in from..from + n {
        let event = AuditEvent::new(Actor::Cli, AuditKind::KeyCreated)
            .key("binance", format!("key-{i}"))
            .detail(json!({ "n": i }));
        audit.append(event, t(12, 0, i)).expect("append");
    }
}

/// What a forger with write access to the database file does: drops the triggers, applies
/// `edit`, then recomputes every hash from `from` on with the documented encoding and moves the
/// anchor to the new last row. Seals are left as they are (the forger cannot compute them).
fn forge(f: &Fixture, from: i64, edit: &str) {
    sql(f, &format!("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; DROP TRIGGER IF EXISTS audit_anchor_forward_only; {edit}"));
    let rows: Vec<RawRow> = f
        .store
        .with_conn(|c| {
            let mut stmt = c.prepare(&format!("SELECT {RAW_COLUMNS} FROM audit_log ORDER BY id"))?;
            let rows = stmt.query_map([], RawRow::from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .expect("read rows");
    let mut prev = GENESIS_HASH.to_string();
    for r in &rows {
        if r.id >= from {
            let hash = row_hash(
                &prev,
                r.id,
                &r.ts,
                &r.actor,
                &r.event,
                r.provider.as_deref(),
                r.key_label.as_deref(),
                &r.detail,
            );
            let prev_for_row = prev.clone();
            f.store
                .with_conn(|c| {
                    c.execute(
                        "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
                        params![prev_for_row, hash, r.id],
                    )?;
                    Ok(())
                })
                .expect("rewrite hash");
            prev = hash;
        } else {
            prev = r.hash.clone();
        }
    }
    let last_id = rows.last().map_or(0, |r| r.id);
    let count = i64::try_from(rows.len()).expect("count");
    f.store
        .with_conn(|c| {
            c.execute(
                "UPDATE audit_anchor SET last_id = ?1, last_hash = ?2, row_count = ?3",
                params![last_id, prev, count],
            )?;
            Ok(())
        })
        .expect("rewrite anchor");
}

#[test]
fn a_sealed_log_verifies_and_says_every_row_is_sealed() {
    let f = sealed_fixture(Arc::new(crate::vault::MemoryStore::new()));
    append_n(&f.audit, 1, 4);
    let report = f.audit.verify().expect("clean");
    assert_eq!(report.rows_checked, 4);
    assert_eq!(report.seals, SealStatus::Checked { since: 1 });
    assert!(report.seals.describe().contains("every row is sealed"), "{}", report.seals.describe());
    assert!((1..=4).all(|id| stored(&f, id).seal.is_some()));
    // A fresh log records no switch: its first row is already sealed.
    assert!(f.audit.list(&AuditFilter::default()).expect("list").iter().all(|r| r.event != AuditKind::AuditKeyCreated));
}

#[test]
fn the_forging_script_that_fools_an_unkeyed_chain_is_caught_and_the_rewritten_rows_named() {
    // Unkeyed, the attack works: this is the weakness the seals close.
    let plain = with_rows(5);
    forge(&plain, 3, "UPDATE audit_log SET detail = '{\"n\":99}' WHERE id = 3;");
    assert_eq!(plain.audit.verify().expect("the unkeyed chain is fooled").rows_checked, 5);

    let f = sealed_fixture(Arc::new(crate::vault::MemoryStore::new()));
    append_n(&f.audit, 1, 5);
    forge(&f, 3, "UPDATE audit_log SET detail = '{\"n\":99}' WHERE id = 3;");
    let problems = tampering(&f);
    assert_eq!(problems[0].kind, TamperKind::Forged, "{problems:?}");
    assert_eq!(problems[0].row_id, 3);
    assert_eq!(
        problems[0].message,
        "rows 3–5 do not match their seal: rewritten by someone without Keyward's audit key"
    );
    assert!(
        problems.iter().any(|p| p.kind == TamperKind::Forged && p.message.starts_with("the anchor (last row 5)")),
        "{problems:?}"
    );
}

#[test]
fn stripping_the_seals_leaves_the_rewritten_rows_unsealed_and_reported() {
    let f = sealed_fixture(Arc::new(crate::vault::MemoryStore::new()));
    append_n(&f.audit, 1, 5);
    forge(&f, 2, "UPDATE audit_log SET detail = '{}', seal = NULL WHERE id >= 2; UPDATE audit_anchor SET seal = NULL;");
    let problems = tampering(&f);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Unsealed, 2));
    assert!(problems[0].message.starts_with("rows 2–5 carry no seal"), "{}", problems[0].message);
}

#[test]
fn a_renumbering_deletion_and_a_cut_tail_with_a_rewritten_anchor_are_caught() {
    let f = sealed_fixture(Arc::new(crate::vault::MemoryStore::new()));
    append_n(&f.audit, 1, 5);
    forge(&f, 3, "DELETE FROM audit_log WHERE id = 3; UPDATE audit_log SET id = id - 1 WHERE id > 3;");
    let problems = tampering(&f);
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Forged, 3), "{problems:?}");
    assert!(problems[0].message.starts_with("rows 3–4 do not match"), "{}", problems[0].message);

    let g = sealed_fixture(Arc::new(crate::vault::MemoryStore::new()));
    append_n(&g.audit, 1, 5);
    forge(&g, 6, "DELETE FROM audit_log WHERE id > 3;");
    let problems = tampering(&g);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Forged, 3));
    assert!(problems[0].message.contains("rows may have been cut off the end"), "{}", problems[0].message);
}

#[test]
fn an_unkeyed_log_switches_to_seals_records_the_switch_and_its_old_rows_stay_protected() {
    let f = with_rows(3);
    let sealed = Audit::sealed(f.store.clone(), Arc::new(crate::vault::MemoryStore::new()), ACCOUNT.to_string());
    append_n(&sealed, 10, 1);
    let rows = sealed.list(&AuditFilter::default()).expect("list");
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[1].event, AuditKind::AuditKeyCreated);
    assert_eq!(rows[1].id, 4);
    assert_eq!(rows[1].detail, json!({"scheme": "hmac-sha256", "since": 4, "unsealed_rows_before": 3}));
    assert!(stored(&f, 3).seal.is_none() && stored(&f, 4).seal.is_some() && stored(&f, 5).seal.is_some());
    let report = sealed.verify().expect("old and new rows verify");
    assert_eq!(report.seals, SealStatus::Checked { since: 4 });
    assert!(report.seals.describe().contains("vouched for by row 4's seal"), "{}", report.seals.describe());

    // Rewriting a row from before the switch breaks the first sealed row's seal.
    let forged = Fixture { _dir: tempfile::tempdir().expect("tempdir"), store: f.store.clone(), audit: sealed };
    forge(&forged, 2, "UPDATE audit_log SET key_label = 'other' WHERE id = 2;");
    let problems = tampering(&forged);
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Forged, 4), "{problems:?}");
}

#[test]
fn rows_written_while_the_key_cannot_be_read_are_vouched_for_by_the_next_sealed_row() {
    let secrets = Arc::new(Switchable::default());
    let f = sealed_fixture(secrets.clone());
    append_n(&f.audit, 1, 2);
    // Another process that has not read the key yet, while the vault is locked.
    secrets.lock(true);
    let locked = Audit::sealed(f.store.clone(), secrets.clone(), ACCOUNT.to_string());
    append_n(&locked, 3, 2);
    assert!(stored(&f, 3).seal.is_none() && stored(&f, 4).seal.is_none());
    let report = locked.verify().expect("the chain itself is fine");
    assert!(
        matches!(&report.seals, SealStatus::NotChecked { reason } if reason.contains("is locked")),
        "{:?}",
        report.seals
    );
    // With the key: the unsealed tail is reported until a sealed row follows it.
    let problems = tampering(&f);
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Unsealed, 3), "{problems:?}");
    secrets.lock(false);
    append_n(&locked, 5, 1);
    assert_eq!(f.audit.verify().expect("sealed again").seals, SealStatus::Checked { since: 1 });
}

#[test]
fn a_new_database_at_the_same_path_starts_a_new_key_once_the_stale_one_is_discarded() {
    let secrets: Arc<dyn crate::vault::SecretStore> = Arc::new(crate::vault::MemoryStore::new());
    // An old log that switched to seals at row 4.
    let old = with_rows(3);
    append_n(&Audit::sealed(old.store.clone(), Arc::clone(&secrets), ACCOUNT.to_string()), 4, 1);
    // Same account, new empty database: without discarding, the old key says rows are missing.
    let new = sealed_fixture(Arc::clone(&secrets));
    append_n(&new.audit, 1, 1);
    let problems = tampering(&new);
    assert_eq!((problems[0].kind, problems[0].row_id), (TamperKind::Deleted, 2), "{problems:?}");
    assert!(problems[0].message.starts_with("rows from 4 on were deleted"), "{}", problems[0].message);

    let fresh = sealed_fixture(Arc::clone(&secrets));
    fresh.audit.discard_stale_key();
    append_n(&fresh.audit, 1, 2);
    assert_eq!(fresh.audit.verify().expect("new key").seals, SealStatus::Checked { since: 1 });
}
