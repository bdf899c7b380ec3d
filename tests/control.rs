//! The local control API: `keyward` commands reach the Keyward already running on the same
//! data directory, share its rate-limit budget and lock or unlock its vault.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use keyward::audit::Actor;
use keyward::vault::{EncryptedFileStore, KdfParams, MemoryStore, SecretString};
use keyward::Keyward;
use serde_json::{json, Value};

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange};
use crate::support::{keyward_bin, keyward_stdin, stderr, stdout};

const PASSPHRASE: &str = "correct horse battery staple";
const PASS_VAR: &str = "KEYWARD_TEST_CONTROL_PASS";

/// Runs `keyward` against `data_dir` off the async runtime (the server under test runs on it).
async fn cli(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(keyward_bin());
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env_remove(keyward::DATA_DIR_ENV).env_remove("RUST_LOG").env_remove(keyward::vault::PASSPHRASE_ENV);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("the keyward binary runs")).await.expect("joined")
}

fn weight_spent_on(kw: &Keyward, operation: &str) -> f64 {
    kw.limiter()
        .breakdown("binance", "request_weight", 50)
        .iter()
        .flat_map(|b| b.by_operation.iter())
        .filter(|(op, _)| op == operation)
        .map(|(_, w)| *w)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_call_runs_in_the_running_keyward_and_spends_its_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "97000.5"}));
    kw.providers()
        .set("binance", &[("environments.production.base_url".to_string(), mock.base_url.clone())])
        .expect("base URL accepted");
    let services = keyward::service::start(&kw).await.expect("services start");

    let out = cli(dir.path(), &["--json", "call", "binance", "ticker", "symbol=BTCUSDT"], &[]).await;
    assert!(out.status.success(), "call failed: {}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["status"], 200);
    let via = v["via"].as_str().expect("the call says which process ran it");
    assert!(via.contains(&format!("pid {}", std::process::id())), "ran in this process: {via}");
    assert_eq!(weight_spent_on(&kw, "ticker"), 2.0, "the running Keyward's limiter was charged the ticker's weight");
    assert_eq!(mock.seen().iter().filter(|s| s.path == "/api/v3/ticker/24hr").count(), 1);

    // `keyward limits` shows the running process's live budget, including that call.
    let out = cli(dir.path(), &["--json", "limits", "--provider", "binance"], &[]).await;
    assert!(out.status.success(), "limits failed: {}", stderr(&out));
    let limits: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let weight = limits.as_array().expect("array").iter().find(|l| l["limitId"] == "request_weight").expect("weight");
    assert!(weight["used"].as_f64().expect("used") >= 2.0, "live usage: {weight}");
    // …and who spent it: the ticker endpoint, by the command line.
    let listed = |field: &str, name: &str| {
        weight[field].as_array().expect("list").iter().find(|e| e["name"] == name).cloned().unwrap_or_default()
    };
    assert_eq!(listed("topOperations", "ticker"), json!({"name": "ticker", "amount": 2.0}), "{weight}");
    assert_eq!(listed("topCallers", "cli"), json!({"name": "cli", "amount": 2.0}), "{weight}");
    // Before its first call to Binance the running Keyward read the limits Binance publishes.
    assert_eq!(listed("topCallers", "keyward"), json!({"name": "keyward", "amount": 20.0}), "{weight}");
    assert_eq!(weight["fromExchange"], true, "{weight}");

    // --standalone calls from the command's own process: the running budget is not charged.
    let out = cli(dir.path(), &["--json", "call", "--standalone", "binance", "ticker", "symbol=ETHUSDT"], &[]).await;
    assert!(out.status.success(), "standalone call failed: {}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(v["via"].is_null());
    assert_eq!(weight_spent_on(&kw, "ticker"), 2.0);

    // A refusal in the running Keyward comes back with its kind and message.
    let out = cli(dir.path(), &["--json", "call", "binance", "no_such_op"], &[]).await;
    assert!(!out.status.success());
    let err: Value = serde_json::from_str(&stderr(&out)).expect("JSON error");
    assert_eq!(err["error"]["kind"], "invalid", "{err}");
    assert!(err["error"]["message"].as_str().unwrap_or("").contains("no_such_op"), "{err}");
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_keyward_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    let services = keyward::service::start(&kw).await.expect("services start");
    let out = cli(dir.path(), &["serve"], &[]).await;
    assert!(!out.status.success(), "a second serve must not run");
    let err = stderr(&out);
    assert!(err.contains("already running") && err.contains(&format!("pid {}", std::process::id())), "{err}");
    let second = keyward::service::start(&kw).await.err().expect("refused in-process too");
    assert_eq!(second.kind().as_str(), "alreadyRunning");

    // Once stopped, the control file is gone and a new one may start.
    services.stop().await;
    assert!(!keyward::control::control_file(dir.path()).exists(), "the control file is removed at stop");
    keyward::service::start(&kw).await.expect("starts again").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_refuses_requests_without_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    let services = keyward::service::start(&kw).await.expect("services start");
    let info = services.control().clone();
    assert!(info.url.starts_with("http://127.0.0.1:"), "{}", info.url);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keyward::control::control_file(dir.path())).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the user may read the token");
    }
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    for token in [None, Some("not-the-token")] {
        let mut req = http.post(format!("{}/v1/vault/lock", info.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("answered");
        assert_eq!(resp.status(), 401, "token {token:?}");
    }
    let ok = http.get(format!("{}/v1/hello", info.url)).bearer_auth(&info.token).send().await.expect("answered");
    assert_eq!(ok.status(), 200);
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_lock_and_unlock_reach_the_running_keyward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = SecretString::from(PASSPHRASE.to_string());
    EncryptedFileStore::create(
        keyward::vault::vault_file_path(dir.path()),
        &pass,
        KdfParams::INSECURE_FAST,
        Arc::new(keyward::clock::SystemClock),
    )
    .expect("vault file created");
    // An existing vault file is the backend (no KEYWARD_VAULT needed).
    let kw = Keyward::open_as(dir.path(), Actor::Ui).expect("core opens");
    let file = Arc::clone(kw.vault_file().expect("the vault file is the backend"));
    file.unlock(&pass, std::time::Duration::from_secs(600)).expect("unlocked");
    let services = keyward::service::start(&kw).await.expect("services start");

    let out = cli(dir.path(), &["vault", "lock"], &[]).await;
    assert!(out.status.success(), "lock failed: {}", stderr(&out));
    assert!(stdout(&out).contains("locked the vault of the Keyward desktop app"), "{}", stdout(&out));
    assert!(!file.is_unlocked(), "the running app's vault is locked");

    let out =
        cli(dir.path(), &["vault", "unlock", "--passphrase-env", PASS_VAR], &[(PASS_VAR, "wrong passphrase!")]).await;
    assert!(!out.status.success(), "a wrong passphrase is refused");
    assert!(!file.is_unlocked());

    let out = cli(
        dir.path(),
        &["--json", "vault", "unlock", "--for", "5", "--passphrase-env", PASS_VAR],
        &[(PASS_VAR, PASSPHRASE)],
    )
    .await;
    assert!(out.status.success(), "unlock failed: {}", stderr(&out));
    assert!(file.is_unlocked(), "the running app's vault is unlocked");
    let until = file.unlocked_until().expect("until");
    let minutes = (until - chrono::Utc::now()).num_seconds() as f64 / 60.0;
    assert!((4.0..=5.0).contains(&minutes), "unlocked for --for 5 minutes: {minutes}");
    assert!(!stdout(&out).contains(PASSPHRASE) && !stderr(&out).contains(PASSPHRASE));

    let out = cli(dir.path(), &["--json", "vault", "status"], &[]).await;
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["running"]["vault"]["file"]["unlocked"], true, "{v}");
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_check_from_the_cli_spends_the_running_keywards_budget() {
    let creds = MockCreds {
        api_key: "ctl-key".into(),
        secret: "ctl-secret-5e1b".into(),
        passphrase: None,
        public_pem: None,
        private_pem: None,
    };
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds)).await;
    mock.route("GET /sapi/v1/account/apiRestrictions", json!({"enableReading": true, "ipRestrict": true}));
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    kw.providers()
        .set("binance", &[("environments.production.base_url".to_string(), mock.base_url.clone())])
        .expect("base URL accepted");
    let services = keyward::service::start(&kw).await.expect("services start");
    let data = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let add = keyward_stdin(
            &data,
            &["key", "add", "--provider", "binance", "--label", "main", "--api-key", "ctl-key"],
            "ctl-secret-5e1b\n",
        );
        assert!(add.status.success(), "{}", stderr(&add));
        // The secret stays in this command's process (its credential store); only the weight
        // is charged in the running Keyward.
        crate::support::keyward(&data, &["key", "check", "--provider", "binance", "--label", "main"])
    })
    .await
    .expect("cli task");
    assert!(out.status.success(), "key check failed: {}", stderr(&out));
    assert_eq!(mock.rejected(), 0, "signed by the command with its own key");
    let spent: f64 = kw
        .limiter()
        .breakdown("binance", "sapi_ip_weight", 10)
        .iter()
        .flat_map(|b| b.by_operation.iter())
        .filter(|(op, _)| op == "key_permissions")
        .map(|(_, w)| *w)
        .sum();
    assert_eq!(spent, 1.0, "the running Keyward's SAPI budget was charged for the check");
    services.stop().await;
}
