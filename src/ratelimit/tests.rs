//! Behaviour of the [`Limiter`]: a fake clock and a manual timer move time; no test sleeps.

use crate::caller::Caller;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{broadcast, mpsc};

use super::*;
use crate::clock::FakeClock;
use crate::pipeline::limit::{Acquire, Answered, LimitError, Priority, RateLimiter};
use crate::provider::{RateLimitCounts, RateLimitKind, RateLimitRule, RateLimitScope, Registry};
use crate::store::Store;

const P: &str = "binance";

/// The response to a call of `operation` on `provider` without a key.
fn answer_to(provider: &'static str, operation: &'static str) -> Answered<'static> {
    Answered { provider, operation, key_label: None }
}

struct Harness {
    limiter: Limiter,
    timer: ManualTimer,
    registry: Registry,
    _dir: tempfile::TempDir,
}

fn rule(id: &str, kind: RateLimitKind, scope: RateLimitScope, limit: f64, interval_ms: Option<u64>) -> RateLimitRule {
    RateLimitRule {
        id: id.into(),
        published: None,
        kind,
        scope,
        limit,
        interval_ms,
        decay_per_sec: None,
        counts: RateLimitCounts::Weight,
        applies_to: vec![],
        weight_header: None,
        remaining_header: None,
    }
}

fn fixed(id: &str, limit: f64, interval_ms: u64) -> RateLimitRule {
    rule(id, RateLimitKind::FixedWindow, RateLimitScope::Ip, limit, Some(interval_ms))
}

fn no_margin() -> LimiterConfig {
    LimiterConfig { margin_fraction: 0.0, margin_min: 0.0, ..LimiterConfig::default() }
}

/// A limiter on a fake clock at 2026-03-02T00:00:00Z (aligned to every window length used
/// here), with the binance preset's rules replaced by `rules` (none: the preset's own).
fn harness_for(provider: &str, rules: Option<Vec<RateLimitRule>>, config: LimiterConfig) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("store");
    let registry = Registry::new(store).expect("registry");
    let clock = FakeClock::at(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("date"));
    let timer = ManualTimer::new(clock.clone());
    let limiter = Limiter::with_parts(registry.clone(), Arc::new(clock), Arc::new(timer.clone()), config);
    if let Some(rules) = rules {
        let mut spec = registry.preset(provider).expect("preset").clone();
        spec.rate_limits = rules;
        limiter.apply_spec(&spec);
    }
    Harness { limiter, timer, registry, _dir: dir }
}

fn harness(rules: Vec<RateLimitRule>, config: LimiterConfig) -> Harness {
    harness_for(P, Some(rules), config)
}

static UI: Caller = Caller::UI;

fn req(operation: &'static str, weight: u32, priority: Priority) -> Acquire<'static> {
    Acquire { provider: P, operation, key_label: None, caller: &UI, weight, priority, deadline: None }
}

/// Lets every task that can run, run (a current-thread runtime, so this is deterministic).
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

fn status(h: &Harness, limit_id: &str, scope_key: &str) -> LimitStatus {
    h.limiter
        .snapshot()
        .into_iter()
        .find(|s| s.limit_id == limit_id && s.scope_key == scope_key)
        .unwrap_or_else(|| panic!("no status for {limit_id}/{scope_key}"))
}

fn drain(rx: &mut broadcast::Receiver<LimitEvent>) -> Vec<LimitEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
    }
    map
}

/// Starts an acquire on its own task; the handle's result is the acquire's.
fn spawn_acquire(h: &Harness, acquire: Acquire<'static>) -> tokio::task::JoinHandle<Result<(), LimitError>> {
    let limiter = h.limiter.clone();
    tokio::spawn(async move { limiter.acquire(acquire).await })
}

async fn finish(handle: tokio::task::JoinHandle<Result<(), LimitError>>) -> Result<(), LimitError> {
    // A safety net only: every handle awaited here is already finished or about to be.
    tokio::time::timeout(Duration::from_secs(5), handle).await.expect("acquire finished").expect("task")
}

