use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};

use super::*;

const H: i64 = 3600;

/// Monday 2 March 2026, 00:00 UTC: the scanned week starts here.
fn monday() -> i64 {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("time").timestamp()
}

/// A bot's usual calls: busy on weekday working hours, quieter at night and at weekends.
fn usual(hour: i64) -> f64 {
    let day = (hour.div_euclid(86_400) + 3).rem_euclid(7); // 0 = Monday
    let hod = hour.div_euclid(H).rem_euclid(24);
    let weekend = day >= 5;
    match (weekend, (8..18).contains(&hod)) {
        (false, true) => 240.0,
        (false, false) => 40.0,
        (true, true) => 90.0,
        (true, false) => 25.0,
    }
}

fn noisy(mean: f64, rng: &mut rand::rngs::StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mean + mean.sqrt() * z).round().max(0.0)
}

fn row(hour: i64, operation: &str, key: &str, calls: f64, errors: f64, weight: f64) -> HourRow {
    HourRow { hour, provider: "binance".into(), operation: operation.into(), key: key.into(), calls, errors, weight }
}

/// Four weeks of history and the scanned week of a `ticker` series with weekly seasonality and
/// counting noise.
fn seasonal_rows(seed: u64) -> Vec<HourRow> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = monday() - 28 * 86_400;
    (0..35 * 24)
        .map(|i| {
            let hour = start + i * H;
            let calls = noisy(usual(hour), &mut rng);
            row(hour, "ticker", "", calls, (calls * 0.01).floor(), calls)
        })
        .collect()
}

fn week(rows: Vec<HourRow>) -> DetectInput {
    DetectInput {
        first_hour: rows.iter().map(|r| r.hour).min(),
        rows,
        from: monday(),
        to: monday() + 7 * 86_400,
        trade_ops: HashSet::new(),
    }
}

fn kinds(found: &[Anomaly]) -> Vec<(&str, &str)> {
    found.iter().map(|a| (a.kind.as_str(), a.hour.as_str())).collect()
}

#[test]
fn a_normal_week_with_weekly_seasonality_and_noise_raises_nothing() {
    for seed in [1, 2, 3] {
        let found = detect(&week(seasonal_rows(seed)));
        assert!(found.is_empty(), "seed {seed}: {:?}", kinds(&found));
    }
}

#[test]
fn an_injected_spike_is_found_at_its_hour_with_the_usual_count() {
    let mut rows = seasonal_rows(1);
    // Wednesday 03:00, a night hour (usually 40): six times as many calls.
    let spike = monday() + 2 * 86_400 + 3 * H;
    let r = rows.iter_mut().find(|r| r.hour == spike).expect("hour");
    r.calls = 240.0;
    r.weight = 240.0;
    // And Saturday 14:00 (usually 90) at 400.
    let weekend = monday() + 5 * 86_400 + 14 * H;
    let r = rows.iter_mut().find(|r| r.hour == weekend).expect("hour");
    r.calls = 400.0;
    r.weight = 400.0;
    let found = detect(&week(rows));
    assert_eq!(
        kinds(&found),
        vec![("calls_spike", "2026-03-07T14:00:00.000Z"), ("calls_spike", "2026-03-04T03:00:00.000Z")],
        "newest first"
    );
    let night = &found[1];
    assert_eq!((night.observed, night.operation.as_str(), night.key.as_deref()), (240.0, "ticker", None));
    assert!((night.expected - 40.0).abs() <= 8.0, "the usual night hour: {}", night.expected);
    assert!(night.score >= SPIKE_SCORE);
    assert_eq!(
        night.message,
        format!(
            "binance ticker: 240 calls 03:00–04:00 UTC on 2026-03-04, usually about {} at this hour.",
            night.expected.round()
        )
    );
    // The weekend hour is judged against weekends (90), not weekdays (240).
    assert!((found[0].expected - 90.0).abs() <= 15.0, "{}", found[0].expected);
}

#[test]
fn a_busy_weekday_hour_is_no_spike_against_a_quiet_weekend_and_tiny_counts_never_alarm() {
    // A series that only ever makes 1 call an hour; one hour has 15 (15×, but tiny).
    let start = monday() - 28 * 86_400;
    let mut rows: Vec<HourRow> = (0..35 * 24).map(|i| row(start + i * H, "depth", "", 1.0, 0.0, 1.0)).collect();
    rows.iter_mut().find(|r| r.hour == monday() + 10 * H).expect("hour").calls = 15.0;
    assert!(detect(&week(rows)).is_empty());
}

