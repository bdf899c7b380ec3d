//! Cost of the rate limiter's hot path (docs/BENCHMARKS.md records the numbers).
//!
//! `cargo bench -p keyward --bench ratelimit`
//!
//! The binance preset's rules with limits so large that nothing ever waits: what is measured is
//! the bookkeeping of one call (two limits charged: REQUEST_WEIGHT and RAW_REQUESTS), alone
//! and with 8 callers on the same limits at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keyward::clock::SystemClock;
use keyward::pipeline::limit::{Acquire, Answered, RateLimiter};
use keyward::pipeline::Priority;
use keyward::provider::Registry;
use keyward::ratelimit::Limiter;
use keyward::store::Store;
use reqwest::header::{HeaderMap, HeaderValue};

/// The response to a keyless ticker call.
const ANSWER: Answered<'static> = Answered { provider: "binance", operation: "ticker", key_label: None };

const CONTENDERS: u64 = 8;

fn limiter() -> (tempfile::TempDir, Limiter) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("store");
    let registry = Registry::new(store).expect("registry");
    let mut spec = registry.preset("binance").expect("binance preset").clone();
    for rule in &mut spec.rate_limits {
        rule.limit = 1e15;
    }
    let limiter = Limiter::new(registry, Arc::new(SystemClock));
    limiter.apply_spec(&spec);
    (dir, limiter)
}

static BENCH: std::sync::LazyLock<keyward::caller::Caller> =
    std::sync::LazyLock::new(|| keyward::caller::Caller::parse("bench"));

fn ticker() -> Acquire<'static> {
    Acquire {
        provider: "binance",
        operation: "ticker",
        key_label: None,
        caller: &BENCH,
        weight: 2,
        priority: Priority::MarketData,
        deadline: None,
    }
}

fn bench(c: &mut Criterion) {
    let (_dir, limiter) = limiter();
    let mut headers = HeaderMap::new();
    headers.insert("x-mbx-used-weight-1m", HeaderValue::from_static("12"));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("ratelimit");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30);

    group.bench_function("acquire_uncontended", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    limiter.acquire(ticker()).await.expect("no wait");
                }
                start.elapsed()
            })
        })
    });

    // One call's whole limiter cost: acquire before the request, observe after the response.
    group.bench_function("acquire_and_observe_uncontended", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    limiter.acquire(ticker()).await.expect("no wait");
                    limiter.observe(ANSWER, 200, &headers);
                }
                start.elapsed()
            })
        })
    });

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CONTENDERS as usize)
        .enable_all()
        .build()
        .expect("runtime");
    // Time per acquire with 8 tasks acquiring on the same limits at once (wall time of the
    // whole batch divided by the number of acquires).
    group.bench_function("acquire_8_way_contention", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(CONTENDERS);
            multi.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..CONTENDERS)
                    .map(|_| {
                        let limiter = limiter.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                limiter.acquire(ticker()).await.expect("no wait");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
                start.elapsed().mul_f64(iters as f64 / (per_task * CONTENDERS) as f64)
            })
        })
    });

    group.bench_function("acquire_and_observe_8_way_contention", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(CONTENDERS);
            multi.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..CONTENDERS)
                    .map(|_| {
                        let limiter = limiter.clone();
                        let headers = headers.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                limiter.acquire(ticker()).await.expect("no wait");
                                limiter.observe(ANSWER, 200, &headers);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
                start.elapsed().mul_f64(iters as f64 / (per_task * CONTENDERS) as f64)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
