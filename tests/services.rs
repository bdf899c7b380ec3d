//! The long-running services (`keyward::service`, what the desktop app and `keyward serve`
//! run): health checks follow configuration changes without a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keyward::monitor::{MonitorEvent, NewCheck};
use keyward::ratelimit::LimitEvent;
use keyward::vault::MemoryStore;
use keyward::Keyward;
use serde_json::json;
use tokio::sync::broadcast;

use crate::support::mock_exchange::{Auth, MockExchange};

/// Long enough for a check on a loaded CI machine; the wait ends at the event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

fn open(dir: &tempfile::TempDir) -> Keyward {
    Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens")
}

async fn mock_binance(kw: &Keyward) -> MockExchange {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/time", json!({"serverTime": 1_700_000_000_000_u64}));
    mock.route("GET /sapi/v1/system/status", json!({"status": 0, "msg": "normal"}));
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "1"}));
    kw.providers()
        .set("binance", &[("environments.production.base_url".to_string(), mock.base_url.clone())])
        .expect("base URL accepted");
    mock
}

/// Waits for a completed check matching `want`, failing after [`EVENT_TIMEOUT`].
async fn completed(events: &mut broadcast::Receiver<MonitorEvent>, want: impl Fn(&str, i64) -> bool) -> (String, i64) {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(MonitorEvent::CheckCompleted { provider, check_id, .. }) if want(&provider, check_id) => {
                    return (provider, check_id)
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("monitor events ended: {e}"),
            }
        }
    })
    .await
    .expect("the check ran before the timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_enabled_while_running_is_monitored_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let mock = mock_binance(&kw).await;
    let services = keyward::service::start(&kw).await.expect("services start");
    assert!(kw.monitor().checks(Some("binance")).expect("checks").is_empty(), "a disabled provider has no checks");

    let mut events = kw.monitor().subscribe();
    kw.providers().set_enabled("binance", true).expect("enabled");
    completed(&mut events, |p, _| p == "binance").await;

    let checks = kw.monitor().checks(Some("binance")).expect("checks");
    assert!(checks.iter().any(|c| c.operation == "server_time"), "the default health check was created: {checks:?}");
    assert!(mock.hits() >= 1, "the check reached the mock exchange");
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_added_while_running_is_scheduled_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let _mock = mock_binance(&kw).await;
    kw.providers().set_enabled("binance", true).expect("enabled");
    let services = keyward::service::start(&kw).await.expect("services start");

    let mut events = kw.monitor().subscribe();
    let mut new = NewCheck::operation("binance", "ticker");
    new.params = BTreeMap::from([("symbol".to_string(), "BTCUSDT".to_string())]);
    let added = kw.monitor().add_check(new).expect("check added");
    let (_, id) = completed(&mut events, |_, id| id == added.id).await;
    assert_eq!(id, added.id);
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_binance_publishes_replace_the_preset_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    let mock = mock_binance(&kw).await;
    mock.route(
        "GET /api/v3/exchangeInfo",
        json!({"timezone": "UTC", "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 6100}
        ], "symbols": []}),
    );
    kw.providers().set_enabled("binance", true).expect("enabled");
    let mut events = kw.limiter().subscribe();
    let services = keyward::service::start(&kw).await.expect("services start");
    let updates = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(LimitEvent::Published { provider, updates }) if provider == "binance" => return updates,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("limit events ended: {e}"),
            }
        }
    })
    .await
    .expect("the published limits were read");
    let changed: Vec<&str> = updates.iter().map(|u| u.rule.as_str()).collect();
    assert_eq!(changed, vec!["orders_1s", "raw_requests", "request_weight"]);

    let snap = kw.limiter().snapshot();
    let weight = snap.iter().find(|s| s.provider == "binance" && s.limit_id == "request_weight").expect("weight");
    assert_eq!(weight.limit, 1200.0);
    assert!(weight.from_exchange);
    let sapi = snap.iter().find(|s| s.provider == "binance" && s.limit_id == "sapi_ip_weight").expect("sapi");
    assert!(!sapi.from_exchange, "a budget exchangeInfo does not list keeps the preset's numbers");
    let asked = mock.info_queries();
    assert!(!asked.is_empty(), "exchangeInfo was called");
    assert!(asked.iter().all(|q| q == "symbol=BTCUSDT"), "one symbol keeps the answer small: {asked:?}");
    services.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_service_raises_an_alert_for_an_unusual_hour_once_it_has_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open(&dir);
    // Four weeks of 30 ticker calls an hour, then 600 in the hour that just ended (both
    // candidates, should the minute of grace the scan waits roll over while the test starts).
    let now = chrono::Utc::now().timestamp();
    let ended = [(now - 60).div_euclid(3600) * 3600 - 3600, now.div_euclid(3600) * 3600 - 3600];
    kw.store()
        .with_conn(|c| {
            let mut insert = c.prepare(
                "INSERT INTO calls_hourly (hour, provider, environment, operation, key_label, caller, calls, errors, weight, cost, latency_ms)
                 VALUES (?1, 'binance', 'production', 'ticker', '', 'bot:grid', ?2, 0, ?2, 0.0, 0)",
            )?;
            for h in 2..=28 * 24 {
                insert.execute([ended[1] - h * 3600, 30])?;
            }
            insert.execute([ended[1] - 3600, if ended[0] != ended[1] { 600 } else { 30 }])?;
            insert.execute([ended[1], 600])?;
            Ok(())
        })
        .expect("history");
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    kw.alerts().set_desktop(Arc::new(move |n: keyward::alerts::AlertNotice| {
        let _ = tx.send(n);
    }));

    let services = keyward::service::start(&kw).await.expect("services start");
    let notice = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match notices.recv().await {
                Some(n) if n.alert.rule_kind == "usage_anomaly" => return n,
                Some(_) => {}
                None => panic!("the alert channel closed"),
            }
        }
    })
    .await
    .expect("the scan raised an alert before the timeout");
    services.stop().await;
    assert_eq!(notice.alert.title, "Calls spike: binance ticker");
    assert!(
        notice.alert.body.contains("600 calls") && notice.alert.body.contains("usually about 30"),
        "{}",
        notice.alert.body
    );
    assert!(notice.notify, "a first anomaly notifies");
    let scanned = kw.store().setting(keyward::usage::SCANNED_SETTING).expect("setting");
    assert!(scanned.is_some_and(|h| ended.contains(&h.parse::<i64>().unwrap_or_default())), "the hour is remembered");
}