#[test]
fn the_first_calls_of_a_new_endpoint_or_key_are_found_once() {
    let mut rows = seasonal_rows(4);
    let first = monday() + 30 * H;
    rows.push(row(first, "withdraw", "main", 2.0, 0.0, 2.0));
    rows.push(row(first + H, "withdraw", "main", 1.0, 0.0, 1.0));
    // A known endpoint with a new key is new too.
    rows.push(row(first + 2 * H, "ticker", "bot2", 3.0, 0.0, 3.0));
    let found = detect(&week(rows));
    assert_eq!(
        found
            .iter()
            .map(|a| (a.kind.as_str(), a.operation.as_str(), a.key.as_deref(), a.hour.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("new_endpoint", "ticker", Some("bot2"), "2026-03-03T08:00:00.000Z"),
            ("new_endpoint", "withdraw", Some("main"), "2026-03-03T06:00:00.000Z"),
        ]
    );
    assert!(
        found[1].message.contains("binance withdraw (key \"main\") was called for the first time in 28 days: 2 calls"),
        "{}",
        found[1].message
    );
}

#[test]
fn a_new_installation_has_no_new_endpoints() {
    // Everything started this week: nothing to compare with, nothing is "new".
    let rows: Vec<HourRow> = (0..7 * 24).map(|i| row(monday() + i * H, "ticker", "", 30.0, 0.0, 30.0)).collect();
    assert!(detect(&week(rows)).is_empty());
}

#[test]
fn an_error_burst_is_found_at_its_onset_and_a_higher_error_rate_by_its_score() {
    let mut rows = seasonal_rows(5);
    // Tuesday 10:00-12:00: most calls fail (a burst), flagged at its first hour only.
    for h in [monday() + 34 * H, monday() + 35 * H] {
        rows.iter_mut().find(|r| r.hour == h).expect("hour").errors = 200.0;
    }
    // Thursday 11:00: 30 % fail where 1 % is usual.
    let rate = monday() + 3 * 86_400 + 11 * H;
    let r = rows.iter_mut().find(|r| r.hour == rate).expect("hour");
    r.errors = (r.calls * 0.3).round();
    let found = detect(&week(rows));
    assert_eq!(
        kinds(&found),
        vec![("error_rate", "2026-03-05T11:00:00.000Z"), ("error_burst", "2026-03-03T10:00:00.000Z")]
    );
    assert!(found[0].message.contains("(30 %), usually 1."), "{}", found[0].message);
    assert!(found[1].message.contains("an error burst"), "{}", found[1].message);
}

#[test]
fn an_endpoint_that_always_fails_is_no_burst() {
    let start = monday() - 28 * 86_400;
    let rows: Vec<HourRow> = (0..35 * 24).map(|i| row(start + i * H, "ticker", "", 30.0, 20.0, 30.0)).collect();
    assert!(detect(&week(rows)).is_empty());
}

/// A key that trades between 08:00 and 17:00 every day, with a read-only key beside it.
fn trading_rows() -> Vec<HourRow> {
    let start = monday() - 28 * 86_400;
    let mut rows = Vec::new();
    for i in 0..35 * 24 {
        let hour = start + i * H;
        let hod = i % 24;
        if (8..17).contains(&hod) {
            rows.push(row(hour, "order", "trader", 4.0, 0.0, 4.0));
        }
        rows.push(row(hour, "balances", "trader", 2.0, 0.0, 20.0));
    }
    rows
}

fn trade_ops() -> HashSet<(String, String)> {
    [("binance".to_string(), "order".to_string())].into_iter().collect()
}

#[test]
fn a_trading_key_used_at_an_hour_it_never_trades_is_found() {
    let mut rows = trading_rows();
    // Friday 03:00: the trading key places orders in the night.
    let night = monday() + 4 * 86_400 + 3 * H;
    rows.push(row(night, "order", "trader", 6.0, 0.0, 6.0));
    // Reads at night are nothing unusual, and neither are orders at 09:00.
    let input = DetectInput { trade_ops: trade_ops(), ..week(rows) };
    let found = detect(&input);
    assert_eq!(kinds(&found), vec![("unusual_trading_hour", "2026-03-06T03:00:00.000Z")]);
    assert_eq!(
        (found[0].key.as_deref(), found[0].operation.as_str(), found[0].observed),
        (Some("trader"), "order", 6.0)
    );
    assert!(
        found[0].message.starts_with("Key \"trader\" traded on binance (order, 6 calls) 03:00–04:00 UTC"),
        "{}",
        found[0].message
    );

    // Without the spec saying `order` is a trade, it is only a new hour of an old series.
    let plain = detect(&week(trading_rows()));
    assert!(plain.is_empty(), "{:?}", kinds(&plain));
}

#[test]
fn a_jump_in_weight_per_call_is_found_but_more_calls_of_the_same_weight_are_not() {
    let mut rows = trading_rows();
    // Wednesday 13:00: the same 2 balance calls weigh 200 instead of 20.
    let heavy = monday() + 2 * 86_400 + 13 * H;
    rows.iter_mut().find(|r| r.hour == heavy && r.operation == "balances").expect("hour").weight = 400.0;
    // Thursday 13:00: twice the calls at the usual weight.
    let more = monday() + 3 * 86_400 + 13 * H;
    let r = rows.iter_mut().find(|r| r.hour == more && r.operation == "balances").expect("hour");
    r.calls = 4.0;
    r.weight = 40.0;
    let found = detect(&week(rows));
    assert_eq!(kinds(&found), vec![("weight_jump", "2026-03-04T13:00:00.000Z")]);
    assert_eq!((found[0].observed, found[0].expected, found[0].score), (400.0, 20.0, 20.0));
    assert!(found[0].message.contains("200.0 per call, usually 10.0"), "{}", found[0].message);
}