#[tokio::test]
async fn throttles_before_the_exchange_would_return_429() {
    // 120 per 5 s with the default 2 % margin: 117 pass, the 118th waits for the next window.
    let h = harness(vec![fixed("request_weight", 120.0, 5000)], LimiterConfig::default());
    h.timer.advance(Duration::from_millis(1200));
    for _ in 0..117 {
        h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    }
    let waiting = spawn_acquire(&h, req("ticker", 1, Priority::MarketData));
    settle().await;
    assert!(!waiting.is_finished());
    let s = status(&h, "request_weight", "ip");
    assert_eq!((s.used, s.limit, s.queue_len), (117.0, 120.0, 1));
    assert_eq!(s.resets_in, Some(Duration::from_millis(3800)));
    h.timer.advance(Duration::from_millis(3799));
    settle().await;
    assert!(!waiting.is_finished(), "granted before the window boundary");
    h.timer.advance(Duration::from_millis(1));
    finish(waiting).await.expect("granted at the boundary");
    assert_eq!(status(&h, "request_weight", "ip").used, 1.0);
}

#[tokio::test]
async fn loads_the_rules_of_a_preset_from_the_registry_on_first_use() {
    let h = harness_for(P, None, LimiterConfig::default());
    h.limiter.acquire(req("ticker", 2, Priority::MarketData)).await.expect("fits");
    assert_eq!(status(&h, "request_weight", "ip").used, 2.0);
    // RAW_REQUESTS counts requests, whatever their weight.
    assert_eq!(status(&h, "raw_requests", "ip").used, 1.0);
    // Rules that do not apply are listed, unused.
    assert_eq!(status(&h, "orders_1s", "default").used, 0.0);
}

#[tokio::test]
async fn charges_every_applicable_limit_or_none_of_them() {
    let mut requests = fixed("raw_requests", 100.0, 60_000);
    requests.counts = RateLimitCounts::Requests;
    let mut orders = rule("orders", RateLimitKind::FixedWindow, RateLimitScope::Account, 100.0, Some(1000));
    orders.applies_to = vec!["place_order".into()];
    orders.counts = RateLimitCounts::Requests;
    let h = harness(vec![fixed("request_weight", 10.0, 60_000), requests, orders], no_margin());

    h.limiter.acquire(req("place_order", 4, Priority::Order)).await.expect("fits");
    assert_eq!(status(&h, "request_weight", "ip").used, 4.0);
    assert_eq!(status(&h, "raw_requests", "ip").used, 1.0);
    assert_eq!(status(&h, "orders", "default").used, 1.0);

    h.limiter.acquire(req("balances", 5, Priority::Account)).await.expect("fits");
    // Weight 4 no longer fits request_weight (9 + 4 > 10): nothing is charged anywhere.
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let err = h.limiter.acquire(Acquire { deadline, ..req("place_order", 4, Priority::Order) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { .. })), "{err:?}");
    assert_eq!(status(&h, "request_weight", "ip").used, 9.0);
    assert_eq!(status(&h, "raw_requests", "ip").used, 2.0);
    assert_eq!(status(&h, "orders", "default").used, 1.0);
}

#[tokio::test]
async fn a_deadline_that_cannot_be_met_fails_at_once_naming_the_limit_and_the_wait() {
    let h = harness(vec![fixed("request_weight", 10.0, 10_000)], no_margin());
    h.timer.advance(Duration::from_millis(5800));
    h.limiter.acquire(req("balances", 10, Priority::Account)).await.expect("fits");
    let deadline = Some(Instant::now() + Duration::from_secs(3));
    let err = h.limiter.acquire(Acquire { deadline, ..req("ticker", 2, Priority::MarketData) }).await;
    match err {
        Err(e @ LimitError::WouldExceedDeadline { .. }) => {
            let LimitError::WouldExceedDeadline { limit, wait, .. } = &e else { unreachable!() };
            assert_eq!((limit.as_str(), *wait), ("request_weight", Duration::from_millis(4200)));
            let message = e.to_string();
            assert!(message.contains("\"request_weight\"") && message.contains("4.2s"), "{message}");
        }
        other => panic!("expected WouldExceedDeadline, got {other:?}"),
    }
    // Nothing was queued.
    assert_eq!(status(&h, "request_weight", "ip").queue_len, 0);
    // A deadline the wait fits in queues instead.
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let ok = spawn_acquire(&h, Acquire { deadline, ..req("ticker", 2, Priority::MarketData) });
    settle().await;
    h.timer.advance(Duration::from_millis(4200));
    finish(ok).await.expect("granted within its deadline");
}

