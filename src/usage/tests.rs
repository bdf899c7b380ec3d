use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::pipeline::{AttemptRecord, Outcome, Recorder};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("valid date")
}

struct Call {
    minutes: i64,
    provider: &'static str,
    operation: &'static str,
    key: Option<&'static str>,
    caller: &'static str,
    outcome: Outcome,
    latency_ms: u64,
    weight: u32,
    cost: f64,
    units: f64,
}

fn call(minutes: i64, provider: &'static str, operation: &'static str) -> Call {
    Call {
        minutes,
        provider,
        operation,
        key: None,
        caller: "ui",
        outcome: Outcome::Ok,
        latency_ms: 100,
        weight: 1,
        cost: 0.0,
        units: 0.0,
    }
}

/// A store holding `calls`, written by the pipeline's own recorder.
fn usage_with(calls: Vec<Call>) -> (tempfile::TempDir, UsageReader) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("store opens");
    let recorder = Recorder::start(store.clone());
    for c in calls {
        recorder.record(AttemptRecord {
            ts: t0() + chrono::Duration::minutes(c.minutes),
            provider: c.provider.into(),
            environment: "production".into(),
            operation: c.operation.into(),
            key_label: c.key.map(str::to_string),
            caller: c.caller.into(),
            attempt: 1,
            status: Some(if c.outcome == Outcome::Ok { 200 } else { 500 }),
            outcome: c.outcome,
            latency: Duration::from_millis(c.latency_ms),
            bytes_out: 10,
            bytes_in: 100,
            weight: c.weight,
            cost: c.cost,
            units: c.units,
        });
    }
    recorder.flush();
    (dir, UsageReader::new(store))
}

fn day(group_by: GroupBy) -> UsageQuery {
    UsageQuery { since: t0(), until: t0() + chrono::Duration::hours(24), provider: None, group_by }
}

fn sample() -> Vec<Call> {
    vec![
        Call { weight: 2, key: Some("main"), latency_ms: 100, ..call(5, "binance", "ticker") },
        Call { weight: 2, key: Some("main"), latency_ms: 300, caller: "cli", ..call(65, "binance", "ticker") },
        Call {
            weight: 2,
            key: Some("main"),
            outcome: Outcome::HttpError,
            latency_ms: 200,
            caller: "bot-1",
            cost: 0.5,
            ..call(66, "binance", "ticker")
        },
        Call { caller: "monitor", ..call(10, "binance", "server_time") },
        Call { caller: "monitor", outcome: Outcome::Timeout, cost: 0.25, ..call(130, "kraken", "server_time") },
        // Outside the day: never counted.
        call(-1, "binance", "ticker"),
        call(24 * 60, "binance", "ticker"),
    ]
}

#[test]
fn endpoints_read_provider_and_operation_with_calls_errors_weight_cost_and_latency() {
    let (_dir, usage) = usage_with(sample());
    let rows = usage.summary(&day(GroupBy::Endpoint)).expect("summary");
    let groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, ["binance ticker", "binance server_time", "kraken server_time"], "most calls first");
    let ticker = &rows[0];
    assert_eq!((ticker.calls, ticker.errors, ticker.weight), (3, 1, 6));
    assert!((ticker.cost - 0.5).abs() < 1e-9);
    assert!((ticker.avg_latency_ms - 200.0).abs() < 1e-9);

    let total = totals(&rows);
    assert_eq!((total.calls, total.errors, total.weight), (5, 2, 8));
    assert!((total.cost - 0.75).abs() < 1e-9);
    assert!((total.avg_latency_ms - 160.0).abs() < 1e-9, "weighted by calls: {}", total.avg_latency_ms);
}

#[test]
fn calls_without_a_key_group_under_no_key_and_callers_and_providers_group_by_name() {
    let (_dir, usage) = usage_with(sample());
    let keys: Vec<(String, u64)> =
        usage.summary(&day(GroupBy::Key)).expect("keys").into_iter().map(|r| (r.group, r.calls)).collect();
    assert_eq!(keys, [("main".to_string(), 3), (NO_KEY.to_string(), 2)]);

    let callers: Vec<(String, u64)> =
        usage.summary(&day(GroupBy::Caller)).expect("callers").into_iter().map(|r| (r.group, r.calls)).collect();
    assert_eq!(
        callers,
        [("monitor".to_string(), 2), ("bot-1".to_string(), 1), ("cli".to_string(), 1), ("ui".to_string(), 1)]
    );

    let providers: Vec<(String, u64)> =
        usage.summary(&day(GroupBy::Provider)).expect("providers").into_iter().map(|r| (r.group, r.calls)).collect();
    assert_eq!(providers, [("binance".to_string(), 4), ("kraken".to_string(), 1)]);
}

