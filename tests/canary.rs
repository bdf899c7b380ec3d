//! A canary secret is planted, every feature that touches keys is exercised through the CLI,
//! and the database file, its WAL, the log files and every command's output (except the one
//! explicit reveal) are scanned for it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange};
use crate::support::{keyward_bin, stderr};

const CANARY: &str = "CANARY-7f3a9c1e-do-not-leak";
const CANARY_2: &str = "CANARY-rotated-52b1";

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(keyward_bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove(keyward::DATA_DIR_ENV)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("keyward finishes")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_logs_or_any_output_but_an_explicit_reveal() {
    let creds = MockCreds {
        api_key: "canary-key".into(),
        secret: CANARY.into(),
        passphrase: None,
        public_pem: None,
        private_pem: None,
    };
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds)).await;
    mock.route("GET /api/v3/account", json!({"balances": [{"asset": "BTC", "free": "1", "locked": "0"}]}));
    mock.route(
        "GET /sapi/v1/account/apiRestrictions",
        json!({"ipRestrict": true, "enableReading": true, "enableWithdrawals": false, "enableSpotAndMarginTrading": false}),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();

    let outputs = tokio::task::spawn_blocking(move || {
        let mut outs: Vec<(String, Output)> = Vec::new();
        let mut step = |name: &str, args: &[&str], stdin: Option<&str>| {
            let out = run(&data, args, stdin);
            assert!(out.status.success(), "{name} failed: {}", stderr(&out));
            outs.push((name.to_string(), out));
        };
        step("set", &["provider", "set", "binance", &format!("environments.production.base_url={base}")], None);
        step(
            "add",
            &["key", "add", "--provider", "binance", "--label", "main", "--api-key", "canary-key"],
            Some(CANARY),
        );
        // A running `keyward serve`: calls go through it (its pipeline reads the secret), key
        // checks charge its limiter; its output and logs are scanned too.
        let serve_log = data.join("serve-stderr.txt");
        let mut serve = Command::new(keyward_bin())
            .arg("--data-dir")
            .arg(&data)
            .arg("serve")
            .env_remove(keyward::DATA_DIR_ENV)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&serve_log).expect("serve log file")))
            .spawn()
            .expect("serve starts");
        let mut serve_out = std::io::BufReader::new(serve.stdout.take().expect("stdout"));
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut serve_out, &mut ready).expect("a ready line");
        assert!(ready.contains("ready"), "serve: {ready}");
        step("list", &["--json", "key", "list"], None);
        step("show", &["--json", "key", "show", "--provider", "binance", "--label", "main"], None);
        step("call", &["--json", "call", "binance", "balances"], None);
        step("call-raw", &["call", "binance", "balances", "--raw"], None);
        step("check", &["--json", "key", "check", "--provider", "binance", "--label", "main"], None);
        step("limits", &["--json", "limits"], None);
        step(
            "backup",
            &["key", "export-backup", "--out", &data.join("keys.kwbackup").display().to_string()],
            Some("backup passphrase 1"),
        );
        let status = Command::new("kill").arg("-TERM").arg(serve.id().to_string()).status().expect("kill runs");
        assert!(status.success());
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut serve_out, &mut rest).expect("serve stdout");
        let exit = serve.wait().expect("serve exits");
        assert!(exit.success(), "serve exited with {exit:?}");
        let serve_err = std::fs::read(&serve_log).expect("serve stderr");
        let serve_output = Output { status: exit, stdout: [ready.into_bytes(), rest].concat(), stderr: serve_err };
        step("rotate", &["key", "rotate", "--provider", "binance", "--label", "main", "--no-verify"], Some(CANARY_2));
        step("retire", &["key", "retire-version", "--provider", "binance", "--label", "main", "--version", "1"], None);
        step("audit", &["--json", "audit", "list"], None);
        step("export", &["audit", "export", "--format", "csv"], None);
        step("verify", &["audit", "verify"], None);
        step("provider-export", &["provider", "export", "binance"], None);
        step("info", &["--json", "info"], None);
        let reveal = run(&data, &["key", "reveal", "--provider", "binance", "--label", "main", "--yes"], None);
        outs.push(("serve".to_string(), serve_output));
        (outs, reveal)
    })
    .await
    .expect("cli steps");
    let (outs, reveal) = outputs;
    let call = &outs.iter().find(|(n, _)| n == "call").expect("the call step").1;
    assert!(
        String::from_utf8_lossy(&call.stdout).contains("\"via\": \"keyward serve"),
        "the call went through the running serve"
    );

    for (name, out) in &outs {
        for canary in [CANARY, CANARY_2] {
            assert!(!contains(&out.stdout, canary), "{name}: the secret is in stdout");
            assert!(!contains(&out.stderr, canary), "{name}: the secret is in stderr");
        }
    }
    // The explicit reveal shows the active (rotated) secret, and is audited.
    assert!(contains(&reveal.stdout, CANARY_2), "reveal prints the active secret");
    let audit = run(dir.path(), &["--json", "audit", "list", "--event", "key_revealed"], None);
    let rows: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "the reveal is in the audit log");

    // Files: the database, its WAL and shared memory, and every log file.
    let mut files = vec![
        dir.path().join("keyward.db"),
        dir.path().join("keyward.db-wal"),
        dir.path().join("keyward.db-shm"),
        dir.path().join("keys.kwbackup"),
    ];
    files.extend(std::fs::read_dir(dir.path().join("logs")).expect("logs").flatten().map(|e| e.path()));
    let mut scanned = 0;
    for f in files.iter().filter(|f| f.exists()) {
        let bytes = std::fs::read(f).expect("readable");
        scanned += bytes.len();
        for canary in [CANARY, CANARY_2] {
            assert!(!contains(&bytes, canary), "{} contains the secret", f.display());
        }
    }
    assert!(scanned > 10_000, "the scan covered the database and logs ({scanned} bytes)");
    assert_eq!(mock.rejected(), 0);
}

#[test]
fn audit_verify_names_an_edited_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = keyward::Keyward::open_with_secrets(dir.path(), std::sync::Arc::new(keyward::vault::MemoryStore::new()))
        .expect("core");
    for label in ["a", "b", "c"] {
        kw.keys()
            .add(
                keyward::keys::NewKey {
                    provider: "binance".into(),
                    label: label.into(),
                    environment: "production".into(),
                    api_key: format!("k-{label}"),
                    secret: keyward::vault::SecretString::from("s".to_string()),
                    passphrase: None,
                    scopes: Default::default(),
                    notes: String::new(),
                    expires_at: None,
                },
                chrono::Utc::now(),
            )
            .expect("key");
    }
    drop(kw);
    let ok = run(dir.path(), &["audit", "verify"], None);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // Tamper with the file directly, as an attacker with disk access would.
    let conn = rusqlite::Connection::open(dir.path().join("keyward.db")).expect("db");
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("names");
    for t in triggers {
        conn.execute(&format!("DROP TRIGGER {t}"), []).expect("drop trigger");
    }
    conn.execute("UPDATE audit_log SET key_label = 'z' WHERE id = 2", []).expect("edit");
    drop(conn);
    let bad = run(dir.path(), &["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("row 2") && text.contains("edited"), "{text}");
}
