//! `keyward checks …`, `keyward status`, `keyward limits` and `keyward alerts` as a user runs them.

use serde_json::json;

use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::{keyward, stderr, stdout};

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", stderr(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_run_against_a_local_exchange_and_status_shows_the_result() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/time", json!({"serverTime": 1_767_225_600_000_i64}));
    mock.route("GET /sapi/v1/system/status", json!({"status": 0, "msg": "normal"}));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();
    let (list, set, run, status) = tokio::task::spawn_blocking(move || {
        assert!(keyward(&data, &["provider", "set", "binance", &format!("environments.production.base_url={base}")])
            .status
            .success());
        assert!(keyward(&data, &["provider", "enable", "binance"]).status.success());
        assert!(keyward(&data, &["checks", "defaults"]).status.success());
        let list = json_of(&keyward(&data, &["--json", "checks", "list", "--provider", "binance"]));
        let id = list[0]["id"].as_i64().expect("a check id").to_string();
        let set = json_of(&keyward(&data, &["--json", "checks", "set", &id, "--interval", "5"]));
        let run = json_of(&keyward(&data, &["--json", "checks", "run", "binance"]));
        let status = json_of(&keyward(&data, &["--json", "status"]));
        (list, set, run, status)
    })
    .await
    .expect("cli");
    let ops: Vec<&str> = list.as_array().expect("array").iter().filter_map(|c| c["operation"].as_str()).collect();
    assert!(ops.contains(&"server_time") && ops.contains(&"system_status"), "{ops:?}");
    assert_eq!(set["intervalMs"], 5000);
    // `checks set` prints the same view of a check as `checks list` (and the Status page).
    let mut listed = list[0].clone();
    listed["intervalMs"] = 5000.into();
    assert_eq!(set, listed, "one shape for one check");
    assert!(run.as_array().expect("array").iter().all(|r| r["ok"] == true), "{run}");
    let binance =
        status.as_array().expect("array").iter().find(|p| p["provider"] == "binance").expect("binance monitored");
    assert_eq!(binance["state"], "up", "{binance}");
    assert_eq!(binance["lastCheck"]["ok"], true);
    assert!(mock.hits() >= 2);
}

#[test]
fn limits_show_binance_rules_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = json_of(&keyward(dir.path(), &["--json", "limits", "--provider", "binance"]));
    let weight =
        v.as_array().expect("array").iter().find(|l| l["limitId"] == "request_weight").expect("request_weight");
    assert_eq!(weight["limit"], 6000.0);
    assert_eq!(weight["used"], 0.0);
    let out = keyward(dir.path(), &["limits", "--provider", "binanse"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("binance"), "suggests the right name: {}", stderr(&out));
}

#[test]
fn alert_rules_have_defaults_and_a_test_webhook_reports_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = json_of(&keyward(dir.path(), &["--json", "alerts", "rules"]));
    let kinds: Vec<&str> = rules.as_array().expect("array").iter().filter_map(|r| r["kind"].as_str()).collect();
    assert!(kinds.contains(&"provider_down") && kinds.contains(&"rate_limit_ban"), "{kinds:?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    let added = json_of(&keyward(dir.path(), &["--json", "alerts", "add-webhook", "--name", "local", "--url", &url]));
    let id = added["id"].as_i64().expect("id").to_string();
    let out = keyward(dir.path(), &["alerts", "test-webhook", &id]);
    assert_eq!(out.status.code(), Some(1), "an unreachable webhook is a failure");
    assert!(stdout(&out).contains("NOT delivered"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_check_created_from_the_cli_detects_exchange_maintenance() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /sapi/v1/system/status", json!({"status": 1, "msg": "system maintenance"}));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();
    let (typo, set, status) = tokio::task::spawn_blocking(move || {
        assert!(keyward(&data, &["provider", "set", "binance", &format!("environments.production.base_url={base}")])
            .status
            .success());
        assert!(keyward(&data, &["provider", "enable", "binance"]).status.success());
        let typo = keyward(&data, &["checks", "set", "binance", "--operation", "sytem_status"]);
        let set = json_of(&keyward(&data, &["--json", "checks", "set", "binance", "--operation", "system_status"]));
        let _ = keyward(&data, &["--json", "checks", "run", "binance"]);
        let status = json_of(&keyward(&data, &["--json", "status"]));
        (typo, set, status)
    })
    .await
    .expect("cli");
    assert!(!typo.status.success(), "a misspelt operation is refused");
    assert!(
        stderr(&typo).contains("\"sytem_status\" is not an operation of provider \"binance\""),
        "{}",
        stderr(&typo)
    );
    assert_eq!(set["kind"], "status", "the spec's status operation makes a status check: {set}");
    let binance =
        status.as_array().expect("array").iter().find(|p| p["provider"] == "binance").expect("binance monitored");
    assert_eq!(binance["state"], "maintenance", "{binance}");
}