#[test]
fn a_provider_filter_keeps_only_that_providers_calls() {
    let (_dir, usage) = usage_with(sample());
    let q = UsageQuery { provider: Some("kraken".into()), ..day(GroupBy::Endpoint) };
    let rows = usage.summary(&q).expect("summary");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].group.as_str(), rows[0].calls, rows[0].errors), ("kraken server_time", 1, 1));
}

#[test]
fn the_series_has_one_bucket_per_hour_including_empty_ones() {
    let (_dir, usage) = usage_with(sample());
    let buckets = usage.series(&day(GroupBy::Endpoint), Duration::from_secs(3600)).expect("series");
    assert_eq!(buckets.len(), 24);
    assert_eq!(buckets[0].start, t0());
    assert_eq!(buckets[23].start, t0() + chrono::Duration::hours(23));
    let calls: Vec<u64> = buckets.iter().map(|b| b.calls).collect();
    assert_eq!(&calls[..4], [2, 2, 1, 0]);
    assert_eq!(calls.iter().sum::<u64>(), 5);
    assert_eq!((buckets[1].errors, buckets[2].errors), (1, 1));
    assert!((buckets[2].cost - 0.25).abs() < 1e-9);
}

#[test]
fn a_range_not_on_a_bucket_boundary_starts_at_the_bucket_holding_its_start() {
    let (_dir, usage) = usage_with(sample());
    let q = UsageQuery {
        since: t0() + chrono::Duration::minutes(30),
        until: t0() + chrono::Duration::minutes(150),
        ..day(GroupBy::Endpoint)
    };
    let buckets = usage.series(&q, Duration::from_secs(3600)).expect("series");
    let starts: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.start).collect();
    assert_eq!(starts, (0..3).map(|h| t0() + chrono::Duration::hours(h)).collect::<Vec<_>>());
    // The calls at minute 5 and 10 are before the range.
    assert_eq!(buckets.iter().map(|b| b.calls).collect::<Vec<_>>(), [0, 2, 1]);
}

#[test]
fn an_empty_database_gives_no_rows_and_all_empty_buckets() {
    let (_dir, usage) = usage_with(vec![]);
    assert!(usage.summary(&day(GroupBy::Caller)).expect("summary").is_empty());
    let q = UsageQuery { since: t0(), until: t0() + chrono::Duration::days(30), ..day(GroupBy::Caller) };
    let buckets = usage.series(&q, Duration::from_secs(86_400)).expect("series");
    assert_eq!(buckets.len(), 30);
    assert!(buckets.iter().all(|b| b.calls == 0 && b.errors == 0));
}

#[test]
fn bad_inputs_are_refused_naming_the_values() {
    let (_dir, usage) = usage_with(vec![]);
    let backwards = UsageQuery { since: t0() + chrono::Duration::hours(1), until: t0(), ..day(GroupBy::Key) };
    let msg = usage.summary(&backwards).expect_err("since after until").to_string();
    assert!(msg.contains("2026-03-01T01:00:00.000Z") && msg.contains("2026-03-01T00:00:00.000Z"), "{msg}");
    let err = usage.series(&day(GroupBy::Key), Duration::from_secs(5)).expect_err("5 s buckets");
    assert!(err.to_string().contains("5 s"), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::Invalid);
    let year = UsageQuery { since: t0(), until: t0() + chrono::Duration::days(3650), ..day(GroupBy::Key) };
    let err = usage.series(&year, Duration::from_secs(60)).expect_err("too many buckets");
    assert!(err.to_string().contains("too many"), "{err}");

    assert!(UsageRange::parse("3x").expect_err("3x").to_string().contains("\"3x\""));
    assert!(GroupBy::parse("bot").expect_err("bot").to_string().contains("\"bot\""));
    assert_eq!(UsageRange::parse("7d").expect("7d"), UsageRange::Week);
    assert_eq!(GroupBy::parse("caller").expect("caller"), GroupBy::Caller);
}

