//! `keyward usage` over calls a user made with `keyward call`.

use serde_json::{json, Value};

use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::{keyward, stderr, stdout};

fn row<'a>(report: &'a Value, group: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["group"] == group))
        .unwrap_or_else(|| panic!("no row {group:?} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_by_endpoint_counts_the_calls_errors_and_weight_a_user_made() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/time", json!({"serverTime": 1_767_225_600_000u64}));
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "65000.00"}));
    // system_status has no route: the mock answers 404, an error the pipeline does not retry.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let base = mock.base_url.clone();

    let (report, by_caller, text) = tokio::task::spawn_blocking(move || {
        let set = keyward(&data, &["provider", "set", "binance", &format!("environments.production.base_url={base}")]);
        assert!(set.status.success(), "{}", stderr(&set));
        let empty = keyward(&data, &["usage"]);
        assert!(empty.status.success(), "{}", stderr(&empty));
        assert!(stdout(&empty).contains("no calls recorded in the last 24 h"), "{}", stdout(&empty));

        for _ in 0..3 {
            let out = keyward(&data, &["call", "binance", "server_time"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let out = keyward(&data, &["call", "--no-cache", "binance", "ticker", "symbol=BTCUSDT"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = keyward(&data, &["call", "binance", "system_status"]);
        assert!(!out.status.success(), "the 404 fails the call: {}", stdout(&out));

        let report = keyward(&data, &["--json", "usage", "--by", "endpoint"]);
        assert!(report.status.success(), "{}", stderr(&report));
        let by_caller =
            keyward(&data, &["--json", "usage", "--since", "7d", "--by", "caller", "--provider", "binance"]);
        assert!(by_caller.status.success(), "{}", stderr(&by_caller));
        let text = keyward(&data, &["usage", "--since", "30d"]);
        assert!(text.status.success(), "{}", stderr(&text));
        let parse = |o: &std::process::Output| -> Value { serde_json::from_str(&stdout(o)).expect("JSON") };
        (parse(&report), parse(&by_caller), stdout(&text))
    })
    .await
    .expect("commands run");

    assert_eq!(report["groupBy"], "endpoint");
    assert_eq!(report["range"], "24h");
    let names: Vec<&str> =
        report["rows"].as_array().expect("rows").iter().filter_map(|r| r["group"].as_str()).collect();
    // Keyward's own read of the limits Binance publishes (before the first call) counts too.
    assert_eq!(
        names,
        ["binance server_time", "binance exchange_info", "binance system_status", "binance ticker"],
        "most calls first"
    );
    let time = row(&report, "binance server_time");
    assert_eq!((time["calls"].as_u64(), time["errors"].as_u64(), time["weight"].as_u64()), (Some(3), Some(0), Some(3)));
    let ticker = row(&report, "binance ticker");
    assert_eq!((ticker["calls"].as_u64(), ticker["weight"].as_u64()), (Some(1), Some(2)));
    let status = row(&report, "binance system_status");
    assert_eq!((status["calls"].as_u64(), status["errors"].as_u64()), (Some(1), Some(1)));
    // Five calls by the user, and one read of the published limits (weight 20) that the
    // later commands took from the stored copy instead of asking again.
    let info = row(&report, "binance exchange_info");
    assert_eq!((info["calls"].as_u64(), info["weight"].as_u64()), (Some(1), Some(20)));
    assert_eq!(report["totals"]["calls"], 6);
    assert_eq!(report["totals"]["errors"], 1);
    assert_eq!(report["totals"]["weight"], 26);

    assert_eq!(
        by_caller["rows"],
        json!([row(&by_caller, "cli"), row(&by_caller, "keyward")]),
        "the user's calls came from the CLI: {by_caller}"
    );
    assert_eq!(by_caller["rows"][0]["calls"], 5);
    assert_eq!(by_caller["rows"][1]["calls"], 1);

    assert!(text.contains("binance server_time") && text.contains("AVG LATENCY"), "{text}");
    assert!(text.contains("last 30 days"), "{text}");
}

#[test]
fn a_bad_since_names_the_value_and_the_choices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["--json", "usage", "--since", "2w"]);
    assert!(!out.status.success());
    let err: Value = serde_json::from_str(&stderr(&out)).expect("JSON error");
    assert_eq!(err["error"]["kind"], "invalid");
    let msg = err["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("--since") && msg.contains("\"2w\"") && msg.contains("24h, 7d or 30d"), "{msg}");
}

#[test]
fn usage_billing_shows_the_plan_the_user_chose_its_fee_and_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let empty = keyward(data, &["usage", "billing"]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(stdout(&empty).contains("no paid or metered provider"), "{}", stdout(&empty));

    let enable = keyward(data, &["provider", "enable", "coinmarketcap"]);
    assert!(enable.status.success(), "{}", stderr(&enable));
    let set = keyward(data, &["provider", "set", "coinmarketcap", "billing.plan=hobbyist", "billing.budget=10"]);
    assert!(set.status.success(), "{}", stderr(&set));
    let bad = keyward(data, &["provider", "set", "coinmarketcap", "billing.plan=gold"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("billing.plan") && stderr(&bad).contains("\"gold\""), "{}", stderr(&bad));

    let out = keyward(data, &["--json", "usage", "billing"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let view: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let cmc = view["providers"]
        .as_array()
        .and_then(|p| p.iter().find(|b| b["provider"] == "coinmarketcap"))
        .unwrap_or_else(|| panic!("CoinMarketCap billed: {view}"));
    assert_eq!(cmc["plan"]["name"], "Hobbyist");
    assert_eq!(cmc["cost"], 29.0);
    assert_eq!(cmc["budgetUsedPct"], 290.0);
    assert_eq!(cmc["includedLeft"], 110_000.0);

    let text = keyward(data, &["usage", "billing"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.contains("coinmarketcap") && text.contains("Hobbyist") && text.contains("29.00 USD"), "{text}");
    assert!(text.contains("0 / 110000 credits"), "{text}");
}