#[tokio::test]
async fn a_waiting_caller_fails_as_soon_as_higher_priority_calls_push_it_past_its_deadline() {
    let h = harness(vec![fixed("request_weight", 1.0, 5000)], no_margin());
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let deadline = Some(Instant::now() + Duration::from_secs(6));
    let market = spawn_acquire(&h, Acquire { deadline, ..req("ticker", 1, Priority::MarketData) });
    settle().await;
    let cancel = spawn_acquire(&h, req("cancel_order", 1, Priority::CancelOrder));
    settle().await;
    assert!(!market.is_finished());
    h.timer.advance(Duration::from_secs(5));
    finish(cancel).await.expect("the cancel takes the next window");
    // The window after that starts at 10 s, past the 6 s deadline: no point waiting for it.
    match finish(market).await {
        Err(LimitError::WouldExceedDeadline { limit, wait, .. }) => {
            assert_eq!((limit.as_str(), wait), ("request_weight", Duration::from_secs(5)));
        }
        other => panic!("expected WouldExceedDeadline, got {other:?}"),
    }
}

#[tokio::test]
async fn a_queued_caller_fails_at_its_deadline_naming_the_limit_that_holds_the_queue() {
    let mut orders = rule("orders", RateLimitKind::FixedWindow, RateLimitScope::Account, 1.0, Some(60_000));
    orders.applies_to = vec!["place_order".into()];
    let h = harness(vec![fixed("request_weight", 10.0, 5000), orders], no_margin());
    h.limiter.acquire(req("place_order", 1, Priority::Order)).await.expect("fits");
    h.limiter.acquire(req("ticker", 9, Priority::MarketData)).await.expect("fits");
    let deadline = Some(Instant::now() + Duration::from_secs(6));
    let market = spawn_acquire(&h, Acquire { deadline, ..req("ticker", 1, Priority::MarketData) });
    settle().await;
    // An order arrives and goes ahead; it waits for the orders limit (a minute), and holds
    // request_weight's queue meanwhile.
    h.timer.advance(Duration::from_secs(1));
    let order = spawn_acquire(&h, req("place_order", 1, Priority::Order));
    settle().await;
    h.timer.advance(Duration::from_secs(4));
    settle().await;
    assert!(!market.is_finished());
    h.timer.advance(Duration::from_secs(1));
    match finish(market).await {
        Err(LimitError::WouldExceedDeadline { limit, wait, .. }) => {
            assert_eq!((limit.as_str(), wait), ("orders", Duration::from_secs(54)));
        }
        other => panic!("expected WouldExceedDeadline, got {other:?}"),
    }
    h.timer.advance(Duration::from_secs(54));
    finish(order).await.expect("the order goes when its limit resets");
}

