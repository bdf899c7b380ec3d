//! `keyward usage forecast` and `keyward usage anomalies` over four weeks of calls recorded
//! into a real data directory by the pipeline's recorder.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use keyward::pipeline::{AttemptRecord, Outcome};
use keyward::usage::anomaly::UsageAnomalies;
use keyward::usage::forecast::UsageForecast;
use keyward::vault::MemoryStore;
use keyward::Keyward;

use crate::support::{keyward, stderr, stdout};

fn attempt(ts: DateTime<Utc>, operation: &str, key: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        ts,
        provider: "binance".into(),
        environment: "production".into(),
        operation: operation.into(),
        key_label: key.map(str::to_string),
        caller: "bot:grid".into(),
        attempt: 1,
        status: Some(200),
        outcome: Outcome::Ok,
        latency: Duration::from_millis(40),
        bytes_out: 0,
        bytes_in: 100,
        weight: 2,
        cost: 0.0,
        units: 0.0,
    }
}

fn hour_start(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(3600) * 3600, 0).expect("hour")
}

#[test]
fn forecast_and_anomalies_read_four_weeks_of_recorded_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let first = keyward(data, &["usage"]);
    assert!(first.status.success(), "{}", stderr(&first));

    // Four weeks of a bot reading the ticker 12 times an hour and placing orders with key
    // "trader" at every hour of the day but one; then, in the hour that just ended, a burst of
    // reads, an order at that one hour, and a first call of `account`.
    let ended = hour_start(Utc::now()) - chrono::Duration::hours(1);
    let odd_hour = ended.hour();
    let month_start = Utc.with_ymd_and_hms(ended.year(), ended.month(), 1, 0, 0, 0).single().expect("month");
    let mut this_month = 0u64;
    {
        let kw = Keyward::open_with_secrets(data, Arc::new(MemoryStore::new())).expect("core opens");
        let recorder = kw.pipeline().recorder().clone();
        let mut record = |a: AttemptRecord| {
            if a.ts >= month_start {
                this_month += 1;
            }
            recorder.record(a);
        };
        for h in 1..=28 * 24 {
            let hour = ended - chrono::Duration::hours(h);
            for i in 0..12 {
                record(attempt(hour + chrono::Duration::minutes(5 * i), "ticker", None));
            }
            if hour.hour() != odd_hour {
                record(attempt(hour + chrono::Duration::minutes(7), "place_order", Some("trader")));
            }
        }
        for i in 0..240 {
            record(attempt(ended + chrono::Duration::seconds(10 * i), "ticker", None));
        }
        record(attempt(ended + chrono::Duration::minutes(30), "place_order", Some("trader")));
        record(attempt(ended + chrono::Duration::minutes(31), "account", Some("trader")));
        kw.pipeline().recorder().flush();
    }

    let out = keyward(data, &["--json", "usage", "anomalies", "--since", "24h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let view: UsageAnomalies = serde_json::from_str(&stdout(&out)).expect("the anomalies view");
    let hour = keyward::store::fmt_ts(ended);
    let mut found: Vec<(&str, &str, Option<&str>, &str)> = view
        .anomalies
        .iter()
        .map(|a| (a.kind.as_str(), a.operation.as_str(), a.key.as_deref(), a.hour.as_str()))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        vec![
            ("calls_spike", "ticker", None, hour.as_str()),
            ("new_endpoint", "account", Some("trader"), hour.as_str()),
            ("unusual_trading_hour", "place_order", Some("trader"), hour.as_str()),
        ],
        "the three injected departures and nothing from the 23 ordinary hours"
    );
    let spike = view.anomalies.iter().find(|a| a.kind == "calls_spike").expect("spike");
    assert_eq!((spike.observed, spike.expected), (240.0, 12.0));
    assert_eq!(view.range, "24h");

    let text = keyward(data, &["usage", "anomalies"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(stdout(&text).contains("240 calls") && stdout(&text).contains("unusual_trading_hour"), "{}", stdout(&text));

    let out = keyward(data, &["--json", "usage", "forecast", "--provider", "binance"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let forecast: UsageForecast = serde_json::from_str(&stdout(&out)).expect("the forecast view");
    assert_eq!(forecast.provider.as_deref(), Some("binance"));
    assert_eq!((forecast.counted.as_str(), forecast.method.as_str()), ("calls", "hour_of_week_profile"));
    assert_eq!(forecast.history_days, 28.0);
    assert_eq!(forecast.actual_to_date, this_month as f64, "every call recorded this month");
    let projected = forecast.projected.expect("a projection");
    let (low, high) = (forecast.projected_low.expect("low"), forecast.projected_high.expect("high"));
    assert!(low <= projected && projected <= high && low >= forecast.actual_to_date, "{low} {projected} {high}");
    assert_eq!(forecast.days.first().map(|d| d.date.as_str()), Some(&*format!("{}", month_start.format("%Y-%m-%d"))));
    assert!(forecast.quota.is_none(), "binance has no monthly quota");

    let text = keyward(data, &["usage", "forecast", "--provider", "binance"]);
    assert!(
        stdout(&text).contains("calls so far this month") && stdout(&text).contains("expected by"),
        "{}",
        stdout(&text)
    );
    let bad = keyward(data, &["--json", "usage", "forecast", "--provider", "binancee"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("\"notFound\"") && stderr(&bad).contains("binancee"), "{}", stderr(&bad));
}
