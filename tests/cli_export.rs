//! `keyward usage export` over calls a user made with `keyward call`: the file it writes and
//! the JSON it prints read back equal to what the Usage table shows; bad bounds name the field
//! and the value. `keyward gateway metrics` chooses who may scrape and shows the token once.

use keyward::usage::export::UsageExport;
use serde_json::{json, Value};

use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::{keyward, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_exports_to_a_file_and_stdout_read_back_equal_to_the_usage_table() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/time", json!({"serverTime": 1_767_225_600_000u64}));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();
    let file = dir.path().join("usage.csv");
    let file_arg = file.display().to_string();

    let (table, csv, json_text, bad) = tokio::task::spawn_blocking(move || {
        let set = keyward(&data, &["provider", "set", "binance", &format!("environments.production.base_url={base}")]);
        assert!(set.status.success(), "{}", stderr(&set));
        for _ in 0..3 {
            let out = keyward(&data, &["call", "binance", "server_time"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let out = keyward(&data, &["call", "binance", "system_status"]);
        assert!(!out.status.success(), "no route: the mock's 404 is an error");

        let table = keyward(&data, &["--json", "usage", "--since", "7d", "--by", "caller"]);
        assert!(table.status.success(), "{}", stderr(&table));
        let out = keyward(
            &data,
            &["usage", "export", "--format", "csv", "--since", "7d", "--by", "caller", "--output", &file_arg],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("usage.csv"), "says where it wrote: {}", stderr(&out));
        let csv = std::fs::read_to_string(&file_arg).expect("the export file");
        let json_out = keyward(
            &data,
            &["usage", "export", "--format", "json", "--since", "2000-01-01", "--by", "endpoint", "--bucket", "day"],
        );
        assert!(json_out.status.success(), "{}", stderr(&json_out));
        let bad = keyward(&data, &["usage", "export", "--until", "last tuesday"]);
        (stdout(&table), csv, stdout(&json_out), bad)
    })
    .await
    .expect("commands run");

    let table: Value = serde_json::from_str(&table).expect("usage --json");
    let export = UsageExport::from_csv(&csv).expect("the CSV reads back");
    assert_eq!(export.group_by, "caller");
    assert_eq!(export.bucket, "none");
    let rows: Vec<Value> = export.rows.iter().map(|r| serde_json::to_value(&r.row).expect("row")).collect();
    assert_eq!(Value::Array(rows), table["rows"], "the same rows as `keyward usage --by caller`");
    for sum in ["calls", "errors", "throttled", "weight", "cost", "units"] {
        assert_eq!(serde_json::to_value(&export.totals).expect("totals")[sum], table["totals"][sum], "{sum}");
    }
    assert_eq!(export.currency.as_deref(), table["currency"].as_str(), "the currency the table names");
    assert_eq!(export.totals.calls as usize, mock.hits() + mock.info_hits(), "every call the exchange saw");

    let by_day: UsageExport = serde_json::from_str(&json_text).expect("the JSON reads back");
    assert_eq!(by_day.bucket, "day");
    assert!(by_day.rows.iter().all(|r| r.bucket.as_deref().is_some_and(|b| b.ends_with("T00:00:00.000Z"))));
    let server_time: u64 =
        by_day.rows.iter().filter(|r| r.row.group == "binance server_time").map(|r| r.row.calls).sum();
    assert_eq!(server_time, 3);
    let status = by_day.rows.iter().find(|r| r.row.group == "binance system_status").expect("the failed call");
    assert_eq!((status.row.calls, status.row.errors), (1, 1));
    assert_eq!(by_day.totals.calls, export.totals.calls);

    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("until \"last tuesday\""), "names the field and the value: {}", stderr(&bad));
}

#[test]
fn gateway_metrics_access_is_chosen_from_the_command_line_and_the_token_shown_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = keyward(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_str::<Value>(&stdout(&out)).expect("JSON")
    };
    let shown = run(&["--json", "gateway", "metrics"]);
    assert_eq!(shown["access"], "loopback");
    assert!(shown["url"].as_str().unwrap_or_default().ends_with(":47311/metrics"), "{shown}");
    assert_eq!(shown["token"], Value::Null);

    let made = run(&["--json", "gateway", "metrics", "--access", "token"]);
    assert_eq!(made["access"], "token");
    let token = made["token"].as_str().expect("the token, once").to_string();
    assert!(token.starts_with("kwm_"));
    assert!(made["scrapeConfig"].as_str().unwrap_or_default().contains("credentials_file"), "{made}");
    let again = run(&["--json", "gateway", "metrics"]);
    assert_eq!(again["token"], Value::Null, "never shown again");
    assert!(token.starts_with(again["tokenHint"].as_str().expect("hint").trim_end_matches('…')));

    let rotated = run(&["--json", "gateway", "metrics", "--rotate-token"]);
    assert_ne!(rotated["token"].as_str().expect("a new token"), token);
    // The database and its write-ahead log.
    let mut db = String::new();
    for entry in std::fs::read_dir(dir.path()).expect("data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with(keyward::DATABASE_FILE) {
            db.push_str(&String::from_utf8_lossy(&std::fs::read(entry.path()).expect("read")));
        }
    }
    assert!(!db.contains(&token) && !db.contains(rotated["token"].as_str().unwrap_or("-")), "tokens are not stored");

    let back = run(&["--json", "gateway", "metrics", "--access", "loopback"]);
    assert_eq!(back["access"], "loopback");
    let refused = keyward(dir.path(), &["gateway", "metrics", "--rotate-token"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("choose token access first"), "{}", stderr(&refused));
}
