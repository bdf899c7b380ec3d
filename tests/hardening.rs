//! Found when Keyward was tried from outside against a strict exchange: calls to a provider
//! that is not enabled were charged on the preset's numbers (the limits the exchange
//! publishes were read only for enabled providers), and a total outage read as "degraded".

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::monitor::{HealthState, MonitorEvent, NewCheck};
use keyward::pipeline::{CallOptions, CallRequest};
use keyward::vault::MemoryStore;
use keyward::Keyward;
use tokio::sync::broadcast;

use crate::support::keyward_bin;
use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::strict_exchange::StrictExchange;

/// The strict exchange's budget: 30 weight per 2 s, published in its exchangeInfo. The
/// preset's own number (6,000 per minute) would let every caller through and earn 429s.
const LIMIT: u64 = 30;
const WINDOW_SECS: u64 = 2;
/// How long the callers keep calling: a bounded loop of about three windows.
const RUN: Duration = Duration::from_secs(5);
/// The longest wait for a monitor event on a loaded CI machine; the wait ends at the event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

fn open(dir: &tempfile::TempDir) -> Keyward {
    Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens")
}

fn point_binance_at(kw: &Keyward, url: &str) {
    kw.providers()
        .set("binance", &[("environments.production.base_url", url), ("retry.max_attempts", "1")])
        .expect("binance pointed at the strict exchange");
    assert!(!kw.providers().get("binance").expect("binance").enabled, "the test is about a provider not enabled");
}

