//! Throughput against a strict mock exchange: does the limiter use the budget the exchange
//! grants without ever getting a 429 or a ban? (docs/BENCHMARKS.md records the runs.)
//!
//! ```text
//! cargo bench -p keyward --bench strict_exchange -- [--secs 40] [--limit 120] [--window-ms 5000]
//!                                                   [--callers 1,3] [--mixed] [--unlimited]
//! ```
//! (`STRICT_EXCHANGE_SECS` also sets the duration.)
//!
//! The mock (tests/support/strict_exchange.rs, shared with the integration tests) publishes its
//! limit in exchangeInfo and enforces a Binance-style REQUEST_WEIGHT window: fixed, aligned to the Unix epoch,
//! `--limit` weight per `--window-ms`. Over the limit it answers 429 with Retry-After; a client
//! that sends again before Retry-After has passed gets 418 (an IP ban, 10 s here). Every answer
//! carries the used weight in `X-MBX-USED-WEIGHT-<n>S`, as Binance does.
//!
//! The callers go through the real call path: `Keyward` opened on a temporary data directory,
//! its binance preset pointed at the mock with the same rule, and a `Pipeline` built with the
//! real `Limiter`. Each caller calls as fast as it can (demand far above the limit) for the
//! given time. Reported: answers by status, and the weight the exchange accepted in the windows
//! that lie wholly inside the run as a percentage of what it granted (limit x windows).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyward::clock::SystemClock;
use keyward::pipeline::{CallOptions, CallRequest, Pipeline, RateLimiter, Recorder, Unlimited};
use keyward::ratelimit::Limiter;
use keyward::vault::MemoryStore;
use keyward::Keyward;

/// The same strict exchange the integration tests use.
#[allow(dead_code)]
#[path = "../tests/support/strict_exchange.rs"]
mod strict_exchange;

use strict_exchange::{StrictCounts, StrictExchange, Weights};