#[tokio::test]
async fn serves_cancels_then_orders_then_account_then_market_data_and_fifo_within_each() {
    // One call per second.
    let h = harness(vec![fixed("request_weight", 1.0, 1000)], no_margin());
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let arrivals = [
        ("market-1", "ticker", Priority::MarketData),
        ("account-1", "balances", Priority::Account),
        ("order-1", "place_order", Priority::Order),
        ("market-2", "order_book", Priority::MarketData),
        ("cancel-1", "cancel_order", Priority::CancelOrder),
        ("order-2", "place_order", Priority::Order),
        ("account-2", "open_orders", Priority::Account),
        ("cancel-2", "cancel_order", Priority::CancelOrder),
    ];
    for (name, op, priority) in arrivals {
        let limiter = h.limiter.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            limiter.acquire(req(op, 1, priority)).await.expect("granted");
            let _ = tx.send(name);
        });
        settle().await;
    }
    assert_eq!(status(&h, "request_weight", "ip").queue_len, arrivals.len());
    let mut order = Vec::new();
    for _ in 0..arrivals.len() {
        h.timer.advance(Duration::from_secs(1));
        settle().await;
        while let Ok(name) = rx.try_recv() {
            order.push(name);
        }
    }
    assert_eq!(order, ["cancel-1", "cancel-2", "order-1", "order-2", "account-1", "account-2", "market-1", "market-2"]);
}

#[tokio::test]
async fn a_light_call_does_not_overtake_a_heavier_one_queued_before_it() {
    let h = harness(vec![fixed("request_weight", 10.0, 1000)], no_margin());
    h.limiter.acquire(req("ticker", 8, Priority::MarketData)).await.expect("fits");
    let heavy = spawn_acquire(&h, req("order_book", 5, Priority::MarketData));
    settle().await;
    // 8 + 1 would fit, but the heavy call was first.
    let light = spawn_acquire(&h, req("ticker", 1, Priority::MarketData));
    settle().await;
    assert!(!light.is_finished());
    h.timer.advance(Duration::from_secs(1));
    finish(heavy).await.expect("heavy first");
    finish(light).await.expect("then light");
    assert_eq!(status(&h, "request_weight", "ip").used, 6.0);
}

#[tokio::test]
async fn limits_of_other_keys_do_not_hold_up_a_caller() {
    let key_rule = rule("per_key", RateLimitKind::FixedWindow, RateLimitScope::Key, 1.0, Some(1000));
    let h = harness(vec![key_rule], no_margin());
    let with_key = |label: &'static str| Acquire { key_label: Some(label), ..req("balances", 1, Priority::Account) };
    h.limiter.acquire(with_key("alice")).await.expect("fits");
    let alice = spawn_acquire(&h, with_key("alice"));
    settle().await;
    assert!(!alice.is_finished());
    // Bob's budget is his own, even with Alice queued.
    h.limiter.acquire(with_key("bob")).await.expect("bob fits");
    assert_eq!(status(&h, "per_key", "alice").queue_len, 1);
    assert_eq!(status(&h, "per_key", "bob").used, 1.0);
    h.timer.advance(Duration::from_secs(1));
    finish(alice).await.expect("alice next window");
}

#[tokio::test]
async fn a_cancelled_waiter_leaves_the_queue() {
    let h = harness(vec![fixed("request_weight", 1.0, 1000)], no_margin());
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let first = spawn_acquire(&h, req("ticker", 1, Priority::MarketData));
    settle().await;
    let second = spawn_acquire(&h, req("ticker", 1, Priority::MarketData));
    settle().await;
    first.abort();
    settle().await;
    assert_eq!(status(&h, "request_weight", "ip").queue_len, 1);
    h.timer.advance(Duration::from_secs(1));
    finish(second).await.expect("the second waiter gets the slot");
}

#[tokio::test]
async fn usage_headers_raise_the_local_count_and_never_lower_it() {
    let mut weight = fixed("request_weight", 6000.0, 60_000);
    // Header names are matched case-insensitively.
    weight.weight_header = Some("X-MBX-USED-WEIGHT-1M".into());
    let h = harness(vec![weight], LimiterConfig::default());
    h.timer.advance(Duration::from_secs(10));
    h.limiter.acquire(req("ticker", 2, Priority::MarketData)).await.expect("fits");
    h.limiter.observe(answer_to(P, "ticker"), 200, &headers(&[("x-mbx-used-weight-1m", "5870")]));
    assert_eq!(status(&h, "request_weight", "ip").used, 5870.0);
    h.limiter.observe(answer_to(P, "ticker"), 200, &headers(&[("x-mbx-used-weight-1m", "12")]));
    assert_eq!(status(&h, "request_weight", "ip").used, 5870.0);
    // 5870 + 20 > 6000 - 120: the next heavy call waits for the next minute.
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let err = h.limiter.acquire(Acquire { deadline, ..req("balances", 20, Priority::Account) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { wait, .. }) if wait == Duration::from_secs(50)));
}

