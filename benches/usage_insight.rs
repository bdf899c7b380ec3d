//! Usage forecast and anomaly detection at scale (criterion): six providers, five endpoints,
//! two keys and four callers, every hour for 58 days (the 30-day anomaly range and its 28-day
//! lookback) in the hourly rollup: 334,080 rows.
//!
//! `cargo bench -p keyward --bench usage_insight`

use std::sync::Arc;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use keyward::vault::MemoryStore;
use keyward::Keyward;

const PROVIDERS: [&str; 6] = ["binance", "kraken", "okx", "bybit", "coinbase", "kucoin"];
const OPS: [&str; 5] = ["ticker", "order_book", "server_time", "balances", "open_orders"];
const KEYS: [&str; 2] = ["", "main"];
const CALLERS: [&str; 4] = ["ui", "cli", "monitor", "bot:grid"];
const DAYS: i64 = 58;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("open");
    let now = Utc::now();
    let now_hour = now.timestamp().div_euclid(3600) * 3600;
    let mut rows = 0u64;
    kw.store()
        .with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO calls_hourly (hour, provider, environment, operation, key_label, caller,
                                               calls, errors, weight, cost, latency_ms)
                     VALUES (?1, ?2, 'production', ?3, ?4, ?5, ?6, ?7, ?8, 0.0, ?9)",
                )?;
                for h in 0..DAYS * 24 {
                    let hour = now_hour - h * 3600;
                    let busy = if (8..18).contains(&(hour / 3600 % 24)) { 3 } else { 1 };
                    for (p, provider) in PROVIDERS.iter().enumerate() {
                        for (o, op) in OPS.iter().enumerate() {
                            for key in KEYS {
                                for caller in CALLERS {
                                    let calls = busy * (10 + ((h as usize + p * 7 + o * 3) % 11) as i64);
                                    insert.execute(rusqlite::params![
                                        hour,
                                        provider,
                                        op,
                                        key,
                                        caller,
                                        calls,
                                        calls / 50,
                                        calls * (1 + o as i64),
                                        calls * 40
                                    ])?;
                                    rows += 1;
                                }
                            }
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .expect("rollup rows");
    println!("{rows} hourly rollup rows over {DAYS} days");

    let mut group = c.benchmark_group("usage_insight");
    group.sample_size(10);
    group.bench_function("forecast_all_providers", |b| b.iter(|| kw.usage_forecast_at(None, now).expect("forecast")));
    group.bench_function("forecast_one_provider", |b| {
        b.iter(|| kw.usage_forecast_at(Some("binance".into()), now).expect("forecast"))
    });
    group.bench_function("anomalies_30_days", |b| {
        b.iter(|| kw.anomalies_between(now_hour - 30 * 86_400, now_hour).expect("anomalies"))
    });
    group.bench_function("anomalies_one_hour_scan", |b| {
        b.iter(|| kw.anomalies_between(now_hour - 3600, now_hour).expect("anomalies"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