#[derive(Debug, Clone)]
struct Args {
    secs: u64,
    limit: u64,
    window_ms: u64,
    callers: Vec<usize>,
    mixed: bool,
    /// Control run: no limiter at all (the pipeline's `Unlimited`), to show the mock bites.
    unlimited: bool,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            secs: std::env::var("STRICT_EXCHANGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(40),
            limit: 120,
            window_ms: 5000,
            callers: vec![1, 3],
            mixed: false,
            unlimited: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().unwrap_or_default();
            match a.as_str() {
                "--secs" => args.secs = value().parse().unwrap_or(args.secs),
                "--limit" => args.limit = value().parse().unwrap_or(args.limit),
                "--window-ms" => args.window_ms = value().parse().unwrap_or(args.window_ms),
                "--callers" => {
                    args.callers = value().split(',').filter_map(|n| n.trim().parse().ok()).collect();
                }
                "--mixed" => args.mixed = true,
                "--unlimited" => args.unlimited = true,
                // cargo bench passes --bench; anything else is ignored too.
                _ => {}
            }
        }
        args
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// --- the run --------------------------------------------------------------------------------

#[derive(Debug)]
struct Outcome {
    callers: usize,
    counts: StrictCounts,
    full_windows: u64,
    used_pct: f64,
    /// Least and most weight accepted in one full window.
    window_range: (u64, u64),
    calls_by_caller: Vec<u64>,
    errors: HashMap<String, u64>,
}

async fn scenario(args: &Args, callers: usize) -> Outcome {
    let weights =
        if args.mixed { Weights { time: 1, ticker: 2, depth: 5 } } else { Weights { time: 1, ticker: 1, depth: 1 } };
    let exchange = StrictExchange::start_with(args.limit, args.window_ms, weights).await;
    let url = exchange.base_url.clone();

    let dir = tempfile::tempdir().expect("temp dir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("keyward opens");
    let rule = format!(
        "[{{id = \"request_weight\", kind = \"fixed_window\", scope = \"ip\", limit = {}, interval_ms = {}, weight_header = \"x-mbx-used-weight-{}s\"}}]",
        args.limit,
        args.window_ms,
        args.window_ms / 1000
    );
    let (ticker, depth) = (weights.ticker.to_string(), weights.depth.to_string());
    kw.providers()
        .set(
            "binance",
            &[
                ("environments.production.base_url", url.as_str()),
                ("rate_limits", rule.as_str()),
                ("endpoints.ticker.weight", ticker.as_str()),
                ("endpoints.order_book.weight", depth.as_str()),
                ("retry.max_attempts", "2"),
            ],
        )
        .expect("binance pointed at the mock");
    let limiter: Arc<dyn RateLimiter> = if args.unlimited {
        Arc::new(Unlimited)
    } else {
        Arc::new(Limiter::new(kw.providers().clone(), Arc::new(SystemClock)))
    };
    let pipeline =
        Pipeline::new(kw.providers().clone(), kw.keys().clone(), limiter, Recorder::start(kw.store().clone()));

    // Mixed: a ticker poller (2), an order-book poller (5) and a server-time poller (1, the
    // health check, held to its 10 % share). Otherwise every caller polls the ticker at 1.
    let ops: &[(&str, &[(&str, &str)])] = if args.mixed {
        &[("ticker", &[("symbol", "BTCUSDT")]), ("order_book", &[("symbol", "BTCUSDT")]), ("server_time", &[])]
    } else {
        &[("ticker", &[("symbol", "BTCUSDT")])]
    };

    let start_ms = now_ms();
    let stop = Instant::now() + Duration::from_secs(args.secs);
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let pipeline = pipeline.clone();
            let (op, params) = ops[i % ops.len()];
            let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            tokio::spawn(async move {
                let mut ok = 0u64;
                let mut errors: HashMap<String, u64> = HashMap::new();
                while Instant::now() < stop {
                    let req = CallRequest {
                        provider: "binance".into(),
                        operation: op.into(),
                        params: params.clone(),
                        options: CallOptions {
                            caller: format!("bench-{i}").into(),
                            no_cache: true,
                            ..CallOptions::default()
                        },
                    };
                    match pipeline.call(req).await {
                        Ok(_) => ok += 1,
                        Err(e) => *errors.entry(e.kind().to_string()).or_default() += 1,
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    let mut calls_by_caller = Vec::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    for t in tasks {
        let (ok, errs) = t.await.expect("caller");
        calls_by_caller.push(ok);
        for (k, n) in errs {
            *errors.entry(k).or_default() += n;
        }
    }
    let end_ms = now_ms();

    let counts = exchange.counts();
    let w = args.window_ms as i64;
    let first = (start_ms + w - 1).div_euclid(w) * w;
    let last = end_ms.div_euclid(w) * w;
    let full_windows = ((last - first) / w).max(0) as u64;
    let by_window: BTreeMap<i64, u64> = counts.accepted.iter().copied().collect();
    let accepted: u64 = by_window.range(first..last).map(|(_, n)| n).sum();
    let used_pct = if full_windows > 0 { accepted as f64 / (args.limit * full_windows) as f64 * 100.0 } else { 0.0 };
    let per_window: Vec<u64> =
        (0..full_windows as i64).map(|k| by_window.get(&(first + k * w)).copied().unwrap_or(0)).collect();
    let window_range = (per_window.iter().min().copied().unwrap_or(0), per_window.iter().max().copied().unwrap_or(0));
    Outcome { callers, counts, full_windows, used_pct, window_range, calls_by_caller, errors }
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "strict exchange: {} weight per {} ms (aligned), 429 with Retry-After, 418 for sending during Retry-After; {} s per run; {} weights; {}",
        args.limit,
        args.window_ms,
        args.secs,
        if args.mixed { "mixed 2/5/1" } else { "all 1" },
        if args.unlimited { "NO limiter (control run)" } else { "keyward::ratelimit::Limiter" }
    );
    println!("| callers | duration | 200 | 429 | 418 | granted weight used | full windows | weight per window | calls per caller | errors |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    for &callers in &args.callers {
        let o = rt.block_on(scenario(&args, callers));
        println!(
            "| {} | {} s | {} | {} | {} | {:.2} % | {} | {}-{} | {:?} | {:?} |",
            o.callers,
            args.secs,
            o.counts.ok,
            o.counts.too_many,
            o.counts.banned,
            o.used_pct,
            o.full_windows,
            o.window_range.0,
            o.window_range.1,
            o.calls_by_caller,
            o.errors,
        );
        failed |= o.counts.too_many > 0 || o.counts.banned > 0 || o.used_pct < 97.0;
    }
    if failed {
        println!("target missed: zero 429, zero 418 and at least 97 % of the granted weight");
    }
}