#[tokio::test]
async fn remaining_headers_shared_by_pools_go_to_the_pool_of_the_call_they_answer() {
    let h = harness_for("kucoin", None, LimiterConfig::default());
    let kucoin = |op: &'static str| Acquire { provider: "kucoin", ..req(op, 1, Priority::MarketData) };
    // Two calls in flight: a ticker (public pool), then an open-orders read (spot pool).
    h.limiter.acquire(kucoin("ticker")).await.expect("fits");
    h.limiter.acquire(kucoin("open_orders")).await.expect("fits");
    // The ticker's answer arrives last-granted-second: it still lands on the public pool.
    let answer = headers(&[("gw-ratelimit-remaining", "1500"), ("gw-ratelimit-reset", "12000")]);
    h.limiter.observe(answer_to("kucoin", "ticker"), 200, &answer);
    let public = status(&h, "public", "ip");
    assert_eq!((public.used, public.resets_in), (500.0, Some(Duration::from_secs(12))));
    // The spot pool holds only its own call's charge.
    assert_eq!(status(&h, "spot", "default").used, 1.0);
}

#[tokio::test]
async fn bybit_limit_status_and_reset_timestamp_sync_the_per_uid_window() {
    let h = harness_for("bybit", None, LimiterConfig::default());
    let bybit = Acquire { provider: "bybit", key_label: Some("main"), ..req("place_order", 1, Priority::Order) };
    h.limiter.acquire(bybit.clone()).await.expect("fits");
    let now_ms = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("date").timestamp_millis();
    let reset = (now_ms + 400).to_string();
    h.limiter.observe(
        Answered { provider: "bybit", operation: "place_order", key_label: Some("main") },
        200,
        &headers(&[("X-Bapi-Limit-Status", "4"), ("X-Bapi-Limit-Reset-Timestamp", &reset)]),
    );
    let s = status(&h, "spot_orders", "main");
    assert_eq!((s.used, s.resets_in), (16.0, Some(Duration::from_millis(400))));
}

