//! The Status and Alerts pages in the real app: Binance, checked every second against a local
//! stand-in, shows up; when the stand-in starts answering 503 the card turns down (driven by
//! the monitor's live events, not by reloading) and the "binance is down" alert appears in the
//! alert centre. A signed webhook added on the Alerts page receives its test delivery.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fantoccini::{Client, Locator};

use crate::support::{
    click, connect, screenshot, scroll_to, seen, serve, type_into, wait_for_text, wait_until, Driver,
    ONE_APP_AT_A_TIME, STARTUP,
};

/// Binance's checks run this often in the test (the core's minimum).
const CHECK_EVERY: Duration = Duration::from_secs(1);
const HOOK_SECRET: &str = "e2e-webhook-secret-93";

/// What the stand-in does and saw.
#[derive(Clone, Default)]
struct Mock {
    /// Answer 503 to every Binance endpoint.
    failing: Arc<AtomicBool>,
    /// Webhook deliveries that carried a signature.
    signed_hooks: Arc<AtomicUsize>,
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "service unavailable").into_response()
}

async fn server_time(State(mock): State<Mock>) -> Response {
    if mock.failing.load(Ordering::SeqCst) {
        return unavailable();
    }
    axum::Json(serde_json::json!({ "serverTime": chrono::Utc::now().timestamp_millis() })).into_response()
}

async fn system_status(State(mock): State<Mock>) -> Response {
    if mock.failing.load(Ordering::SeqCst) {
        return unavailable();
    }
    axum::Json(serde_json::json!({ "status": 0, "msg": "normal" })).into_response()
}

async fn hook(State(mock): State<Mock>, headers: HeaderMap) -> StatusCode {
    if headers.contains_key(keyward::alerts::SIGNATURE_HEADER) {
        mock.signed_hooks.fetch_add(1, Ordering::SeqCst);
    }
    StatusCode::OK
}

/// A stand-in for Binance's public endpoints (503 while `failing`) and a webhook receiver,
/// on 127.0.0.1.
async fn switchable_binance(mock: Mock) -> String {
    let app = axum::Router::new()
        .route("/api/v3/time", get(server_time))
        .route("/sapi/v1/system/status", get(system_status))
        .route("/hook", post(hook))
        .with_state(mock);
    serve(app).await
}

