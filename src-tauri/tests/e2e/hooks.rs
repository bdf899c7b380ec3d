//! Incoming hooks in the real app: a hook created on the Alerts page (its secret shown once)
//! receives a Statuspage maintenance payload on the app's own gateway port, and Binance's card
//! on the Status page turns to maintenance by itself; the delivery is listed on the Alerts page.

use std::time::Duration;

use axum::routing::get;

use crate::support::{
    click, connect, screenshot, scroll_to, serve, type_into, wait_for_text, Driver, ONE_APP_AT_A_TIME,
};

/// Binance's checks run this often in the test (the core's minimum).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// What Statuspage posts when a scheduled maintenance starts.
const MAINTENANCE_WEBHOOK: &str = include_str!("../../../src/hooks/samples/statuspage_maintenance.json");

/// A healthy stand-in for Binance's public endpoints on 127.0.0.1.
async fn healthy_binance() -> String {
    let app = axum::Router::new()
        .route(
            "/api/v3/time",
            get(|| async { axum::Json(serde_json::json!({ "serverTime": chrono::Utc::now().timestamp_millis() })) }),
        )
        .route(
            "/sapi/v1/system/status",
            get(|| async { axum::Json(serde_json::json!({ "status": 0, "msg": "normal" })) }),
        );
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statuspage_maintenance_posted_to_a_hook_turns_binance_to_maintenance_on_the_status_page() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = healthy_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the stand-in");
        kw.providers().set_enabled("binance", true).expect("enable binance");
        kw.monitor().ensure_default_checks(kw.providers()).expect("default checks");
        for mut check in kw.monitor().checks(Some("binance")).expect("binance's checks") {
            check.interval = CHECK_EVERY;
            kw.monitor().update_check(&check).expect("a 1 s interval");
        }
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    // Create the hook the way a user does; the secret-bearing URL is shown once.
    click(&client, "[data-testid=nav-alerts]").await;
    wait_for_text(&client, "[data-testid=hooks-empty]", "No incoming hooks yet").await;
    type_into(&client, "[data-testid=hook-name]", "binance-status").await;
    type_into(&client, "[data-testid=hook-provider]", "binance").await;
    client
        .find(fantoccini::Locator::Css("[data-testid=hook-auth]"))
        .await
        .expect("auth select")
        .select_by_value("urlSecret")
        .await
        .expect("secret in the URL");
    click(&client, "[data-testid=hook-add]").await;
    let send_url = wait_for_text(&client, "[data-testid=hook-issued-url]", "?secret=kwh_").await;
    assert!(send_url.starts_with("http://127.0.0.1:"), "the hook is on the app's gateway: {send_url}");
    wait_for_text(&client, "[data-testid=hook-url-binance-status]", "/hooks/h").await;
    scroll_to(&client, "[data-testid=incoming-hooks]").await;
    screenshot(&client, "alerts-hooks-created").await;

    click(&client, "[data-testid=nav-status]").await;
    wait_for_text(&client, "[data-testid=status-state-binance]", "up").await;

    // The status page announces its maintenance.
    let answer = reqwest::Client::new()
        .post(send_url.trim())
        .header("Content-Type", "application/json")
        .body(MAINTENANCE_WEBHOOK)
        .send()
        .await
        .expect("the app's gateway answers");
    assert_eq!(answer.status().as_u16(), 202, "{:?}", answer.text().await);

    wait_for_text(&client, "[data-testid=status-state-binance]", "maintenance").await;
    // The cause is clamped to two lines on the card; its title holds all of it.
    let cause = client
        .find(fantoccini::Locator::Css("[data-testid=status-cause-binance]"))
        .await
        .expect("the cause")
        .attr("title")
        .await
        .expect("title")
        .unwrap_or_default();
    assert!(cause.contains("Spot trading engine upgrade"), "the card says why: {cause}");
    screenshot(&client, "status-maintenance-from-hook").await;

    // The delivery and what it became are listed on the Alerts page, next to the alert.
    click(&client, "[data-testid=nav-alerts]").await;
    wait_for_text(&client, "[data-testid=alerts-open]", "binance-status: maintenance: Spot trading engine upgrade")
        .await;
    let row = wait_for_text(&client, "[data-testid=hook-deliveries]", "202 accepted").await;
    assert!(row.contains("binance: up → maintenance"), "{row}");
    scroll_to(&client, "[data-testid=incoming-hooks]").await;
    screenshot(&client, "alerts-hooks").await;

    client.close().await.expect("session closes");
}
