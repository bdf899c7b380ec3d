//! The Usage page in the real app: three weeks of CoinMarketCap credits spent by a bot, with a
//! spike in the hour that just ended. The user picks the Hobbyist plan and a budget in the
//! window and sees the month's cost against it, the forecast to the month's end against the
//! plan's credits, and the spike among the anomalies.

use std::time::Duration;

use axum::routing::get;
use chrono::{DurationRound, Utc};
use fantoccini::Locator;
use keyward::keys::NewKey;
use keyward::pipeline::AttemptRecord;
use keyward::vault::SecretString;

use crate::support::{
    click, connect, screenshot, scroll_to, serve, type_into, wait_for_text, Driver, ONE_APP_AT_A_TIME,
};

/// CoinMarketCap's quotes and key info, each answer with its own credit count.
async fn mock_coinmarketcap() -> String {
    serve(
        axum::Router::new()
            .route(
                "/v1/key/info",
                get(|| async {
                    axum::Json(serde_json::json!({
                        "status": {"error_code": 0, "credit_count": 0},
                        "data": {"plan": {"credit_limit_monthly": 110000}}
                    }))
                }),
            )
            .route(
                "/v2/cryptocurrency/quotes/latest",
                get(|| async {
                    axum::Json(serde_json::json!({
                        "status": {"error_code": 0, "credit_count": 1},
                        "data": {"BTC": [{"quote": {"USD": {"price": 65000.0}}}]}
                    }))
                }),
            ),
    )
    .await
}

fn ticker_call(at: chrono::DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        key_label: Some("main".into()),
        latency: Duration::from_millis(120),
        bytes_in: 400,
        units: 1.0,
        ..AttemptRecord::answered(at, "coinmarketcap", "ticker", "bot:price-feed")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_picks_a_plan_and_budget_and_sees_the_months_cost_forecast_and_a_spike() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_coinmarketcap().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("coinmarketcap", &[("environments.production.base_url", base_url.as_str())])
            .expect("point CoinMarketCap at the mock");
        kw.providers().set_enabled("coinmarketcap", true).expect("enable CoinMarketCap");
        kw.keys()
            .add(
                NewKey {
                    environment: "production".into(),
                    provider: "coinmarketcap".into(),
                    label: "main".into(),
                    api_key: "cmc-e2e".into(),
                    secret: SecretString::from("cmc-e2e-key-0000".to_string()),
                    passphrase: None,
                    scopes: "read".parse().expect("scopes"),
                    notes: String::new(),
                    expires_at: None,
                },
                Utc::now(),
            )
            .expect("the bot's key");
        // Three weeks of a bot's quotes, 15 to 25 an hour, then 400 in the hour that just ended.
        let this_hour = Utc::now().duration_trunc(chrono::Duration::hours(1)).expect("hour");
        let recorder = kw.pipeline().recorder();
        for h in 1..=21 * 24 {
            let hour = this_hour - chrono::Duration::hours(h);
            let n = if h == 1 { 400 } else { 15 + (h * 7) % 11 };
            for i in 0..n {
                recorder.record(ticker_call(hour + chrono::Duration::seconds(i * 3599 / n)));
            }
        }
        recorder.flush();
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-usage]").await;
    wait_for_text(&client, "[data-testid=bill-plan-coinmarketcap]", "Basic (free)").await;
    wait_for_text(&client, "[data-testid=bill-units-coinmarketcap]", "of 10,000 credits").await;

    // Hobbyist, with a $20 budget: the $29 fee is 145 % of it.
    click(&client, "[data-testid=bill-edit-coinmarketcap]").await;
    let plan = client.find(Locator::Css("[data-testid=billing-plan-coinmarketcap]")).await.expect("plan select");
    plan.select_by_value("hobbyist").await.expect("choose Hobbyist");
    wait_for_text(&client, "[data-testid=billing-editor-coinmarketcap]", "").await;
    type_into(&client, "[data-testid=billing-budget-coinmarketcap]", "20").await;
    screenshot(&client, "usage-plan-form").await;
    click(&client, "[data-testid=billing-save-coinmarketcap]").await;
    wait_for_text(&client, "[data-testid=bill-plan-coinmarketcap]", "Hobbyist").await;
    wait_for_text(&client, "[data-testid=bill-cost-coinmarketcap]", "$29.00").await;
    wait_for_text(&client, "[data-testid=bill-budget-coinmarketcap]", "145 %").await;
    wait_for_text(&client, "[data-testid=bill-units-coinmarketcap]", "of 110,000 credits").await;
    screenshot(&client, "usage").await;

    // The forecast for CoinMarketCap counts its credits against the plan's 110,000.
    let provider = client.find(Locator::Css("[data-testid=usage-provider]")).await.expect("provider filter");
    provider.select_by_value("coinmarketcap").await.expect("only CoinMarketCap");
    let quota = wait_for_text(&client, "[data-testid=forecast-quota]", "Hobbyist plan").await;
    assert!(quota.contains("110,000 a month"), "{quota}");
    wait_for_text(&client, "[data-testid=forecast-projected]", "").await;
    wait_for_text(&client, "[data-testid=forecast-chart]", "").await;
    scroll_to(&client, "[data-testid=forecast-panel]").await;
    screenshot(&client, "usage-forecast").await;

    // The hour with 400 quotes instead of about 20 is a calls spike on the bot's key.
    let spike = wait_for_text(&client, "[data-testid=anomalies-table]", "ticker").await;
    assert!(spike.contains("400") && spike.contains("main"), "{spike}");
    scroll_to(&client, "[data-testid=anomalies-panel]").await;
    screenshot(&client, "usage-anomalies").await;
}
