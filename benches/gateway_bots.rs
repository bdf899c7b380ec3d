//! Three real CCXT bots (Python, `.tools/venv`, made by `make ccxt`) polling a strict
//! Binance-style mock, through the Keyward gateway and, for comparison, directly.
//! (docs/BENCHMARKS.md records the runs.)
//!
//! ```text
//! make ccxt && cargo bench -p keyward --bench gateway_bots -- [--secs 40] [--limit 500] [--window-ms 5000]
//! ```
//!
//! The mock (tests/support/strict_exchange.rs) publishes `--limit` weight per `--window-ms` in
//! its exchangeInfo, answers 429 with Retry-After over it and bans (418) a client that sends
//! again during a Retry-After. Bots: two poll the 24 h ticker (weight 2), one the order book
//! (weight 5), each with CCXT's own `enableRateLimit`; a failed call is counted and the loop
//! goes on.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keyward::gateway::{NewToken, TokenScopes};
use keyward::vault::{ExposeSecret, MemoryStore};
use keyward::Keyward;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[allow(dead_code)]
#[path = "../tests/support/strict_exchange.rs"]
mod strict_exchange;

use strict_exchange::{StrictExchange, Weights};

struct Args {
    secs: u64,
    limit: u64,
    window_ms: u64,
}

fn args() -> Args {
    let mut a = Args { secs: 40, limit: 500, window_ms: 5000 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--secs" => a.secs = value().parse().unwrap_or(a.secs),
            "--limit" => a.limit = value().parse().unwrap_or(a.limit),
            "--window-ms" => a.window_ms = value().parse().unwrap_or(a.window_ms),
            _ => {}
        }
    }
    a
}

fn python() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(p.exists(), "{} is missing: run `make ccxt` first", p.display());
    p
}

/// Runs the three bots against `base` and returns what each printed.
fn run_bots(base: &str, secs: u64, token: Option<&str>) -> Vec<Value> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ccxt/bot_loop.py");
    let children: Vec<_> = ["ticker", "ticker", "depth"]
        .iter()
        .map(|kind| {
            let mut cmd = Command::new(python());
            cmd.arg(&script).arg(base).arg(secs.to_string()).arg(kind);
            if let Some(t) = token {
                cmd.arg(t);
            }
            cmd.stdout(std::process::Stdio::piped()).spawn().expect("python runs")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("bot ends");
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
        })
        .collect()
}

fn report(label: &str, ex: &StrictExchange, args: &Args, started_ms: i64, ended_ms: i64, bots: &[Value]) {
    let counts = ex.counts();
    let w = args.window_ms as i64;
    let first = (started_ms + w - 1).div_euclid(w) * w;
    let last = ended_ms.div_euclid(w) * w;
    let full = ((last - first) / w).max(0) as u64;
    let accepted: u64 = counts.accepted.iter().filter(|(s, _)| *s >= first && *s < last).map(|(_, n)| n).sum();
    let used = if full > 0 { accepted as f64 / (args.limit * full) as f64 * 100.0 } else { 0.0 };
    println!(
        "| {label} | {} s | {} | {} | {} | {used:.1} % | {full} | {} |",
        args.secs,
        counts.ok,
        counts.too_many,
        counts.banned,
        bots.iter().map(Value::to_string).collect::<Vec<_>>().join(" / ")
    );
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "strict exchange: {} weight per {} ms, 429 then 418; three CCXT bots (ticker 2, ticker 2, depth 5), enableRateLimit on",
        args.limit, args.window_ms
    );
    println!("| run | duration | 200 | 429 | 418 | granted weight used | full windows | each bot (CCXT's view) |");
    println!("|---|---|---|---|---|---|---|---|");

    // Through Keyward.
    let ex = rt.block_on(StrictExchange::start_with(args.limit, args.window_ms, Weights::BINANCE));
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    kw.providers()
        .set("binance", &[("environments.production.base_url", ex.base_url.as_str()), ("retry.max_attempts", "1")])
        .expect("binance at the mock");
    let server = rt.block_on(keyward::gateway::serve(&kw, 0, CancellationToken::new())).expect("gateway");
    let token = kw
        .gateway()
        .tokens()
        .create(
            NewToken {
                name: "bots".into(),
                provider: "binance".into(),
                key_label: None,
                scopes: "market".parse::<TokenScopes>().expect("scopes"),
                allow_ips: Vec::new(),
                max_wait: Some(Duration::from_secs(10)),
                max_share: None,
            },
            false,
            chrono::Utc::now(),
        )
        .expect("token");
    let base = format!("http://{}/binance", server.addr);
    let started = now_ms();
    let bots = run_bots(&base, args.secs, Some(token.secret.expose_secret()));
    report("through Keyward", &ex, &args, started, now_ms(), &bots);
    rt.block_on(server.stop());

    // The same bots without Keyward, on a fresh exchange.
    let ex = rt.block_on(StrictExchange::start_with(args.limit, args.window_ms, Weights::BINANCE));
    let started = now_ms();
    let bots = run_bots(&ex.base_url, args.secs, None);
    report("without Keyward", &ex, &args, started, now_ms(), &bots);
}
