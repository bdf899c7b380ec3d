//! What the gateway adds to a request: latency at a steady 500 requests per second on
//! loopback, calling a mock exchange directly and through the gateway (release build).
//! (docs/BENCHMARKS.md records the runs.)
//!
//! ```text
//! cargo bench -p keyward --bench gateway_overhead -- [--rps 500] [--secs 10]
//! ```
//!
//! Requests are sent on a fixed schedule (open loop: one every 1/rps s, each on its own task),
//! so a slow answer does not slow the schedule down. The exchange's published limit is set far
//! above the load, so no request waits for budget: the difference is the gateway itself
//! (token lookup, checks, re-signing, the limiter's bookkeeping, the extra hop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::gateway::{NewToken, TokenScopes};
use keyward::vault::{ExposeSecret, MemoryStore};
use keyward::Keyward;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[allow(dead_code)]
#[path = "../tests/support/mock_exchange.rs"]
mod mock_exchange;

use mock_exchange::{Auth, MockExchange};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(url: String, token: Option<String>, rps: u64, secs: u64) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
    // Warm the connection pool.
    for _ in 0..50 {
        let mut req = http.get(&url);
        if let Some(t) = &token {
            req = req.header("X-Keyward-Token", t);
        }
        let _ = req.send().await.and_then(|r| r.error_for_status());
    }
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rps));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity((rps * secs) as usize);
    for _ in 0..rps * secs {
        ticks.tick().await;
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut req = http.get(&url);
            if let Some(t) = &token {
                req = req.header("X-Keyward-Token", t);
            }
            let resp = req.send().await.expect("answer");
            assert!(resp.status().is_success(), "HTTP {}", resp.status());
            let _ = resp.bytes().await;
            started.elapsed()
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("request"));
    }
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let rps = arg("--rps", 500);
    let secs = arg("--secs", 10);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (direct, through) = rt.block_on(async {
        let mock = MockExchange::start(Auth::Public, None).await;
        mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "97000.50"}));
        mock.route(
            "GET /api/v3/exchangeInfo",
            json!({"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 1_000_000}], "symbols": []}),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
        kw.providers().set("binance", &[("environments.production.base_url", mock.base_url.as_str())]).expect("mock");
        let server = keyward::gateway::serve(&kw, 0, CancellationToken::new()).await.expect("gateway");
        let token = kw
            .gateway()
            .tokens()
            .create(
                NewToken {
                    name: "bench".into(),
                    provider: "binance".into(),
                    key_label: None,
                    scopes: "market".parse::<TokenScopes>().expect("scopes"),
                    allow_ips: Vec::new(),
                    max_wait: None,
                    max_share: None,
                },
                false,
                chrono::Utc::now(),
            )
            .expect("token");
        let query = "/api/v3/ticker/24hr?symbol=BTCUSDT";
        let direct = run(format!("{}{query}", mock.base_url), None, rps, secs).await;
        let through =
            run(format!("http://{}/binance{query}", server.addr), Some(token.secret.expose_secret().to_string()), rps, secs)
                .await;
        (direct, through)
    });
    println!("{rps} requests/s for {secs} s on loopback, {} requests each", direct.len());
    println!("| path | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (name, d) in [("direct to the mock", &direct), ("through the gateway", &through)] {
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
            pct(d, 0.50),
            pct(d, 0.90),
            pct(d, 0.99),
            pct(d, 1.0)
        );
    }
    println!(
        "| added by the gateway | {:.3} ms | {:.3} ms | {:.3} ms | |",
        pct(&through, 0.50) - pct(&direct, 0.50),
        pct(&through, 0.90) - pct(&direct, 0.90),
        pct(&through, 0.99) - pct(&direct, 0.99)
    );
}
