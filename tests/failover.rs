//! Failover groups with unified symbols, against mock exchanges that check each exchange's
//! own symbol format.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward::caller::Caller;
use keyward::groups::{FailoverGroup, GroupError};
use keyward::pipeline::Normalized;
use keyward::vault::MemoryStore;
use keyward::Keyward;
use serde_json::json;

use crate::support::mock_exchange::{Auth, MockExchange, Scripted};

struct Exchanges {
    kw: Keyward,
    binance: MockExchange,
    kraken: MockExchange,
    okx: MockExchange,
    _dir: tempfile::TempDir,
}

fn set(kw: &Keyward, provider: &str, field: &str, value: &str) {
    kw.providers().set(provider, &[(field.to_string(), value.to_string())]).expect("setting accepted");
}

async fn exchanges() -> Exchanges {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    let binance = MockExchange::start(Auth::Public, None).await;
    binance.route(
        "GET /api/v3/exchangeInfo",
        json!({"rateLimits": [], "symbols": [{"symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT"}]}),
    );
    binance.route(
        "GET /api/v3/ticker/24hr",
        json!({"symbol": "BTCUSDT", "bidPrice": "100.0", "askPrice": "100.5", "lastPrice": "100.2"}),
    );
    let kraken = MockExchange::start(Auth::Public, None).await;
    kraken.route(
        "GET /0/public/AssetPairs",
        json!({"error": [], "result": {"XBTUSDT": {"altname": "XBTUSDT", "wsname": "XBT/USDT"}}}),
    );
    kraken.route(
        "GET /0/public/Ticker",
        json!({"error": [], "result": {"XBTUSDT": {"a": ["101.5", "1", "1.0"], "b": ["101.0", "1", "1.0"], "c": ["101.2", "0.1"]}}}),
    );
    let okx = MockExchange::start(Auth::Public, None).await;
    okx.route(
        "GET /api/v5/public/instruments",
        json!({"code": "0", "data": [{"instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT"}]}),
    );
    okx.route(
        "GET /api/v5/market/ticker",
        json!({"code": "0", "data": [{"instId": "BTC-USDT", "last": "99.9", "bidPx": "99.8", "askPx": "100.0"}]}),
    );
    for (id, mock) in [("binance", &binance), ("kraken", &kraken), ("okx", &okx)] {
        set(&kw, id, "environments.production.base_url", &mock.base_url);
        set(&kw, id, "retry.max_attempts", "1");
        set(&kw, id, "endpoints.ticker.cache_ttl_ms", "0");
        kw.providers().set_enabled(id, true).expect("enabled");
    }
    kw.save_failover_group(FailoverGroup {
        name: "BTC price".into(),
        members: vec!["binance".into(), "kraken".into(), "okx".into()],
    })
    .expect("group saved");
    Exchanges { kw, binance, kraken, okx, _dir: dir }
}

async fn btc_price(kw: &Keyward) -> Result<keyward::pipeline::CallOutcome, GroupError> {
    let params: BTreeMap<String, String> = [("symbol".to_string(), "BTC/USDT".to_string())].into();
    kw.call_group("btc price", "ticker", params, Caller::UI).await
}

