//! Usage history at scale (criterion): the recorder's throughput, the database size per
//! million calls, and a 30-day by-endpoint usage table over millions of recorded calls once the
//! raw rows past the default retention (3 days) are pruned and the hourly rollup answers.
//!
//! `cargo bench -p keyward --bench usage_history` (10 million calls by default;
//! `KEYWARD_BENCH_CALLS=1000000` for a quicker run).

use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use keyward::pipeline::{AttemptRecord, Outcome, Recorder};
use keyward::store::Store;
use keyward::usage::{GroupBy, UsageRange, UsageReader};

const PROVIDERS: [&str; 6] = ["binance", "kraken", "okx", "bybit", "coinbase", "kucoin"];
const OPS: [&str; 5] = ["ticker", "order_book", "server_time", "balances", "open_orders"];
const CALLERS: [&str; 4] = ["ui", "cli", "monitor", "bot:grid"];

fn calls() -> u64 {
    std::env::var("KEYWARD_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000)
}

fn file_size(dir: &std::path::Path) -> u64 {
    ["keyward.db", "keyward.db-wal"].iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum()
}

fn bench(c: &mut Criterion) {
    let n = calls();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("store");
    let recorder = Recorder::start(store.clone());
    let now = Utc::now();
    let span = chrono::Duration::days(30).num_milliseconds();
    let started = Instant::now();
    for i in 0..n {
        let k = i as usize;
        recorder.record(AttemptRecord {
            ts: now - chrono::Duration::milliseconds(span * (n - i) as i64 / n as i64),
            provider: PROVIDERS[k % 6].into(),
            environment: "production".into(),
            operation: OPS[(k / 6) % 5].into(),
            key_label: if k % 3 == 0 { Some("main".into()) } else { None },
            caller: CALLERS[(k / 30) % 4].into(),
            attempt: 1,
            status: Some(if k % 97 == 0 { 503 } else { 200 }),
            outcome: if k % 97 == 0 { Outcome::HttpError } else { Outcome::Ok },
            latency: Duration::from_millis(20 + (k % 200) as u64),
            bytes_out: 120,
            bytes_in: 900,
            weight: 1 + (k % 5) as u32,
            cost: 0.0,
            units: 1.0,
        });
    }
    recorder.flush();
    let took = started.elapsed();
    let size = file_size(dir.path());
    println!(
        "recorded {n} calls in {:.1} s: {:.0} calls/s; database {:.0} MB, {:.0} MB per million calls",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / 1e6 / (n as f64 / 1e6)
    );
    let usage = UsageReader::new(store.clone());
    let pruned = usage.prune(now).expect("prune");
    store.with_conn(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")?)).expect("vacuum");
    println!("pruned {pruned} raw rows older than 3 days: database {:.0} MB", file_size(dir.path()) as f64 / 1e6);
    let q = UsageRange::Month.query(now, None, GroupBy::Endpoint);
    let rows = usage.summary(&q).expect("summary");
    println!("30-day table: {} rows, {} calls", rows.len(), rows.iter().map(|r| r.calls).sum::<u64>());
    c.bench_function("usage summary, 30 days by endpoint", |b| b.iter(|| usage.summary(&q).expect("summary")));
    let week = UsageRange::Week.query(now, None, GroupBy::Caller);
    c.bench_function("usage summary, 7 days by caller", |b| b.iter(|| usage.summary(&week).expect("summary")));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