#[tokio::test]
async fn a_429_pauses_the_provider_until_retry_after() {
    let h = harness(vec![fixed("request_weight", 6000.0, 60_000)], LimiterConfig::default());
    let mut events = h.limiter.subscribe();
    h.limiter.observe(answer_to(P, "ticker"), 429, &headers(&[("retry-after", "3")]));
    assert_eq!(
        drain(&mut events),
        [LimitEvent::Paused { provider: P.into(), status: 429, retry_after: Duration::from_secs(3) }]
    );
    assert_eq!(status(&h, "request_weight", "ip").paused_for, Some(Duration::from_secs(3)));
    let waiting = spawn_acquire(&h, req("ticker", 2, Priority::MarketData));
    settle().await;
    h.timer.advance(Duration::from_millis(2999));
    settle().await;
    assert!(!waiting.is_finished(), "sent during the pause");
    h.timer.advance(Duration::from_millis(1));
    finish(waiting).await.expect("granted when the pause ends");
    assert!(drain(&mut events)
        .iter()
        .any(|e| matches!(e, LimitEvent::Cleared { reason: ClearReason::PauseEnded, .. })));

    // Without Retry-After the pause is one second.
    h.limiter.observe(answer_to(P, "ticker"), 429, &HeaderMap::new());
    assert_eq!(status(&h, "request_weight", "ip").paused_for, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn a_418_blocks_every_call_until_the_ban_ends_and_raises_a_critical_event() {
    let h = harness(vec![fixed("request_weight", 1.0, 1000)], no_margin());
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let mut events = h.limiter.subscribe();
    let queued = spawn_acquire(&h, req("ticker", 1, Priority::MarketData));
    settle().await;
    h.limiter.observe(answer_to(P, "ticker"), 418, &headers(&[("Retry-After", "120")]));
    match finish(queued).await {
        Err(LimitError::Blocked { limit, remaining, .. }) => {
            assert_eq!((limit.as_str(), remaining), ("ip", Duration::from_secs(120)))
        }
        other => panic!("a queued caller must fail with Blocked, got {other:?}"),
    }
    let banned = drain(&mut events);
    assert_eq!(
        banned,
        [LimitEvent::Banned { provider: P.into(), scope: "ip".into(), retry_after: Duration::from_secs(120) }]
    );
    assert_eq!(banned[0].severity(), UsageLevel::Critical);

    h.timer.advance(Duration::from_secs(30));
    let err = h.limiter.acquire(req("cancel_order", 1, Priority::CancelOrder)).await;
    match err {
        Err(e @ LimitError::Blocked { .. }) => {
            assert!(e.to_string().contains("90s"), "{e}");
        }
        other => panic!("expected Blocked at once, got {other:?}"),
    }
    let s = status(&h, "request_weight", "ip");
    assert!(s.banned);
    assert_eq!(s.paused_for, Some(Duration::from_secs(90)));
    h.timer.advance(Duration::from_secs(90));
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("the ban is over");
    assert!(drain(&mut events).iter().any(|e| matches!(e, LimitEvent::Cleared { reason: ClearReason::BanEnded, .. })));
}

#[tokio::test]
async fn threshold_events_fire_once_per_level_change() {
    let h = harness(vec![fixed("request_weight", 100.0, 10_000)], no_margin());
    let mut events = h.limiter.subscribe();
    for _ in 0..79 {
        h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    }
    assert!(drain(&mut events).is_empty());
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    for _ in 0..14 {
        h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    }
    let warn = drain(&mut events);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(matches!(&warn[0], LimitEvent::Threshold { level: UsageLevel::Warn, used_pct, .. } if *used_pct == 80.0));
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let critical = drain(&mut events);
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert!(
        matches!(&critical[0], LimitEvent::Threshold { level: UsageLevel::Critical, used_pct, .. } if *used_pct == 95.0)
    );
    assert_eq!(status(&h, "request_weight", "ip").level, UsageLevel::Critical);
    assert!(drain(&mut events).is_empty(), "a snapshot at the same level is silent");
    // The window resets: one Cleared, noticed by the next charge.
    h.timer.advance(Duration::from_secs(10));
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    let cleared = drain(&mut events);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(
        matches!(&cleared[0], LimitEvent::Cleared { reason: ClearReason::BelowThresholds, limit: Some(l), .. } if l == "request_weight")
    );
}

#[tokio::test]
async fn per_limit_thresholds_override_the_defaults() {
    let h = harness(vec![fixed("request_weight", 100.0, 10_000)], no_margin());
    h.limiter.set_thresholds(P, "request_weight", 10.0, 20.0);
    let mut events = h.limiter.subscribe();
    h.limiter.acquire(req("ticker", 20, Priority::MarketData)).await.expect("fits");
    assert!(matches!(drain(&mut events).as_slice(), [LimitEvent::Threshold { level: UsageLevel::Critical, .. }]));
}

#[tokio::test]
async fn health_checks_may_use_only_their_share_of_each_limit() {
    // server_time is the binance preset's health_check.
    let h = harness(vec![fixed("request_weight", 100.0, 60_000)], no_margin());
    for _ in 0..10 {
        h.limiter.acquire(req("server_time", 1, Priority::MarketData)).await.expect("within the 10 % share");
    }
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let err = h.limiter.acquire(Acquire { deadline, ..req("server_time", 1, Priority::MarketData) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { .. })), "{err:?}");
    // Trading still has the rest.
    h.limiter.acquire(req("ticker", 80, Priority::MarketData)).await.expect("trading is not starved");
    h.limiter.set_monitor_share(0.5);
    h.limiter.acquire(req("server_time", 1, Priority::MarketData)).await.expect("a larger share");
    h.limiter.set_monitor_share(1.0);
    for _ in 0..9 {
        h.limiter.acquire(req("server_time", 1, Priority::MarketData)).await.expect("no cap");
    }
    assert_eq!(status(&h, "request_weight", "ip").used, 100.0);
}

#[tokio::test]
async fn a_bot_held_to_a_share_gets_only_that_part_of_each_limit_and_others_keep_the_rest() {
    let h = harness(vec![fixed("request_weight", 100.0, 60_000)], no_margin());
    h.limiter.set_caller_share(P, "bot:grid", Some(0.4));
    let grid = Caller::bot("grid");
    let bot = |weight| Acquire { caller: &grid, ..req("ticker", weight, Priority::MarketData) };
    for _ in 0..20 {
        h.limiter.acquire(bot(2)).await.expect("within the bot's 40 %");
    }
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let err = h.limiter.acquire(Acquire { deadline, ..bot(2) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { .. })), "past its share the bot waits: {err:?}");
    // Another caller has the other 60 %, and the bot does not hold it up.
    h.limiter.acquire(req("ticker", 60, Priority::MarketData)).await.expect("the rest is there for the others");
    assert_eq!(status(&h, "request_weight", "ip").used, 100.0);
    // Lifting the cap lets the bot use whatever the limit has left (nothing, this window).
    h.limiter.set_caller_share(P, "bot:grid", None);
    let err = h.limiter.acquire(Acquire { deadline, ..bot(1) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { .. })), "{err:?}");
}