/// Waits until the card's sparkline has at least `n` successful points.
async fn wait_for_spark_points(client: &Client, n: usize) {
    let css = "[data-testid=status-card-binance] svg.spark polyline";
    wait_until(&format!("the sparkline has {n} points"), STARTUP, Some(client), || async move {
        let line = client.find(Locator::Css(css)).await.map_err(|e| seen(css, e))?;
        let points = line.attr("points").await.map_err(|e| seen(css, e))?.unwrap_or_default();
        match points.split_whitespace().count() {
            count if count >= n => Ok(()),
            count => Err(format!("{count} points")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_turns_down_live_on_the_status_page_and_raises_an_alert() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mock = Mock::default();
    let base_url = switchable_binance(mock.clone()).await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the stand-in");
        kw.providers().set_enabled("binance", true).expect("enable binance");
        kw.monitor().ensure_default_checks(kw.providers()).expect("default checks");
        let checks = kw.monitor().checks(Some("binance")).expect("binance's checks");
        assert!(!checks.is_empty(), "binance has default checks");
        for mut check in checks {
            check.interval = CHECK_EVERY;
            kw.monitor().update_check(&check).expect("a 1 s interval");
        }
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-status]").await;
    wait_for_text(&client, "[data-testid=status-state-binance]", "up").await;
    wait_for_text(&client, "[data-testid=status-last-binance]", " ms").await;
    // The sparkline is drawn from CheckCompleted events as they arrive.
    wait_for_spark_points(&client, 6).await;
    wait_for_text(&client, "[data-testid=status-uptime-binance]", "%").await;
    screenshot(&client, "status").await;

    // The exchange starts failing: two confirming checks later the card says down by itself.
    mock.failing.store(true, Ordering::SeqCst);
    wait_for_text(&client, "[data-testid=status-state-binance]", "down").await;
    wait_for_text(&client, "[data-testid=status-last-binance]", "failed").await;
    // The cause is clamped to two lines on the card; its title holds all of it.
    let cause = client
        .find(Locator::Css("[data-testid=status-cause-binance]"))
        .await
        .expect("the cause")
        .attr("title")
        .await
        .expect("title")
        .unwrap_or_default();
    assert!(cause.contains("HTTP 503"), "the card names the cause: {cause}");
    screenshot(&client, "status-down").await;

    // The detail: uptime per window, the core's charts and the open incident.
    click(&client, "[data-testid=status-open-binance]").await;
    wait_for_text(&client, "[data-testid=detail-state]", "down").await;
    wait_for_text(&client, "[data-testid=detail-incidents]", "ongoing").await;
    wait_for_text(&client, "[data-testid=latency-chart]", "response time").await;
    wait_for_text(&client, "[data-testid=uptime-strip]", "uptime, last 90 days").await;
    wait_for_text(&client, "[data-testid=uptime-24h]", "%").await;
    screenshot(&client, "status-detail").await;
    scroll_to(&client, "[data-testid=uptime-strip]").await;
    screenshot(&client, "status-detail-history").await;

    // Check settings are edited in place: the core refuses an interval below its minimum
    // (naming field and value) and keeps the stored one; a valid one shows in the row.
    let row = "[data-testid=check-row-server_time]";
    scroll_to(&client, "[data-testid=detail-checks]").await;
    click(&client, &format!("{row} [data-testid^=check-edit-]")).await;
    type_into(&client, "tr.check-edit input[data-testid$=-interval]", "0.5").await;
    click(&client, "tr.check-edit [data-testid$=-submit]").await;
    wait_for_text(&client, "tr.check-edit [data-testid$=-error]", "interval 500 ms").await;
    screenshot(&client, "status-check-error").await;
    type_into(&client, "tr.check-edit input[data-testid$=-interval]", "2").await;
    click(&client, "tr.check-edit [data-testid$=-submit]").await;
    wait_for_text(&client, &format!("{row} [data-testid^=check-interval-]"), "2 s").await;
    screenshot(&client, "status-checks").await;

    click(&client, "[data-testid=nav-alerts]").await;
    let alert = wait_for_text(&client, "[data-testid=alerts-open]", "binance is down").await;
    assert!(alert.to_lowercase().contains("critical"), "a down alert is critical: {alert}");
    screenshot(&client, "alerts").await;

    click(&client, "[data-testid^=alert-ack-]").await;
    wait_for_text(&client, "[data-testid=alerts-open]", "acknowledged").await;

    // A signed JSON webhook to this machine: added, then tested.
    wait_for_text(&client, "[data-testid=webhooks-empty]", "No webhooks yet").await;
    type_into(&client, "[data-testid=webhook-name]", "e2e-hook").await;
    type_into(&client, "[data-testid=webhook-url]", &format!("{base_url}/hook")).await;
    type_into(&client, "[data-testid=webhook-secret]", HOOK_SECRET).await;
    click(&client, "[data-testid=webhook-add]").await;
    wait_for_text(&client, "[data-testid=webhook-add-notice]", "Added").await;
    wait_for_text(&client, "[data-testid=webhooks]", "signed").await;
    click(&client, "[data-testid^=webhook-test-]").await;
    let result = wait_for_text(&client, "[data-testid^=webhook-result-]", "Delivered").await;
    assert!(result.contains("HTTP 200"), "{result}");
    assert_eq!(mock.signed_hooks.load(Ordering::SeqCst), 1, "the test delivery was signed");
    scroll_to(&client, "[data-testid=webhooks]").await;
    screenshot(&client, "alerts-webhooks").await;

    client.close().await.expect("session closes");

    let db = std::fs::read(data_dir.path().join(keyward::DATABASE_FILE)).expect("db");
    assert!(
        !db.windows(HOOK_SECRET.len()).any(|w| w == HOOK_SECRET.as_bytes()),
        "the webhook secret is in the database"
    );
}
