//! `GET /metrics` as Prometheus sees it: scraped over HTTP from a running gateway after real
//! calls through a mock exchange on 127.0.0.1, parsed with a Prometheus text-format parser,
//! and its numbers checked against the calls made, the limiter, the Status page's states and
//! the gateway's own bot numbers. Token access refuses a missing or wrong token and says why.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyward::gateway::NewToken;
use keyward::metrics::{MetricsAccess, MetricsSettings};
use keyward::monitor::{CheckKind, CheckResult};
use keyward::vault::{ExposeSecret, MemoryStore};
use keyward::Keyward;
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::mock_exchange::{Auth, MockExchange, Scripted};

struct Running {
    kw: Keyward,
    url: String,
    http: reqwest::Client,
    _server: keyward::gateway::GatewayServer,
    _dir: tempfile::TempDir,
}

async fn gateway(base_url: &str) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    kw.providers()
        .set("binance", &[("environments.production.base_url", base_url), ("retry.max_attempts", "1")])
        .expect("pointed at the mock");
    let server = keyward::gateway::serve(&kw, 0, CancellationToken::new()).await.expect("gateway listens");
    let url = format!("http://{}", server.addr);
    Running { kw, url, http: reqwest::Client::new(), _server: server, _dir: dir }
}

fn market_token(kw: &Keyward, name: &str) -> String {
    let issued = kw
        .gateway()
        .tokens()
        .create(
            NewToken {
                name: name.into(),
                provider: "binance".into(),
                key_label: None,
                scopes: "market".parse().expect("scopes"),
                allow_ips: Vec::new(),
                max_wait: Some(Duration::from_secs(2)),
                max_share: None,
            },
            false,
            Utc::now(),
        )
        .expect("token");
    issued.secret.expose_secret().to_string()
}

async fn scrape(r: &Running, bearer: Option<&str>) -> reqwest::Response {
    let mut req = r.http.get(format!("{}/metrics", r.url));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("scrape")
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus can parse /metrics")
}

/// The value of the sample `name` whose labels include all of `labels`, summed over the rest.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name}: not a plain value: {other:?}"),
        })
        .sum()
}