#[tokio::test]
async fn kraken_counter_admits_fourteen_calls_then_one_per_drained_unit() {
    let h = harness_for("kraken", None, LimiterConfig::default());
    let kraken = Acquire { provider: "kraken", key_label: Some("k"), ..req("balances", 1, Priority::Account) };
    for _ in 0..14 {
        h.limiter.acquire(kraken.clone()).await.expect("fits");
    }
    let next = spawn_acquire(&h, kraken.clone());
    settle().await;
    h.timer.advance(Duration::from_millis(3030));
    settle().await;
    assert!(!next.is_finished());
    h.timer.advance(Duration::from_millis(1));
    finish(next).await.expect("one unit drained after 1/0.33 s");
}

#[tokio::test]
async fn reloading_a_spec_keeps_the_usage_of_unchanged_rules() {
    let h = harness(vec![fixed("request_weight", 100.0, 60_000)], no_margin());
    h.limiter.acquire(req("ticker", 40, Priority::MarketData)).await.expect("fits");
    let mut spec = h.registry.preset(P).expect("preset").clone();
    spec.rate_limits = vec![fixed("request_weight", 50.0, 60_000)];
    h.limiter.apply_spec(&spec);
    let s = status(&h, "request_weight", "ip");
    assert_eq!((s.used, s.limit), (40.0, 50.0));
    // Back to the registry's preset: its own request_weight has the same timing (60 s).
    h.limiter.reload(P).await.expect("reload");
    let s = status(&h, "request_weight", "ip");
    assert_eq!((s.used, s.limit), (40.0, 6000.0));
}

#[tokio::test]
async fn breakdown_shows_which_operations_keys_and_callers_spent_a_limit() {
    let h = harness(vec![fixed("request_weight", 6000.0, 60_000)], LimiterConfig::default());
    let with_key = |op, w, key| Acquire { key_label: key, ..req(op, w, Priority::Account) };
    h.limiter
        .acquire(Acquire { caller: &Caller::parse("grid-bot"), ..with_key("balances", 20, Some("main")) })
        .await
        .expect("fits");
    h.limiter.acquire(with_key("order_book", 5, None)).await.expect("fits");
    h.limiter.acquire(Acquire { caller: &Caller::CLI, ..with_key("order_book", 5, None) }).await.expect("fits");
    h.limiter.acquire(with_key("ticker", 2, None)).await.expect("fits");
    let b = h.limiter.breakdown(P, "request_weight", 2);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].by_operation, [("balances".to_string(), 20.0), ("order_book".to_string(), 10.0)]);
    assert_eq!(
        b[0].by_key,
        [("(no key)".to_string(), 12.0), ("main".to_string(), 20.0)].iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(b[0].by_caller, [("grid-bot".to_string(), 20.0), ("ui".to_string(), 7.0)]);
}