fn ticker_queries(mock: &MockExchange, path: &str) -> Vec<String> {
    mock.seen().into_iter().filter(|s| s.path == path).map(|s| s.query).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_keeps_answering_through_an_outage_in_each_exchanges_own_symbol() {
    let x = exchanges().await;
    set(&x.kw, "binance", "breaker.consecutive_failures", "0");
    set(&x.kw, "binance", "breaker.failure_rate_percent", "0");

    let out = btc_price(&x.kw).await.expect("binance answers");
    assert_eq!(out.provider, "binance");
    assert_eq!(out.route.len(), 1);
    assert_eq!((out.route[0].outcome.as_str(), out.route[0].detail.as_str()), ("answered", "symbol=BTCUSDT"));
    assert_eq!(ticker_queries(&x.binance, "/api/v3/ticker/24hr"), vec!["symbol=BTCUSDT"]);

    // Binance goes down: every read is answered by Kraken, asked for its own pair name.
    x.binance.script((0..10).map(|_| Scripted { status: 503, headers: vec![], body: "{}".into() }));
    for _ in 0..10 {
        let out = btc_price(&x.kw).await.expect("no read fails during the outage");
        assert_eq!(out.provider, "kraken");
        assert!(
            matches!(&out.data, Normalized::Ticker { last, .. } if last.as_deref() == Some("101.2")),
            "{:?}",
            out.data
        );
        assert_eq!(out.route[0].provider, "binance");
        assert_eq!(out.route[0].outcome, "failed");
        assert!(out.route[0].detail.contains("HTTP 503"), "{:?}", out.route);
        assert_eq!((out.route[1].outcome.as_str(), out.route[1].detail.as_str()), ("answered", "pair=XBTUSDT"));
    }
    let kraken_queries = ticker_queries(&x.kraken, "/0/public/Ticker");
    assert_eq!(kraken_queries.len(), 10);
    assert!(kraken_queries.iter().all(|q| q == "pair=XBTUSDT"), "{kraken_queries:?}");
    assert_eq!(x.okx.hits(), 0, "the third member was never needed");

    // An order during the outage is refused for the group, and sent nowhere.
    let before = (x.binance.hits(), x.kraken.hits(), x.okx.hits());
    let order: BTreeMap<String, String> = [("symbol".to_string(), "BTC/USDT".to_string())].into();
    let err = x.kw.call_group("BTC price", "place_order", order, Caller::UI).await.expect_err("never fails over");
    assert_eq!(err.kind(), keyward::ErrorKind::NotAllowed);
    assert!(err.to_string().contains("never fails over to another exchange"), "{err}");
    assert_eq!((x.binance.hits(), x.kraken.hits(), x.okx.hits()), before);

    // Binance is back: the group returns to it.
    let out = btc_price(&x.kw).await.expect("binance again");
    assert_eq!(out.provider, "binance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_skips_its_member_and_the_route_says_why() {
    let x = exchanges().await;
    x.binance.script((0..5).map(|_| Scripted { status: 502, headers: vec![], body: "{}".into() }));
    for _ in 0..5 {
        assert_eq!(btc_price(&x.kw).await.expect("kraken answers").provider, "kraken");
    }
    let binance_hits = x.binance.hits();
    let out = btc_price(&x.kw).await.expect("kraken answers");
    assert_eq!(out.provider, "kraken");
    assert_eq!(out.route[0].provider, "binance");
    assert_eq!(out.route[0].outcome, "skipped");
    assert!(out.route[0].detail.contains("circuit breaker open"), "{:?}", out.route);
    assert_eq!(x.binance.hits(), binance_hits, "a skipped member is not called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_one_member_does_not_list_is_skipped_by_name_and_groups_are_checked() {
    let x = exchanges().await;
    let params: BTreeMap<String, String> = [("symbol".to_string(), "ETH/USDT".to_string())].into();
    let err = x.kw.call_group("BTC price", "ticker", params, Caller::UI).await.expect_err("nobody lists ETH/USDT");
    assert!(err.to_string().contains("has no market ETH/USDT"), "{err}");

    // Saving checks the members and names what is wrong.
    let bad =
        x.kw.save_failover_group(FailoverGroup { name: "x".into(), members: vec!["binance".into(), "nope".into()] });
    let err = bad.expect_err("unknown member");
    assert_eq!(err.kind(), keyward::ErrorKind::Invalid);
    assert!(err.to_string().contains("members \"nope\" is not a known provider"), "{err}");
    let one = x.kw.save_failover_group(FailoverGroup { name: "x".into(), members: vec!["binance".into()] });
    assert!(one.expect_err("one member").to_string().contains("at least two"));
    let groups = x.kw.failover_groups().expect("groups");
    assert_eq!(groups.len(), 1);
    x.kw.remove_failover_group("btc price").expect("removed");
    assert!(x.kw.failover_groups().expect("groups").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_saves_lists_and_calls_a_group_and_prints_the_route() {
    let x = exchanges().await;
    x.binance.script((0..3).map(|_| Scripted { status: 503, headers: vec![], body: "{}".into() }));
    let data = x._dir.path().to_path_buf();
    let (added, listed, called, text) = tokio::task::spawn_blocking(move || {
        let k = |args: &[&str]| crate::support::keyward(&data, args);
        let added = k(&["--json", "groups", "add", "Majors", "--members", "okx,kraken"]);
        let listed = k(&["--json", "groups", "list"]);
        let called = k(&["--json", "groups", "call", "BTC price", "ticker", "symbol=BTC/USDT"]);
        let text = k(&["groups", "call", "BTC price", "ticker", "symbol=BTC/USDT"]);
        (added, listed, called, text)
    })
    .await
    .expect("cli");
    assert!(added.status.success(), "{}", crate::support::stderr(&added));
    let groups: Vec<FailoverGroup> = serde_json::from_slice(&listed.stdout).expect("the groups view");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["BTC price", "Majors"]);
    assert!(called.status.success(), "{}", crate::support::stderr(&called));
    let reply: serde_json::Value = serde_json::from_slice(&called.stdout).expect("JSON");
    assert_eq!(reply["provider"], "kraken");
    assert_eq!(reply["route"][0]["provider"], "binance");
    assert_eq!(reply["route"][0]["outcome"], "failed");
    assert_eq!(reply["route"][1]["detail"], "pair=XBTUSDT");
    assert!(text.status.success(), "{}", crate::support::stderr(&text));
    let err = crate::support::stderr(&text);
    assert!(err.contains("binance") && err.contains("failed") && err.contains("pair=XBTUSDT"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_reads_through_a_group_on_the_gateway_and_the_route_header_says_who_answered() {
    let x = exchanges().await;
    x.binance.script((0..2).map(|_| Scripted { status: 503, headers: vec![], body: "{}".into() }));
    let token =
        x.kw.gateway()
            .tokens()
            .create(
                keyward::gateway::NewToken {
                    name: "price-bot".into(),
                    provider: "binance".into(),
                    key_label: None,
                    scopes: "market".parse().expect("scopes"),
                    allow_ips: Vec::new(),
                    max_wait: None,
                    max_share: None,
                },
                false,
                chrono::Utc::now(),
            )
            .expect("token");
    use keyward::vault::ExposeSecret;
    let secret = token.secret.expose_secret().to_string();
    let server = keyward::gateway::serve(&x.kw, 0, tokio_util::sync::CancellationToken::new()).await.expect("gateway");
    let http = reqwest::Client::new();
    let url = format!("http://{}/groups/BTC%20price/ticker?symbol=BTC/USDT", server.addr);
    let answer = http.get(&url).header("X-Keyward-Token", &secret).send().await.expect("answer");
    assert_eq!(answer.status(), 200);
    let route = answer.headers()["x-keyward-route"].to_str().expect("text").to_string();
    assert_eq!(route, "binance=failed; kraken=answered");
    let body: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(body["provider"], "kraken");
    assert_eq!(body["route"][1]["detail"], "pair=XBTUSDT");

    // No token, or an order: refused with the reason, nothing sent.
    let none = http.get(&url).send().await.expect("answer");
    assert_eq!(none.status(), 401);
    let before = x.kraken.hits();
    let order = format!("http://{}/groups/BTC%20price/place_order?symbol=BTC/USDT", server.addr);
    let refused = http.get(&order).header("X-Keyward-Token", &secret).send().await.expect("answer");
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.expect("body");
    assert!(text.contains("never fails over"), "{text}");
    assert_eq!(x.kraken.hits(), before);
}