fn ticker(caller: &str) -> CallRequest {
    CallRequest {
        provider: "binance".into(),
        operation: "ticker".into(),
        params: BTreeMap::from([("symbol".to_string(), "BTCUSDT".to_string())]),
        options: CallOptions { caller: caller.into(), no_cache: true, ..CallOptions::default() },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_provider_that_is_not_enabled_keep_to_the_limits_it_publishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let ex = StrictExchange::start(LIMIT, WINDOW_SECS).await;
    point_binance_at(&kw, &ex.base_url);

    // Three callers of the app's own call path, as fast as they can.
    let stop = Instant::now() + RUN;
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let kw = kw.clone();
            tokio::spawn(async move {
                let mut ok = 0u32;
                while Instant::now() < stop {
                    match kw.pipeline().call(ticker(&format!("caller-{i}"))).await {
                        Ok(_) => ok += 1,
                        Err(e) => panic!("caller-{i}: {e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for c in callers {
        ok += c.await.expect("caller");
    }

    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "the exchange never saw an over-limit request: {counts:?}");
    assert_eq!(counts.info, 1, "the published limits were read once, before the first call");
    assert!(ok >= 20, "the callers kept calling ({ok} calls)");
    // The budget was used, not just respected: some window took nearly all of it.
    let best = counts.accepted.iter().map(|(_, w)| *w).max().unwrap_or(0);
    assert!(best >= LIMIT - 4, "a window used {best} of {LIMIT}: {counts:?}");
    let weight =
        kw.limiter().snapshot().into_iter().find(|s| s.provider == "binance" && s.limit_id == "request_weight");
    let weight = weight.expect("the request-weight limit is loaded");
    assert_eq!((weight.limit, weight.from_exchange), (LIMIT as f64, true));
}

/// Runs `keyward` against `data_dir` off the async runtime (the services run on it).
async fn cli(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(keyward_bin());
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env_remove(keyward::DATA_DIR_ENV).env_remove("RUST_LOG").env_remove(keyward::vault::PASSPHRASE_ENV);
    tokio::task::spawn_blocking(move || cmd.output().expect("the keyward binary runs")).await.expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_callers_through_the_running_keyward_keep_to_the_limits_of_a_provider_not_enabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let ex = StrictExchange::start(LIMIT, WINDOW_SECS).await;
    point_binance_at(&kw, &ex.base_url);
    let services = keyward::service::start(&kw).await.expect("services start");

    // Three command-line loops of `keyward call binance ticker --no-cache`.
    let stop = Instant::now() + RUN;
    let loops: Vec<_> = (0..3)
        .map(|_| {
            let data = dir.path().to_path_buf();
            tokio::spawn(async move {
                let mut ok = 0u32;
                while Instant::now() < stop {
                    let out = cli(&data, &["call", "binance", "ticker", "symbol=BTCUSDT", "--no-cache"]).await;
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    assert!(out.status.success(), "keyward call failed: {err}");
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for l in loops {
        ok += l.await.expect("loop");
    }
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "no 429 or 418 after {ok} calls: {counts:?}");
    assert_eq!(counts.info, 1, "the running Keyward read the published limits once");
    assert!(ok >= 6, "the loops kept calling ({ok} calls)");
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_command_reads_the_published_limits_once_and_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/ticker/24hr", serde_json::json!({"symbol": "BTCUSDT", "lastPrice": "1"}));
    {
        let kw = open(&dir);
        point_binance_at(&kw, &mock.base_url);
    }
    for _ in 0..3 {
        let out = cli(dir.path(), &["call", "--standalone", "binance", "ticker", "symbol=BTCUSDT"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(mock.hits(), 3, "three ticker calls");
    assert_eq!(mock.info_hits(), 1, "the later commands used the stored copy of the published limits");
}

/// Waits for the provider's next state change, failing after [`EVENT_TIMEOUT`]. Returns the
/// new state and how many checks completed before it.
async fn next_change(events: &mut broadcast::Receiver<MonitorEvent>) -> (HealthState, String, u32) {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        let mut checks = 0;
        loop {
            match events.recv().await {
                Ok(MonitorEvent::CheckCompleted { provider, .. }) if provider == "binance" => checks += 1,
                Ok(MonitorEvent::StateChanged { provider, to, cause, .. }) if provider == "binance" => {
                    return (to, cause, checks)
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("monitor events ended: {e}"),
            }
        }
    })
    .await
    .expect("the state changed before the timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_outage_is_down_and_the_recovery_is_up_within_the_confirmations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let ex = StrictExchange::start(600, WINDOW_SECS).await;
    point_binance_at(&kw, &ex.base_url);
    kw.providers().set_enabled("binance", true).expect("enabled");
    // One check: server time every second (the default checks of the preset are replaced).
    for c in kw.monitor().checks(Some("binance")).expect("checks") {
        kw.monitor().remove_check(c.id).expect("removed");
    }
    let mut check = NewCheck::operation("binance", "server_time");
    check.interval = Duration::from_secs(1);
    kw.monitor().add_check(check).expect("check added");

    let mut events = kw.monitor().subscribe();
    let services = keyward::service::start(&kw).await.expect("services start");
    let (state, _, _) = next_change(&mut events).await;
    assert_eq!(state, HealthState::Up);
    // Passive traffic on another endpoint while it is up (a bot's ticker calls).
    kw.pipeline().call(ticker("bot")).await.expect("ticker while up");

    ex.set_down(true);
    let (state, cause, checks) = next_change(&mut events).await;
    assert_eq!(state, HealthState::Down, "a total outage is down, not degraded: {cause}");
    assert!(checks <= 2, "down within the two confirmations ({checks} checks)");
    assert!(kw.pipeline().call(ticker("bot")).await.is_err(), "the bot's calls fail during the outage");

    ex.set_down(false);
    let (state, cause, checks) = next_change(&mut events).await;
    assert_eq!(state, HealthState::Up, "recovery is seen: {cause}");
    assert!(checks <= 2, "up within the two confirmations ({checks} checks)");
    assert!(cause.contains("recovered from an outage"), "{cause}");
    services.stop().await;
}

/// The documented row hash (docs/ARCHITECTURE.md, "Audit log"), written here from the
/// documentation as a forger would, not with Keyward's code.
#[allow(clippy::too_many_arguments)]
fn documented_row_hash(
    prev: &str,
    id: i64,
    ts: &str,
    actor: &str,
    event: &str,
    provider: Option<&str>,
    key_label: Option<&str>,
    detail: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"keyward-audit-v1");
    let id = id.to_string();
    for field in [Some(prev), Some(id.as_str()), Some(ts), Some(actor), Some(event), provider, key_label, Some(detail)]
    {
        match field {
            None => h.update([0u8]),
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    hex::encode(h.finalize())
}

/// The forging script: with write access to the database file, drop the append-only triggers,
/// apply `edit`, recompute every hash and the tail anchor. Against the unkeyed chain this made
/// `keyward audit verify` answer "intact".
fn forge_audit_log(db: &Path, edit: &str) {
    let conn = rusqlite::Connection::open(db).expect("database opens");
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;\n         DROP TRIGGER IF EXISTS audit_anchor_forward_only;",
    )
    .expect("drop triggers");
    conn.execute_batch(edit).expect("edit");
    type Row = (i64, String, String, String, Option<String>, Option<String>, String);
    let rows: Vec<Row> = conn
        .prepare("SELECT id, ts, actor, event, provider, key_label, detail FROM audit_log ORDER BY id")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    let mut prev = "0".repeat(64);
    for (id, ts, actor, event, provider, key_label, detail) in &rows {
        let hash = documented_row_hash(&prev, *id, ts, actor, event, provider.as_deref(), key_label.as_deref(), detail);
        conn.execute("UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3", rusqlite::params![prev, hash, id])
            .expect("rewrite hash");
        prev = hash;
    }
    let last = rows.last().map_or(0, |r| r.0);
    conn.execute(
        "UPDATE audit_anchor SET last_id = ?1, last_hash = ?2, row_count = ?3",
        rusqlite::params![last, prev, rows.len() as i64],
    )
    .expect("rewrite anchor");
}

#[test]
fn the_forging_script_is_caught_by_audit_verify_with_the_key_in_the_os_credential_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    for edit in ["retry.max_attempts=2", "timeout_ms=2500", "retry.max_attempts=3", "timeout_ms=3000"] {
        let out = crate::support::keyward(dir.path(), &["provider", "set", "kraken", edit]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ok = crate::support::keyward(dir.path(), &["--json", "audit", "verify"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    assert_eq!(report["seals"], "checked", "{report}");
    assert_eq!(report["sealedSince"], 1, "{report}");
    assert_eq!(report["rowsChecked"], 4, "{report}");
    // The key is in the credential store, not in the database.
    let db = dir.path().join(keyward::DATABASE_FILE);
    let bytes = std::fs::read(&db).expect("database");
    assert!(!String::from_utf8_lossy(&bytes).contains("audit-key"), "no key record in the database");

    // Rewrite row 2 (which field changed) and everything after it.
    forge_audit_log(&db, "UPDATE audit_log SET detail = '{\"fields\":[\"notes\"]}' WHERE id = 2;");
    let bad = crate::support::keyward(dir.path(), &["audit", "verify"]);
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stdout));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("TAMPERED: rows 2–4 do not match their seal: rewritten by someone without Keyward's audit key"),
        "{text}"
    );
    assert!(text.contains("the anchor (last row 4) does not match its seal"), "{text}");

    // Stripping the seals as well does not pass for an old, unsealed log.
    forge_audit_log(&db, "UPDATE audit_log SET seal = NULL; UPDATE audit_anchor SET seal = NULL;");
    let bad = crate::support::keyward(dir.path(), &["--json", "audit", "verify"]);
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("JSON");
    assert_eq!(report["problems"][0]["kind"], "unsealed", "{report}");
    assert_eq!(report["problems"][0]["rowId"], 1, "{report}");
}