/// Many calls over three days in every grouping: what the hourly rollup gives equals the raw
/// aggregation, for ranges on and off hour boundaries.
#[test]
fn the_hourly_rollup_gives_what_the_raw_rows_give() {
    let providers = ["binance", "kraken", "okx"];
    let ops = ["ticker", "order_book", "server_time"];
    let calls: Vec<Call> = (0..3 * 24 * 60)
        .step_by(7)
        .map(|m| Call {
            key: if m % 3 == 0 { Some("main") } else { None },
            caller: if m % 5 == 0 { "cli" } else { "ui" },
            outcome: match m {
                m if m % 11 == 0 => Outcome::HttpError,
                m if m % 17 == 0 => Outcome::Throttled,
                _ => Outcome::Ok,
            },
            weight: 1 + (m as u32 % 4),
            cost: if m % 2 == 0 { 0.001 } else { 0.0 },
            units: if m % 11 == 0 { 0.0 } else { 1.0 + (m % 3) as f64 },
            latency_ms: if m % 13 == 0 { 1_200 } else { 40 + (m as u64 % 200) },
            ..call(m, providers[m as usize % 3], ops[(m / 7) as usize % 3])
        })
        .collect();
    let (_dir, usage) = usage_with(calls);
    // Whole days (the daily rollup), days with hours at both ends, hours, and minutes.
    for (since_min, until_min) in
        [(0, 3 * 24 * 60), (17, 2 * 24 * 60 + 41), (1439, 3 * 24 * 60 - 1), (600, 601), (90, 150)]
    {
        for group_by in GroupBy::ALL {
            let q = UsageQuery {
                since: t0() + chrono::Duration::minutes(since_min),
                until: t0() + chrono::Duration::minutes(until_min),
                provider: None,
                group_by,
            };
            let rolled = usage.summary(&q).expect("summary");
            // The same aggregation straight from the raw rows.
            let (filter, params) = q.filter();
            let sql = format!(
                "SELECT {} AS g, COUNT(*), SUM(outcome != 'ok'), SUM(weight), SUM(cost), AVG(latency_ms), SUM(units),
                        group_concat(latency_ms), SUM(outcome = 'throttled')
                 FROM calls WHERE {filter} GROUP BY g ORDER BY 2 DESC, g ASC",
                group_by.sql()
            );
            type Raw = (String, i64, i64, i64, f64, f64, f64, String, i64);
            let raw: Vec<Raw> = usage
                .store
                .with_conn(|c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .expect("raw");
            assert_eq!(rolled.len(), raw.len(), "{since_min}..{until_min} by {group_by:?}");
            for (r, w) in rolled.iter().zip(&raw) {
                assert_eq!(
                    (r.group.as_str(), r.calls, r.errors, r.weight),
                    (w.0.as_str(), w.1 as u64, w.2 as u64, w.3 as u64)
                );
                assert!((r.cost - w.4).abs() < 1e-9 && (r.avg_latency_ms - w.5).abs() < 1e-9, "{r:?} vs {w:?}");
                assert!((r.units - w.6).abs() < 1e-9, "units {r:?} vs {w:?}");
                assert_eq!(r.throttled, w.8 as u64, "throttled {r:?}");
                let mut h = [0; latency::BUCKETS];
                for l in w.7.split(',') {
                    h[latency::bucket(l.parse().expect("latency"))] += 1;
                }
                assert_eq!(r.latency, h, "latency buckets of {}", r.group);
                assert_eq!(r.p95_ms, latency::percentile(&h, 0.95));
            }
        }
        // Day and hour buckets hold what the raw rows in them hold.
        for size in [3600i64, 86_400] {
            let q = UsageQuery {
                since: t0() + chrono::Duration::minutes(since_min),
                until: t0() + chrono::Duration::minutes(until_min),
                provider: None,
                group_by: GroupBy::Provider,
            };
            let buckets = usage.series(&q, Duration::from_secs(size as u64)).expect("series");
            let (filter, params) = q.filter();
            let sql = format!(
                "SELECT (CAST(strftime('%s', ts) AS INTEGER) / {size}) * {size}, COUNT(*), SUM(units)
                 FROM calls WHERE {filter} GROUP BY 1"
            );
            let raw: Vec<(i64, i64, f64)> = usage
                .store
                .with_conn(|c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows =
                        stmt.query_map(params_from_iter(params.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .expect("raw buckets");
            for (start, calls, units) in raw {
                let b = buckets.iter().find(|b| b.start.timestamp() == start).expect("bucket");
                assert_eq!(b.calls, calls as u64, "{size} s bucket at {start}");
                assert!((b.units - units).abs() < 1e-9);
            }
        }
        let q = UsageQuery {
            since: t0() + chrono::Duration::minutes(since_min),
            until: t0() + chrono::Duration::minutes(until_min),
            provider: Some("kraken".into()),
            group_by: GroupBy::Provider,
        };
        let kraken = usage.summary(&q).expect("one provider");
        assert!(kraken.iter().all(|r| r.group == "kraken"));
    }
}

#[test]
fn pruning_deletes_only_raw_rows_past_the_retention_and_usage_still_counts_them() {
    let now = t0() + chrono::Duration::days(5);
    let (_dir, usage) = usage_with(vec![call(10, "binance", "ticker"), call(5 * 24 * 60 - 30, "binance", "ticker")]);
    usage.set_raw_retention_days(1).expect("one day");
    assert_eq!(usage.prune(now).expect("pruned"), 1, "only the call older than a day");
    let left: i64 =
        usage.store.with_conn(|c| Ok(c.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))?)).expect("count");
    assert_eq!(left, 1);
    let q = UsageQuery { since: t0(), until: now, provider: None, group_by: GroupBy::Provider };
    let rows = usage.summary(&q).expect("summary");
    assert_eq!(rows[0].calls, 2, "the pruned call is still counted, from the hourly rollup");
    let err = usage.set_raw_retention_days(0).expect_err("zero days");
    assert!(err.to_string().contains("0 days"), "{err}");
    assert_eq!(usage.raw_retention().expect("retention"), chrono::Duration::days(1));
}

#[test]
fn after_pruning_range_edges_and_minute_charts_come_from_the_minute_rollup() {
    let now = t0() + chrono::Duration::days(3);
    let (_dir, usage) = usage_with(vec![
        call(10, "binance", "ticker"),
        call(11, "binance", "ticker"),
        Call { outcome: Outcome::Throttled, ..call(75, "binance", "ticker") },
        call(3 * 24 * 60 - 5, "binance", "ticker"),
    ]);
    usage.set_raw_retention_days(1).expect("one day");
    assert_eq!(usage.prune(now).expect("pruned"), 3);
    // From minute 11: the call at minute 10 is before the range, to the minute.
    let q = UsageQuery {
        since: t0() + chrono::Duration::minutes(11),
        until: now,
        provider: None,
        group_by: GroupBy::Provider,
    };
    let rows = usage.summary(&q).expect("summary");
    assert_eq!((rows[0].calls, rows[0].throttled), (3, 1));
    // Five-minute buckets over the first two hours, long after their raw rows went.
    let early = UsageQuery { since: t0(), until: t0() + chrono::Duration::hours(2), ..q.clone() };
    let buckets = usage.series(&early, Duration::from_secs(300)).expect("series");
    let calls: Vec<(usize, u64)> =
        buckets.iter().enumerate().filter(|(_, b)| b.calls > 0).map(|(i, b)| (i, b.calls)).collect();
    assert_eq!(calls, [(2, 2), (15, 1)], "minutes 10-14 hold two calls, 75-79 one");
    // Two weeks on, the minute rows are pruned too; the hours still count every call.
    usage.prune(now + chrono::Duration::days(MINUTE_RETENTION_DAYS)).expect("pruned again");
    let left: i64 = usage
        .store
        .with_conn(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM calls_minutely WHERE minute < ?1", [now.timestamp()], |r| r.get(0))?)
        })
        .expect("count");
    assert_eq!(left, 0);
    let whole = UsageQuery { since: t0(), until: now, ..q };
    assert_eq!(usage.summary(&whole).expect("summary")[0].calls, 4);
}
