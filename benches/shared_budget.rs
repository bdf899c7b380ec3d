//! Cost of the shared budget's charge: one Redis round trip (the Lua script) per call, against
//! a `redis-server` on loopback started here (docs/BENCHMARKS.md records the numbers).
//!
//! `cargo bench -p keyward --bench shared_budget`
//!
//! Measured: a call charging two shared limits (an account order limit and an account weight
//! limit, both fixed windows far from full), alone and with 8 callers at once; the percentiles
//! of 20,000 sequential charges (printed: criterion reports means); and a whole shared acquire
//! (`SharedLimiter`: the local limiter, then the shared limits) on Binance's 6,000-weight
//! minute as an account limit, where reserved blocks save round trips (printed: how many).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keyward::provider::RateLimitKind;
use keyward::ratelimit::shared::redis::{RedisStore, SharedCharge};

struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis(rt: &tokio::runtime::Runtime) -> (Redis, RedisStore) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (apt install redis-server)");
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let store = loop {
        if let Ok(s) = rt.block_on(RedisStore::connect(&url, &url)) {
            break s;
        }
        assert!(Instant::now() < deadline, "redis-server did not answer");
        std::thread::sleep(Duration::from_millis(50));
    };
    (Redis { child, _dir: dir }, store)
}

fn charges() -> Vec<SharedCharge> {
    let c = |key: &str| SharedCharge {
        key: key.into(),
        kind: RateLimitKind::FixedWindow,
        capacity: 1e15,
        interval_ms: 10_000,
        decay_per_sec: 1.0,
        amount: 1.0,
        period: String::new(),
        extra: 0.0,
    };
    vec![c("bench:binance:orders_10s:acct"), c("bench:binance:request_weight:acct")]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (_redis, store) = start_redis(&rt);
    let list = charges();

    // Percentiles first (criterion's output gives means and spreads).
    let mut samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(store.charge("bench:pause", &list)).expect("charge");
            t.elapsed()
        })
        .collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "shared charge, 2 limits, loopback: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );

    let mut group = c.benchmark_group("shared_budget");
    group.bench_function("charge_2_limits", |b| {
        b.iter(|| rt.block_on(store.charge("bench:pause", &list)).expect("charge"))
    });
    group.bench_function("charge_2_limits_8_callers", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        let store = store.clone();
                        let list = list.clone();
                        tokio::spawn(async move { store.charge("bench:pause", &list).await.expect("charge") })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            })
        })
    });
    group.finish();

    // A whole acquire through the SharedLimiter: the binance preset with its weight limit made
    // an account limit (6,000 per minute, so 1 % blocks of 58 serve 29 tickers of weight 2).
    let dir = tempfile::tempdir().expect("tempdir");
    let store_db = keyward::store::Store::open(&dir.path().join("keyward.db")).expect("db");
    let registry = keyward::provider::Registry::new(store_db.clone()).expect("registry");
    let mut spec = registry.preset("binance").expect("binance").clone();
    spec.rate_limits.retain(|r| r.id == "request_weight");
    for r in &mut spec.rate_limits {
        r.scope = keyward::provider::RateLimitScope::Account;
        r.limit = 6000.0;
        r.interval_ms = Some(60_000);
    }
    let clock: std::sync::Arc<dyn keyward::clock::Clock> = std::sync::Arc::new(keyward::clock::SystemClock);
    let limiter = keyward::ratelimit::Limiter::new(registry, clock.clone());
    limiter.apply_spec(&spec);
    let secrets: std::sync::Arc<dyn keyward::vault::SecretStore> =
        std::sync::Arc::new(keyward::vault::MemoryStore::new());
    let audit = keyward::audit::Audit::new(store_db.clone());
    let keys = keyward::keys::Keys::new(store_db, secrets, audit, keyward::audit::Actor::System);
    let url = store.url().to_string();
    let settings = keyward::ratelimit::shared::SharedBudgetSettings { url, egress_group: None };
    let shared = keyward::ratelimit::shared::SharedLimiter::new(limiter, keys, clock, settings, None);
    let caller = keyward::caller::Caller::parse("bench");
    let acquire = || keyward::pipeline::limit::Acquire {
        provider: "binance",
        operation: "ticker",
        key_label: None,
        caller: &caller,
        weight: 2,
        priority: keyward::pipeline::Priority::MarketData,
        deadline: None,
    };
    use keyward::pipeline::limit::RateLimiter;
    let n = 2_000u32;
    let started = Instant::now();
    for _ in 0..n {
        rt.block_on(shared.acquire(acquire())).expect("acquire");
    }
    let took = started.elapsed();
    let view = shared.view();
    println!(
        "shared acquire (local limiter + shared limit), {n} tickers: {:?} each; {} round trips, {} from reserved blocks ({:.1} % of round trips saved)",
        took / n,
        view.round_trips,
        view.from_blocks,
        view.from_blocks as f64 / f64::from(n) * 100.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
