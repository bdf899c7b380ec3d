//! `kill -9` durability: a busy `keyward serve` (calls made through its control API, health
//! checks every second, audited changes from command-line processes beside it) is killed with
//! SIGKILL several times. After each kill the database passes `PRAGMA integrity_check`, the
//! audit log verifies, every row committed before the kill (as a separate read connection saw
//! it) is still there unchanged, and `keyward serve` starts again.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::{keyward, keyward_bin, stderr, stdout};

/// How many times `keyward serve` is killed.
const ROUNDS: usize = 5;
/// The longest wait for an observable condition (serve answering, rows growing).
const DEADLINE: Duration = Duration::from_secs(20);
/// How often the read connection looks at the row counts while waiting.
const POLL: Duration = Duration::from_millis(20);
/// Rows each round must see committed before it kills: enough that the kill lands mid-work.
const NEW_CALLS_PER_ROUND: i64 = 20;

/// The tables whose committed rows must survive, with a column that changes if a row did.
const TABLES: &[(&str, &str)] = &[("calls", "ts"), ("audit_log", "hash"), ("check_results", "ts")];

type Rows = BTreeSet<(i64, String)>;

fn committed(db: &Path, table: &str, column: &str) -> Rows {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("a read connection");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    let mut stmt = conn.prepare(&format!("SELECT id, CAST({column} AS TEXT) FROM {table}")).expect("select");
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("rows");
    rows.collect::<Result<_, _>>().expect("read")
}

fn snapshot(db: &Path) -> Vec<Rows> {
    TABLES.iter().map(|(t, c)| committed(db, t, c)).collect()
}

fn counts(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("a read connection");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    TABLES
        .iter()
        .map(|(t, _)| conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)).expect("count"))
        .collect()
}

/// Starts `keyward serve` and waits for its ready line.
fn start_serve(data: &Path) -> Child {
    let mut child = Command::new(keyward_bin())
        .arg("--data-dir")
        .arg(data)
        .arg("serve")
        .env_remove(keyward::DATA_DIR_ENV)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("a ready line");
    assert!(ready.contains("ready"), "keyward serve did not start: {ready:?}");
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    child
}

/// The control file of the serve with this pid.
fn control_of(data: &Path, pid: u32) -> keyward::control::ControlInfo {
    let file = keyward::control::control_file(data);
    let bytes = std::fs::read(&file).expect("serve wrote its control file before saying ready");
    let info: keyward::control::ControlInfo = serde_json::from_slice(&bytes).expect("a control file");
    assert_eq!(info.pid, pid, "the control file is this serve's");
    info
}

/// Calls through the control API until `stop`; returns how many were answered.
fn call_loop(info: keyward::control::ControlInfo, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client");
            let body = json!({"provider": "binance", "operation": "ticker", "params": {"symbol": "BTCUSDT"},
                              "noCache": true});
            let mut answered = 0;
            while !stop.load(Ordering::Relaxed) {
                let sent = http.post(format!("{}/v1/call", info.url)).bearer_auth(&info.token).json(&body).send().await;
                match sent {
                    Ok(r) if r.status().is_success() => answered += 1,
                    Ok(r) => panic!("a call through serve failed: HTTP {}", r.status()),
                    // Killed under us: the next round starts a new serve.
                    Err(_) => break,
                }
            }
            answered
        })
    })
}

/// Audited changes from command-line processes beside serve until `stop` (the check's
/// timeout, back and forth), so the audit log grows while serve is killed.
fn audit_loop(data: PathBuf, check: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            let timeout = if done % 2 == 0 { "4" } else { "5" };
            let out = keyward(&data, &["checks", "set", &check, "--timeout", timeout]);
            assert!(out.status.success(), "checks set failed: {}", stderr(&out));
            done += 1;
        }
        done
    })
}

/// Polls `ready` every [`POLL`] until it holds, failing after [`DEADLINE`].
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !ready() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(POLL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_serve_killed_repeatedly_loses_no_committed_row_and_starts_again() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "1"}));
    mock.route("GET /api/v3/time", json!({"serverTime": 1_767_225_600_000_i64}));
    mock.route("GET /sapi/v1/system/status", json!({"status": 0, "msg": "normal"}));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();

    tokio::task::spawn_blocking(move || {
        let db = data.join(keyward::DATABASE_FILE);
        let base_url = format!("environments.production.base_url={base}");
        for args in [
            &["provider", "set", "binance", &base_url, "retry.max_attempts=1"][..],
            &["provider", "enable", "binance"],
            &["checks", "defaults"],
        ] {
            let out = keyward(&data, args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        }
        let list = keyward(&data, &["--json", "checks", "list", "--provider", "binance"]);
        let checks: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("checks as JSON");
        let ids: Vec<String> =
            checks.as_array().expect("a list").iter().map(|c| c["id"].as_i64().expect("an id").to_string()).collect();
        assert!(!ids.is_empty(), "binance has default checks");
        for id in &ids {
            let out = keyward(&data, &["checks", "set", id, "--interval", "1"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }

        for round in 1..=ROUNDS {
            let before = counts(&db);
            let mut serve = start_serve(&data);
            let info = control_of(&data, serve.id());
            let stop = Arc::new(AtomicBool::new(false));
            let callers: Vec<_> = (0..3).map(|_| call_loop(info.clone(), stop.clone())).collect();
            let auditor = audit_loop(data.clone(), ids[0].clone(), stop.clone());

            // Busy: calls recorded, checks run and audited changes made since this serve began.
            wait_for("serve's calls, check results and audit rows to be committed", || {
                let now = counts(&db);
                now[0] >= before[0] + NEW_CALLS_PER_ROUND && now[1] > before[1] && now[2] > before[2]
            });
            // What a reader sees committed now must all be there after the kill.
            let seen = snapshot(&db);
            serve.kill().expect("SIGKILL");
            let status = serve.wait().expect("serve is gone");
            assert!(!status.success(), "round {round}: serve was killed, not stopped ({status:?})");
            stop.store(true, Ordering::Relaxed);
            let answered: usize = callers.into_iter().map(|c| c.join().expect("caller")).sum();
            let audited = auditor.join().expect("auditor");
            assert!(answered > 0 && audited > 0, "round {round}: serve was busy ({answered} calls, {audited} edits)");

            let conn = rusqlite::Connection::open(&db).expect("the database opens after the kill");
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
            assert_eq!(check, "ok", "round {round}: integrity_check");
            drop(conn);
            let verify = keyward(&data, &["audit", "verify"]);
            assert!(verify.status.success(), "round {round}: audit verify: {}{}", stdout(&verify), stderr(&verify));
            let after = snapshot(&db);
            for (((table, _), seen), after) in TABLES.iter().zip(&seen).zip(&after) {
                let lost: Vec<_> = seen.difference(after).collect();
                assert!(lost.is_empty(), "round {round}: {table} lost or changed committed rows: {lost:?}");
            }
        }

        // And it starts once more, answers, and stops cleanly.
        let mut serve = start_serve(&data);
        let info = control_of(&data, serve.id());
        let hello = keyward(&data, &["--json", "limits", "--provider", "binance"]);
        assert!(hello.status.success(), "the restarted serve answers: {}", stderr(&hello));
        let term = Command::new("kill").arg("-TERM").arg(info.pid.to_string()).status().expect("kill runs");
        assert!(term.success());
        let status = serve.wait().expect("serve exits");
        assert!(status.success(), "serve stopped with {status:?}");
    })
    .await
    .expect("the kill rounds");
}