fn count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> usize {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_calls_bots_made_and_show_limits_health_and_latency() {
    let mock = MockExchange::start(Auth::BinanceHmac, None).await;
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "100000.00"}));
    let r = gateway(&mock.base_url).await;
    let tok = market_token(&r.kw, "grid-bot");

    // Two answers, then the exchange fails once (not served stale: nothing was kept for ETH).
    for symbol in ["BTCUSDT", "BTCUSDT"] {
        let resp = r
            .http
            .get(format!("{}/binance/api/v3/ticker/24hr?symbol={symbol}", r.url))
            .header("X-Keyward-Token", &tok)
            .send()
            .await
            .expect("ticker");
        assert_eq!(resp.status(), 200);
    }
    mock.script([Scripted { status: 503, headers: Vec::new(), body: "{\"msg\":\"busy\"}".into() }]);
    let resp = r
        .http
        .get(format!("{}/binance/api/v3/ticker/24hr?symbol=ETHUSDT", r.url))
        .header("X-Keyward-Token", &tok)
        .send()
        .await
        .expect("ticker");
    assert_eq!(resp.status(), 503);
    // A request without a token is refused before the exchange.
    let resp =
        r.http.get(format!("{}/binance/api/v3/ticker/24hr?symbol=BTCUSDT", r.url)).send().await.expect("no token");
    assert_eq!(resp.status(), 401);
    // The Status page's health for binance, from a check result.
    r.kw.monitor().record(CheckResult {
        check_id: 1,
        provider: "binance".into(),
        operation: "server_time".into(),
        kind: CheckKind::Operation,
        at: Utc::now(),
        ok: true,
        status: Some(200),
        latency: Duration::from_millis(30),
        slow: false,
        system: None,
        error: None,
    });

    let resp = scrape(&r, None).await;
    assert_eq!(resp.status(), 200, "loopback needs no token by default");
    let content_type = resp.headers()["content-type"].to_str().expect("ascii").to_string();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = resp.text().await.expect("body");
    let m = parse(&text);

    // Calls and errors, by operation, caller and outcome: what the exchange answered.
    let bot = [("provider", "binance"), ("operation", "ticker"), ("caller", "bot:grid-bot")];
    let ok = [bot.as_slice(), &[("outcome", "ok")]].concat();
    let failed = [bot.as_slice(), &[("outcome", "http_error")]].concat();
    assert_eq!(value(&m, "keyward_calls_total", &ok), 2.0, "{text}");
    assert_eq!(value(&m, "keyward_calls_total", &failed), 1.0, "{text}");
    let binance = [("provider", "binance")];
    let attempts = value(&m, "keyward_calls_total", &binance);
    let info = value(&m, "keyward_calls_total", &[("provider", "binance"), ("operation", "exchange_info")]);
    assert_eq!(info as usize, mock.info_hits(), "Keyward's own read of the published limits counts too");
    assert_eq!((attempts - info) as usize, mock.hits(), "every attempt the exchange saw, and no other");
    // One latency observation and one limiter acquisition per attempt.
    assert_eq!(value(&m, "keyward_call_latency_seconds_count", &binance), attempts, "{text}");
    assert_eq!(value(&m, "keyward_limiter_wait_seconds_count", &binance), attempts);
    let buckets = m
        .samples
        .iter()
        .find_map(|s| match &s.value {
            Value::Histogram(b)
                if s.metric == "keyward_call_latency_seconds" && s.labels.get("provider") == Some("binance") =>
            {
                Some(b.clone())
            }
            _ => None,
        })
        .expect("a latency histogram for binance");
    assert_eq!(buckets.len(), keyward::metrics::live::LATENCY_BUCKETS.len() + 1);
    let inf = buckets.last().expect("+Inf");
    assert!(inf.less_than.is_infinite() && inf.count == attempts, "the +Inf bucket holds every observation");
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "buckets are cumulative");
    // Weight: 2 per ticker with a symbol, as the gateway's own numbers say.
    let weight = value(&m, "keyward_call_weight_total", &[("provider", "binance"), ("caller", "bot:grid-bot")]);
    assert_eq!(weight, 6.0);
    assert_eq!(value(&m, "keyward_gateway_weight_total", &[("bot", "grid-bot")]), weight);
    assert_eq!(value(&m, "keyward_cost_total", &binance), 0.0, "Binance's calls cost nothing, and say so");
    assert_eq!(count(&m, "keyward_cost_total", &binance), 1);

    // Bots: requests, answers, errors and refusals by reason.
    assert_eq!(value(&m, "keyward_gateway_requests_total", &[("bot", "grid-bot")]), 3.0);
    assert_eq!(value(&m, "keyward_gateway_answered_total", &[("bot", "grid-bot")]), 2.0);
    assert_eq!(value(&m, "keyward_gateway_exchange_errors_total", &[("bot", "grid-bot")]), 1.0);
    assert_eq!(value(&m, "keyward_gateway_refusals_total", &[("bot", "(no valid token)"), ("reason", "noToken")]), 1.0);

    // Limits: the limiter's numbers, and used + remaining = capacity.
    let limits = r.kw.limiter().snapshot();
    let binance_limits: Vec<_> = limits.iter().filter(|l| l.provider == "binance").collect();
    assert!(!binance_limits.is_empty(), "binance's rules are loaded by its first call");
    for l in &binance_limits {
        let labels = [("provider", "binance"), ("limit", l.limit_id.as_str()), ("scope_key", l.scope_key.as_str())];
        let used = value(&m, "keyward_limit_used", &labels);
        let capacity = value(&m, "keyward_limit_capacity", &labels);
        assert_eq!(capacity, l.limit, "{}", l.limit_id);
        assert_eq!(used + value(&m, "keyward_limit_remaining", &labels), capacity, "{}", l.limit_id);
    }
    assert!(
        binance_limits.iter().any(|l| value(
            &m,
            "keyward_limit_used",
            &[("provider", "binance"), ("limit", l.limit_id.as_str()), ("scope_key", l.scope_key.as_str())]
        ) >= weight),
        "the bots' weight is on a limit: {text}"
    );

    // Health: one state set, the one the Status page shows.
    let state = r.kw.monitor().current_states().expect("states");
    let shown = state.iter().find(|s| s.provider == "binance").expect("binance state").state.as_str();
    assert_eq!(count(&m, "keyward_provider_state", &binance), 5, "a series per state");
    assert_eq!(value(&m, "keyward_provider_state", &binance), 1.0);
    assert_eq!(value(&m, "keyward_provider_state", &[("provider", "binance"), ("state", shown)]), 1.0);
    assert_eq!(value(&m, "keyward_build_info", &[("version", keyward::VERSION)]), 1.0);

    // Nothing secret: the bot's token is not in the scrape.
    assert!(!text.contains(&tok));

    // The docs name every metric served, and the Grafana dashboard charts only metrics served.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/METRICS.md")).expect("docs/METRICS.md");
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let shown = match kind {
            "counter" => format!("`{name}_total`"),
            "info" => format!("`{name}_info`"),
            _ => format!("`{name}`"),
        };
        assert!(doc.contains(&shown), "docs/METRICS.md does not describe {shown}");
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/grafana/keyward.json")).expect("dashboard"))
            .expect("the dashboard is JSON");
    let served: std::collections::HashSet<&str> = m.samples.iter().map(|s| s.metric.as_str()).collect();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 5);
    for target in panels.iter().flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default()) {
        let expr = target["expr"].as_str().expect("expr");
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("keyward_"))
        {
            let family = word.trim_end_matches("_bucket");
            assert!(
                served.contains(word) || served.contains(family),
                "the dashboard charts {word}, which /metrics lacks"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_access_refuses_a_missing_or_wrong_token_and_says_why() {
    let mock = MockExchange::start(Auth::BinanceHmac, None).await;
    let r = gateway(&mock.base_url).await;
    let settings = MetricsSettings::new(r.kw.store().clone());
    let token = settings.set_access(MetricsAccess::Token).expect("token access").expect("made a token");
    let token = token.expose_secret().to_string();

    let resp = scrape(&r, None).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["kind"], "unauthorized");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("no metrics token"), "{body}");

    let resp = scrape(&r, Some("kwm_not-the-token")).await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("wrong metrics token"), "{body}");

    let resp = scrape(&r, Some(&token)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(!parse(&text).samples.is_empty());

    // Back to loopback: no token needed, and the old one is forgotten.
    settings.set_access(MetricsAccess::Loopback).expect("loopback");
    assert_eq!(scrape(&r, None).await.status(), 200);
    let stored: HashMap<String, String> =
        r.kw.store()
            .with_conn(|c| {
                let mut stmt = c.prepare("SELECT key, value FROM settings")?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                Ok(rows.collect::<Result<HashMap<String, String>, _>>()?)
            })
            .expect("settings");
    assert!(stored.values().all(|v| !v.contains(&token)), "the token is never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_breaker_shows_until_it_closes() {
    let mock = MockExchange::start(Auth::BinanceHmac, None).await;
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "100000.00"}));
    let r = gateway(&mock.base_url).await;
    r.kw.providers()
        .set("binance", &[("breaker.consecutive_failures", "2"), ("breaker.per_endpoint", "false")])
        .expect("a breaker that opens after two failures");
    let tok = market_token(&r.kw, "grid-bot");
    let ticker = |symbol: &'static str| {
        let (http, url, tok) = (r.http.clone(), r.url.clone(), tok.clone());
        async move {
            http.get(format!("{url}/binance/api/v3/ticker/24hr?symbol={symbol}"))
                .header("X-Keyward-Token", &tok)
                .send()
                .await
                .expect("ticker")
                .status()
        }
    };
    let before = parse(&scrape(&r, None).await.text().await.expect("body"));
    assert_eq!(count(&before, "keyward_circuit_breaker_open", &[]), 0, "no breaker listed while all are closed");

    assert_eq!(ticker("BTCUSDT").await, 200, "Binance's published limits are read on this first call");
    // ETH has no last good answer to stand in, so the failures reach the bot.
    mock.script((0..2).map(|_| Scripted { status: 503, headers: Vec::new(), body: "{}".into() }));
    assert_eq!(ticker("ETHUSDT").await, 503);
    assert_eq!(ticker("ETHUSDT").await, 503);
    let hits = mock.hits();
    assert_eq!(ticker("ETHUSDT").await, 502, "the open breaker refuses at once");
    assert_eq!(mock.hits(), hits, "nothing sent while it is open");

    let m = parse(&scrape(&r, None).await.text().await.expect("body"));
    assert_eq!(value(&m, "keyward_circuit_breaker_open", &[("provider", "binance"), ("operation", "*")]), 1.0);
    let open = r.kw.pipeline().breakers().views();
    assert_eq!(open.len(), 1, "{open:?}");
}
