//! The Failover page in the real app: a group "BTC price" of Binance (answering 503) and
//! Kraken is created in the window; "Try it" with BTC/USDT is answered by Kraken, asked for its
//! own pair name, and the route says why Binance did not answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fantoccini::Locator;

use crate::support::{click, connect, screenshot, serve, type_into, wait_for_text, Driver, ONE_APP_AT_A_TIME};

/// Kraken's ticker, only for its own name of the market (the one it lists).
async fn kraken_ticker(
    State(wrong): State<Arc<AtomicUsize>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if q.get("pair").map(String::as_str) != Some("XBTUSDT") {
        wrong.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": ["EQuery:Unknown asset pair"]})))
            .into_response();
    }
    axum::Json(serde_json::json!({"error": [], "result": {"XBTUSDT": {
        "a": ["101.5", "1", "1.0"], "b": ["101.0", "1", "1.0"], "c": ["101.2", "0.1"]
    }}}))
    .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_builds_a_failover_group_and_kraken_answers_while_binance_is_down() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let binance = serve(axum::Router::new().fallback(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") })).await;
    let wrong_symbol = Arc::new(AtomicUsize::new(0));
    let kraken = serve(
        axum::Router::new()
            .route(
                "/0/public/AssetPairs",
                get(|| async {
                    axum::Json(serde_json::json!({"error": [], "result": {
                        "XBTUSDT": {"altname": "XBTUSDT", "wsname": "XBT/USDT"}
                    }}))
                }),
            )
            .route("/0/public/Ticker", get(kraken_ticker))
            .with_state(wrong_symbol.clone()),
    )
    .await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        for (id, url) in [("binance", &binance), ("kraken", &kraken)] {
            kw.providers().set(id, &[("environments.production.base_url", url.as_str())]).expect("base URL");
            kw.providers().set(id, &[("retry.max_attempts", "1")]).expect("one attempt");
            kw.providers().set_enabled(id, true).expect("enabled");
        }
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-failover]").await;
    wait_for_text(&client, "[data-testid=groups-empty]", "New group").await;
    screenshot(&client, "failover-empty").await;

    click(&client, "[data-testid=group-new]").await;
    type_into(&client, "[data-testid=group-name]", "BTC price").await;
    let add = client.find(Locator::Css("[data-testid=group-add-member]")).await.expect("member select");
    add.clone().select_by_value("binance").await.expect("add binance");
    let add = client.find(Locator::Css("[data-testid=group-add-member]")).await.expect("member select");
    add.select_by_value("kraken").await.expect("add kraken");
    wait_for_text(&client, "[data-testid=group-members]", "Kraken").await;
    screenshot(&client, "failover-form").await;
    click(&client, "[data-testid=group-save]").await;
    wait_for_text(&client, "[data-testid=group-order-btc-price]", "Binance → Kraken").await;

    click(&client, "[data-testid=group-try-btc-price]").await;
    wait_for_text(&client, "[data-testid=group-answered-btc-price]", "kraken").await;
    let route = wait_for_text(&client, "[data-testid=group-route-btc-price]", "pair=XBTUSDT").await;
    assert!(
        route.contains("binance") && route.contains("HTTP 503"),
        "the route says why binance did not answer: {route}"
    );
    assert_eq!(wrong_symbol.load(Ordering::SeqCst), 0, "kraken was only ever asked for its own pair name");
    screenshot(&client, "failover-tried").await;

    // An order through the group is refused where it was tried, and sent nowhere.
    type_into(&client, "[data-testid=group-op-btc-price]", "place_order").await;
    click(&client, "[data-testid=group-try-btc-price]").await;
    wait_for_text(&client, "[data-testid=group-try-error-btc-price]", "never fails over").await;
    screenshot(&client, "failover-order-refused").await;

    client.close().await.expect("session closes");
    let kw = keyward::Keyward::open(data_dir.path()).expect("core");
    let groups = kw.failover_groups().expect("groups");
    assert_eq!(groups[0].members, vec!["binance".to_string(), "kraken".to_string()], "saved in the order chosen");
}