#[tokio::test]
async fn providers_without_rules_are_not_throttled() {
    let h = harness(vec![], LimiterConfig::default());
    for _ in 0..1000 {
        h.limiter.acquire(req("ticker", 1000, Priority::MarketData)).await.expect("no limits");
    }
    assert!(h.limiter.snapshot().is_empty());
}

/// A clock that reads tokio's (pausable) time, so the production [`TokioTimer`] path runs
/// under `start_paused`.
struct TokioClock {
    base: chrono::DateTime<Utc>,
    start: tokio::time::Instant,
}

impl crate::clock::Clock for TokioClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        self.base + chrono::TimeDelta::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_tokio_timer_wakes_a_waiter_exactly_at_the_window_boundary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::new(Store::open(&dir.path().join("keyward.db")).expect("store")).expect("registry");
    let base = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("date");
    let limiter = Limiter::with_config(
        registry.clone(),
        Arc::new(TokioClock { base, start: tokio::time::Instant::now() }),
        no_margin(),
    );
    let mut spec = registry.preset(P).expect("preset").clone();
    spec.rate_limits = vec![fixed("request_weight", 2.0, 1000)];
    limiter.apply_spec(&spec);

    tokio::time::advance(Duration::from_millis(250)).await;
    limiter.acquire(req("ticker", 2, Priority::MarketData)).await.expect("fits");
    let waiting = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.acquire(req("ticker", 1, Priority::MarketData)).await })
    };
    settle().await;
    tokio::time::advance(Duration::from_millis(749)).await;
    settle().await;
    assert!(!waiting.is_finished(), "woke before the boundary");
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert!(waiting.is_finished(), "not woken at the boundary");
    waiting.await.expect("task").expect("granted");
}

#[tokio::test]
async fn the_users_margin_and_levels_apply_to_limits_already_in_use() {
    // 100 per 10 s: the default 2 % margin lets 98 through; a 10 % margin only 90, at once.
    let h = harness(vec![fixed("request_weight", 100.0, 10_000)], LimiterConfig::default());
    h.limiter.acquire(req("ticker", 50, Priority::MarketData)).await.expect("fits");
    assert_eq!(status(&h, "request_weight", "ip").level, UsageLevel::Normal, "50 % is under the default 80 %");
    let mut events = h.limiter.subscribe();
    h.limiter.apply_settings(&crate::ratelimit::LimitSettings { margin_pct: 10.0, warn_pct: 40.0, critical_pct: 85.0 });
    h.limiter.acquire(req("ticker", 1, Priority::MarketData)).await.expect("fits");
    assert!(
        matches!(drain(&mut events).as_slice(), [LimitEvent::Threshold { level: UsageLevel::Warn, .. }]),
        "51 % warns at the user's 40 %"
    );
    h.limiter.acquire(req("ticker", 39, Priority::MarketData)).await.expect("90 fits under a 10 % margin");
    let deadline = Some(Instant::now() + Duration::from_millis(100));
    let err = h.limiter.acquire(Acquire { deadline, ..req("ticker", 1, Priority::MarketData) }).await;
    assert!(matches!(err, Err(LimitError::WouldExceedDeadline { .. })), "the 91st unit is in the margin: {err:?}");
    // A limit with its own levels keeps them.
    h.limiter.set_thresholds(P, "request_weight", 85.0, 99.0);
    h.limiter.apply_settings(&crate::ratelimit::LimitSettings { margin_pct: 10.0, warn_pct: 20.0, critical_pct: 30.0 });
    assert_eq!(status(&h, "request_weight", "ip").level, UsageLevel::Warn, "90 % against its own 85/99, not 20/30");
}
