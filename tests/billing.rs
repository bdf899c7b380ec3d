//! What the providers bill, counted from real calls to mock data providers on 127.0.0.1: the
//! provider's own credit count, successes only or every answer, throttled answers never, the
//! month's cost with the plan's fee, and the budget alert.

use keyward::alerts::AlertFilter;
use keyward::pipeline::CallOptions;
use serde_json::json;

use crate::pipeline::{fixture, Fixture};
use crate::support::mock_exchange::Auth;

fn fresh() -> CallOptions {
    CallOptions { caller: "bot-1".into(), no_cache: true, ..Default::default() }
}

fn outcomes(f: &Fixture, provider: &str) -> Vec<(String, String, f64)> {
    f.kw.pipeline().recorder().flush();
    f.kw.store()
        .with_conn(|c| {
            let mut stmt = c.prepare("SELECT operation, outcome, units FROM calls WHERE provider = ?1 ORDER BY id")?;
            let rows = stmt.query_map([provider], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("calls")
}

#[tokio::test]
async fn coinmarketcap_bills_its_own_credit_count_on_successes_and_the_month_shows_fee_quota_and_budget() {
    let f = fixture();
    let mock = f.keyed_mock("coinmarketcap", Auth::ApiKeyHeader("x-cmc_pro_api_key"), "cmc-key-123").await;
    f.kw.providers().set_enabled("coinmarketcap", true).expect("enabled");
    f.set("coinmarketcap", "billing.plan", "hobbyist");
    f.set("coinmarketcap", "billing.budget", "20");
    let (method, path) = f.endpoint("coinmarketcap", "ticker");
    // The answer says what it cost: 3 credits.
    mock.route(
        &format!("{method} {path}"),
        json!({"status": {"error_code": 0, "credit_count": 3}, "data": {"BTC": {}, "ETH": {}}}),
    );
    for _ in 0..2 {
        f.call_with("coinmarketcap", "ticker", &[], fresh()).await.expect("ticker");
    }
    // /v1/key/info has no route here: a 404, which CoinMarketCap does not bill.
    f.call_with("coinmarketcap", "api_usage", &[], fresh()).await.expect_err("404");
    let recorded = outcomes(&f, "coinmarketcap");
    assert_eq!(
        recorded,
        [
            ("ticker".to_string(), "ok".to_string(), 3.0),
            ("ticker".to_string(), "ok".to_string(), 3.0),
            ("api_usage".to_string(), "http_error".to_string(), 0.0)
        ]
    );

    let month = f.kw.billing().expect("billing");
    let cmc = month.providers.iter().find(|b| b.provider == "coinmarketcap").expect("CoinMarketCap billed");
    assert_eq!((cmc.plan.id.as_str(), cmc.plan.unit.as_str(), cmc.currency.as_str()), ("hobbyist", "credits", "USD"));
    assert_eq!((cmc.calls, cmc.units), (3, 6.0));
    assert_eq!(cmc.cost, 29.0, "Hobbyist: its monthly fee, no overage under a hard cap");
    assert_eq!(cmc.included_left, Some(110_000.0 - 6.0));
    assert!(cmc.budget_used_pct.is_some_and(|p| (p - 145.0).abs() < 1e-9), "{:?}", cmc.budget_used_pct);
    assert_eq!(cmc.by_caller.len(), 1);
    assert_eq!((cmc.by_caller[0].group.as_str(), cmc.by_caller[0].units), ("bot-1", 6.0));
    assert_eq!((cmc.by_key[0].group.as_str(), cmc.by_key[0].cost), ("main", 29.0));

    // 145 % of the budget: the 100 % threshold alerts once, however often the check runs.
    assert_eq!(keyward::service::send_budget_alerts(&f.kw).expect("budget check"), 1);
    assert_eq!(keyward::service::send_budget_alerts(&f.kw).expect("budget check"), 0);
    f.kw.alert_sender().flush();
    let alerts = f.kw.alerts().list(&AlertFilter::default()).expect("alerts");
    let budget: Vec<_> = alerts.iter().filter(|a| a.title.contains("monthly budget")).collect();
    assert_eq!(budget.len(), 1, "{alerts:?}");
    assert_eq!(budget[0].title, "coinmarketcap used 100 % of its monthly budget");
    assert!(budget[0].body.contains("29.00 USD") && budget[0].body.contains("20.00 USD"), "{}", budget[0].body);
}

#[tokio::test]
async fn an_alpha_vantage_throttle_note_counts_as_throttled_and_is_never_billed() {
    let f = fixture();
    let mock = f.keyed_mock("alphavantage", Auth::ApiKeyQuery("apikey"), "av-key-456").await;
    let (method, path) = f.endpoint("alphavantage", "ticker");
    mock.route(&format!("{method} {path}"), json!({"Realtime Currency Exchange Rate": {"5. Exchange Rate": "65000"}}));
    f.call_with("alphavantage", "ticker", &[], fresh()).await.expect("answered");
    mock.route(
        &format!("{method} {path}"),
        json!({"Note": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."}),
    );
    let err = f.call_with("alphavantage", "ticker", &[], fresh()).await.expect_err("throttled");
    assert!(err.to_string().contains("Thank you for using Alpha Vantage"), "{err}");
    let recorded = outcomes(&f, "alphavantage");
    assert_eq!(
        recorded,
        [("ticker".to_string(), "ok".to_string(), 1.0), ("ticker".to_string(), "throttled".to_string(), 0.0)]
    );
    let table = f
        .kw
        .usage_table(keyward::usage::UsageRange::Day, keyward::usage::GroupBy::Provider, Some("alphavantage".into()))
        .expect("usage");
    assert_eq!((table.totals.calls, table.totals.errors, table.totals.throttled), (2, 1, 1));
    assert_eq!(table.totals.units, 1.0);
    assert_eq!(table.currency.as_deref(), Some("USD"));
}

#[tokio::test]
async fn coingecko_counts_every_answer_and_bills_calls_past_the_plan_as_overage() {
    let f = fixture();
    let mock = f.keyed_mock("coingecko_pro", Auth::ApiKeyHeader("x-cg-pro-api-key"), "cg-key").await;
    // A plan of 2 included calls at $0.01 past them, so three answers make one overage call.
    f.set("coingecko_pro", "billing.plans.basic.included", "2");
    f.set("coingecko_pro", "billing.plans.basic.unit_price", "0.01");
    let (method, path) = f.endpoint("coingecko_pro", "ticker");
    mock.route(&format!("{method} {path}"), json!({"bitcoin": {"usd": 65000}}));
    f.call_with("coingecko_pro", "ticker", &[], fresh()).await.expect("ticker");
    f.call_with("coingecko_pro", "ticker", &[], fresh()).await.expect("ticker");
    // No route for ping: a 404 CoinGecko still counts.
    f.call_with("coingecko_pro", "ping", &[], fresh()).await.expect_err("404");
    let month = f.kw.billing().expect("billing");
    let cg = month.providers.iter().find(|b| b.provider == "coingecko_pro").expect("used this month");
    assert_eq!(cg.units, 3.0, "errors count on CoinGecko");
    assert_eq!(cg.overage_units, 1.0);
    assert!((cg.cost - 35.01).abs() < 1e-9, "the Basic fee and one overage call: {}", cg.cost);
    assert_eq!(cg.runs_out_at.as_deref().map(str::len), Some(24), "the included calls are used up");
}
