//! Uptime of every monitored endpoint from seeded rollups (criterion).
//!
//! Seeds 2,000 providers with 400 days of daily rollups and 8 days of hourly rollups (what
//! the default retention keeps), then measures `Monitor::uptime_all` for 24 h, 90 d and 1 y.
//! The requirement: 90-day uptime of 2,000 endpoints in under 100 ms.
//!
//! `cargo bench -p keyward --bench monitor_uptime`

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use keyward::clock::SystemClock;
use keyward::monitor::{Agg, Monitor, MonitorOptions, UptimeWindow};
use keyward::store::Store;

const PROVIDERS: usize = 2_000;
const DAYS: i64 = 400;
const HOURS: i64 = 8 * 24;

fn seed(store: &Store, now: chrono::DateTime<Utc>) {
    let today = now.timestamp_millis().div_euclid(86_400_000) * 86_400_000;
    let this_hour = now.timestamp_millis().div_euclid(3_600_000) * 3_600_000;
    let mut agg = Agg::default();
    for i in 0..8640 {
        agg.add(i % 500 != 0, false, Duration::from_millis(40 + (i % 70) as u64));
    }
    let hist = agg.hist.encode();
    store
        .with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut p = tx.prepare("INSERT INTO monitor_providers (provider) VALUES (?1)")?;
                let mut day = tx.prepare(
                    "INSERT INTO rollup_day (provider, bucket, count, failures, maintenance, lat_count, lat_sum,
                                             lat_min, lat_max, lat_p95, hist)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, 40, 109, 105, ?7)",
                )?;
                let mut hour = tx.prepare(
                    "INSERT INTO rollup_hour (provider, bucket, count, failures, maintenance, lat_count, lat_sum,
                                              lat_min, lat_max, lat_p95, hist)
                     VALUES (?1, ?2, 360, ?3, 0, ?4, ?5, 40, 109, 105, ?6)",
                )?;
                for n in 0..PROVIDERS {
                    let name = format!("endpoint-{n:04}");
                    p.execute([&name])?;
                    for d in 0..DAYS {
                        let failures = ((n as i64 + d) % 7) * 3;
                        day.execute(rusqlite::params![
                            name,
                            today - d * 86_400_000,
                            8640,
                            failures,
                            8640 - failures,
                            (8640 - failures) * 75,
                            hist
                        ])?;
                    }
                    for h in 0..HOURS {
                        let failures = (n as i64 + h) % 3;
                        hour.execute(rusqlite::params![
                            name,
                            this_hour - h * 3_600_000,
                            failures,
                            360 - failures,
                            (360 - failures) * 75,
                            hist
                        ])?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .expect("seed rollups");
}

fn uptime_all(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("store");
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("date");
    let started = std::time::Instant::now();
    seed(&store, now);
    eprintln!(
        "seeded {PROVIDERS} providers x {DAYS} daily + {HOURS} hourly rollups in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let monitor = Monitor::open(store, Arc::new(SystemClock), MonitorOptions::default()).expect("monitor");
    let all = monitor.uptime_all(UptimeWindow::Quarter, now).expect("uptime_all");
    assert_eq!(all.len(), PROVIDERS);
    assert!(all.iter().all(|(_, u)| u.checks == 91 * 8640), "91 daily buckets (start rounded down)");

    let mut group = c.benchmark_group("monitor_uptime_all_2000");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    for window in [UptimeWindow::Day, UptimeWindow::Quarter, UptimeWindow::Year] {
        group.bench_function(window.as_str(), |b| {
            b.iter(|| monitor.uptime_all(window, now).expect("uptime_all"));
        });
    }
    group.finish();
    c.bench_function("monitor_uptime_one_provider_90d", |b| {
        b.iter(|| monitor.uptime("endpoint-1234", UptimeWindow::Quarter, now).expect("uptime"));
    });
}

criterion_group!(benches, uptime_all);
criterion_main!(benches);
