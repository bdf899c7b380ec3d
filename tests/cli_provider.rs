//! `keyward provider …`, `keyward key …` and `keyward call …` as a user runs them.

use std::process::Output;

use serde_json::json;

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange};
use crate::support::{keyward, keyward_stdin, stderr, stdout};

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", stderr(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[test]
fn provider_list_shows_presets_with_kind_environment_and_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["provider", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in
        ["binance", "binance_hmac", "kraken", "coinbase_jwt", "coingecko", "market_data", "ftx", "discontinued"]
    {
        assert!(text.contains(needle), "list lacks {needle}:\n{text}");
    }
    let v = json_of(&keyward(dir.path(), &["--json", "provider", "list"]));
    let ids: Vec<&str> = v.as_array().expect("array").iter().filter_map(|p| p["id"].as_str()).collect();
    for id in [
        "binance",
        "coinbase",
        "coinbase_exchange",
        "kraken",
        "kucoin",
        "okx",
        "bybit",
        "bitstamp",
        "gemini",
        "bitfinex",
        "coingecko",
        "coinmarketcap",
        "alphavantage",
        "ftx",
    ] {
        assert!(ids.contains(&id), "missing preset {id}");
    }
}

#[test]
fn set_reset_and_bad_values_as_a_user_sees_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["provider", "set", "kraken", "timeout_ms=2500", "retry.max_attempts=5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&keyward(dir.path(), &["--json", "provider", "show", "kraken"]));
    assert_eq!(v["spec"]["timeout_ms"], 2500);
    assert_eq!(v["spec"]["retry"]["max_attempts"], 5);
    assert_eq!(v["origin"], "modified");

    let out = keyward(dir.path(), &["provider", "set", "kraken", "environments.production.base_url=htp://nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("environments.production.base_url") && err.contains("htp://nope"), "{err}");

    let out = keyward(dir.path(), &["provider", "set", "kraken", "timeout_ms=-5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timeout_ms") && stderr(&out).contains("-5"), "{}", stderr(&out));

    let out = keyward(dir.path(), &["provider", "set", "kraken", "auth.scheme=hmac_md5"]);
    assert!(stderr(&out).contains("hmac_md5"), "{}", stderr(&out));

    let out = keyward(dir.path(), &["provider", "reset", "kraken"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&keyward(dir.path(), &["--json", "provider", "show", "kraken"]));
    assert_eq!(v["origin"], "preset");
    assert_ne!(v["spec"]["timeout_ms"], 2500);
}

#[test]
fn custom_providers_are_added_exported_imported_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("myx.toml");
    std::fs::write(
        &spec,
        r#"id = "myx"
name = "My Exchange"
kind = "exchange"
default_environment = "production"

[environments.production]
base_url = "https://api.myx.example"

[auth]
scheme = "api_key_header"
header_name = "X-MYX-KEY"

[endpoints.server_time]
method = "GET"
path = "/time"
"#,
    )
    .expect("write spec");
    let out = keyward(dir.path(), &["provider", "add", "--file", spec.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = keyward(dir.path(), &["provider", "add", "--file", spec.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1), "a duplicate id is refused");
    assert!(stderr(&out).contains("\"myx\" already exists"), "{}", stderr(&out));

    let exported = dir.path().join("out.toml");
    let out = keyward(dir.path(), &["provider", "export", "myx", "--out", exported.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&exported).expect("exported");
    assert!(text.contains("X-MYX-KEY"));

    let out = keyward(dir.path(), &["provider", "remove", "myx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = keyward(dir.path(), &["provider", "import", "--file", exported.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&keyward(dir.path(), &["--json", "provider", "show", "myx"]));
    assert_eq!(v["origin"], "custom");

    let out = keyward(dir.path(), &["provider", "remove", "binance"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot be removed"), "{}", stderr(&out));
}

#[test]
fn a_spec_with_a_syntax_error_names_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, "id = \"x\"\nname = \"X\"\nkind exchange\n").expect("write");
    let out = keyward(dir.path(), &["provider", "add", "--file", spec.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 3, column"), "{}", stderr(&out));
}

#[test]
fn ftx_cannot_be_enabled_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["provider", "enable", "ftx"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("discontinued") && err.contains("2022"), "{err}");
}

/// The issue's acceptance path: point a preset at a local server, store a key in the OS
/// credential store, and call a signed endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_points_binance_at_a_local_server_stores_a_key_and_calls_a_signed_endpoint() {
    let creds = MockCreds {
        api_key: "cli-test-key".into(),
        secret: "cli-test-secret-9d2f".into(),
        passphrase: None,
        public_pem: None,
        private_pem: None,
    };
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    mock.route("GET /api/v3/account", json!({"balances": [{"asset": "ETH", "free": "3.5", "locked": "0"}]}));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();

    let out = tokio::task::spawn_blocking(move || {
        let set = keyward(&data, &["provider", "set", "binance", &format!("environments.production.base_url={base}")]);
        assert!(set.status.success(), "{}", stderr(&set));
        let add = keyward_stdin(
            &data,
            &["key", "add", "--provider", "binance", "--label", "main", "--api-key", "cli-test-key"],
            "cli-test-secret-9d2f\n",
        );
        assert!(add.status.success(), "{}", stderr(&add));
        assert!(stdout(&add).contains("Secret Service"), "stored in the OS store: {}", stdout(&add));
        assert!(!stdout(&add).contains("cli-test-secret"), "the secret was echoed");
        let list = keyward(&data, &["key", "list"]);
        assert!(stdout(&list).contains("••••-key"), "masked key: {}", stdout(&list));
        // --json prints the Keys page's view of a key (KeyView), masked like the table.
        let listed = json_of(&keyward(&data, &["--json", "key", "list"]));
        let key: keyward::keys::KeyView = serde_json::from_value(listed[0].clone()).expect("a KeyView");
        assert_eq!((key.label.as_str(), key.api_key_masked.as_str(), key.active_version), ("main", "••••-key", 1));
        keyward(&data, &["--json", "call", "binance", "balances"])
    })
    .await
    .expect("cli task");
    let v = json_of(&out);
    assert_eq!(v["result"]["type"], "balances");
    assert_eq!(v["result"]["balances"][0]["asset"], "ETH");
    assert_eq!(v["status"], 200);
    assert_eq!(mock.rejected(), 0, "the exchange accepted the signature");
    assert_eq!(mock.hits(), 1);

    // The secret is in the OS store only: not in the database file.
    let db = std::fs::read(dir.path().join("keyward.db")).expect("db");
    assert!(!db.windows(b"cli-test-secret-9d2f".len()).any(|w| w == b"cli-test-secret-9d2f"), "secret in the database");
}

#[test]
fn provider_and_settings_changes_are_audited_by_name_never_by_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_header = "hdr-token-3f9a1c77";
    for args in [
        vec!["provider", "set", "binance", "timeout_ms=7000", &format!("headers.X-Api-Token={secret_header}")],
        vec!["provider", "enable", "binance"],
        vec!["checks", "set", "binance", "--interval", "45"],
    ] {
        let out = keyward(dir.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = keyward(dir.path(), &["--json", "audit", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(secret_header), "a header value reached the audit log");
    let rows: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let rows = rows.as_array().expect("rows");
    let set = rows
        .iter()
        .find(|r| r["event"] == "provider_changed" && r["detail"]["action"] == "set")
        .unwrap_or_else(|| panic!("a provider_changed row for the set: {rows:?}"));
    assert_eq!(set["actor"], "cli");
    assert_eq!(set["provider"], "binance");
    assert_eq!(set["detail"]["fields"], serde_json::json!(["timeout_ms", "headers.X-Api-Token"]));
    assert!(rows.iter().any(|r| r["event"] == "provider_changed" && r["detail"]["action"] == "enabled"));
    assert!(
        rows.iter().any(|r| r["event"] == "settings_changed" && r["detail"]["setting"] == "health check"),
        "the check change is audited: {rows:?}"
    );
    let out = keyward(dir.path(), &["audit", "verify"]);
    assert!(out.status.success(), "the chain still verifies: {}", stderr(&out));
}

#[test]
fn removing_every_rate_limit_of_a_provider_needs_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = stdout(&keyward(dir.path(), &["provider", "export", "binance"])).matches("[[rate_limits]]").count();
    assert!(before >= 4, "the preset has Binance's limits");

    let out = keyward(dir.path(), &["--json", "provider", "set", "binance", "rate_limits=[]"]);
    assert!(!out.status.success(), "refused without --force");
    let err: serde_json::Value = serde_json::from_str(&stderr(&out)).expect("JSON error");
    assert_eq!(err["error"]["kind"], "confirmationNeeded");
    let msg = err["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("binance") && msg.contains(&format!("all {before}")) && msg.contains("--force"), "{msg}");
    let kept = stdout(&keyward(dir.path(), &["provider", "export", "binance"])).matches("[[rate_limits]]").count();
    assert_eq!(kept, before, "nothing changed");

    let out = keyward(dir.path(), &["provider", "set", "binance", "rate_limits=[]", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = stdout(&keyward(dir.path(), &["provider", "export", "binance"])).matches("[[rate_limits]]").count();
    assert_eq!(after, 0, "removed when confirmed");
}
