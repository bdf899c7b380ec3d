//! `/metrics` and usage export at scale (criterion): one scrape of a Keyward whose limiter has
//! every catalog provider's rules loaded, with live call counters over six providers, five
//! operations and four callers, and 50 gateway bots; and usage exports over a million calls
//! spread over 30 days (per hour and for the whole range, CSV).
//!
//! `cargo bench -p keyward --bench metrics_export` (`KEYWARD_BENCH_CALLS=N` for another number
//! of recorded calls; 1,000,000 by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use keyward::pipeline::{AttemptRecord, Outcome, Recorder};
use keyward::store::Store;
use keyward::usage::export::{export, Bucket, ExportRequest};
use keyward::usage::{GroupBy, UsageReader};
use keyward::vault::MemoryStore;

const PROVIDERS: [&str; 6] = ["binance", "kraken", "okx", "bybit", "coinbase", "kucoin"];
const OPS: [&str; 5] = ["ticker", "order_book", "server_time", "balances", "open_orders"];
const CALLERS: [&str; 4] = ["ui", "cli", "monitor", "bot:grid"];

fn calls() -> u64 {
    std::env::var("KEYWARD_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn attempt(k: usize, ts: chrono::DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        ts,
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
        cost: if k % 7 == 0 { 0.001 } else { 0.0 },
        units: if k % 7 == 0 { 1.0 } else { 0.0 },
    }
}

fn bench(c: &mut Criterion) {
    // One scrape.
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = keyward::Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    let entries = kw.providers().list().expect("providers");
    for e in &entries {
        kw.limiter().apply_spec(&e.spec);
    }
    for k in 0..10_000 {
        kw.pipeline().recorder().record(attempt(k, Utc::now()));
    }
    for b in 0..50 {
        let name = format!("bot-{b}");
        kw.gateway().stats().forwarded(&name, 2, Duration::from_millis(3), 200);
        kw.gateway().stats().refused(&name, keyward::gateway::stats::Refusal::Scope, "no trade scope");
    }
    let text = keyward::metrics::render(&kw).expect("render");
    println!("one scrape: {} providers' limits, {} lines, {} bytes", entries.len(), text.lines().count(), text.len());
    c.bench_function("metrics scrape (render)", |b| b.iter(|| keyward::metrics::render(&kw).expect("render")));

    // Exports over recorded calls.
    let n = calls();
    let store = Store::open(&dir.path().join("usage.db")).expect("store");
    let recorder = Recorder::start(store.clone());
    let now = Utc::now();
    let span = chrono::Duration::days(30).num_milliseconds();
    let started = Instant::now();
    for i in 0..n {
        recorder.record(attempt(i as usize, now - chrono::Duration::milliseconds(span * (n - i) as i64 / n as i64)));
    }
    recorder.flush();
    let usage = UsageReader::new(store);
    usage.prune(now).expect("prune");
    println!(
        "recorded {n} calls over 30 days in {:.1} s (raw rows past 3 days pruned)",
        started.elapsed().as_secs_f64()
    );
    let month = |bucket| ExportRequest {
        since: now - chrono::Duration::days(30),
        until: now,
        group_by: GroupBy::Endpoint,
        bucket,
        provider: None,
    };
    let hourly = export(&usage, &month(Bucket::Hour)).expect("export");
    println!(
        "30 days per hour by endpoint: {} rows, {} bytes of CSV",
        hourly.rows.len(),
        hourly.to_csv().expect("csv").len()
    );
    c.bench_function("usage export, 30 days, whole range, CSV", |b| {
        b.iter(|| export(&usage, &month(Bucket::None)).expect("export").to_csv().expect("csv"))
    });
    c.bench_function("usage export, 30 days per hour, CSV", |b| {
        b.iter(|| export(&usage, &month(Bucket::Hour)).expect("export").to_csv().expect("csv"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
