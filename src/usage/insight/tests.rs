use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::alerts::{AlertFilter, NewRule, RuleKind, Suppression};

fn open() -> (tempfile::TempDir, Keyward) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(crate::vault::MemoryStore::new())).expect("open");
    (dir, kw)
}

/// Writes rollup rows as the recorder would.
fn put(kw: &Keyward, hour: i64, provider: &str, operation: &str, key: &str, calls: i64, weight: i64) {
    kw.store()
        .with_conn(|c| {
            c.execute(
                "INSERT INTO calls_hourly (hour, provider, environment, operation, key_label, caller, calls, errors, weight, cost, latency_ms, units)
                 VALUES (?1, ?2, 'production', ?3, ?4, 'cli', ?5, 0, ?6, 0.0, 0, ?6)",
                rusqlite::params![hour, provider, operation, key, calls, weight],
            )?;
            Ok(())
        })
        .expect("insert");
}

/// 12:20 on Wednesday 4 March 2026; the hour that just ended is 11:00–12:00.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 12, 20, 0).single().expect("time")
}

fn usage_alerts(kw: &Keyward) -> Vec<crate::alerts::Alert> {
    let mut all = kw.alerts().list(&AlertFilter { limit: 0, ..Default::default() }).expect("alerts");
    all.retain(|a| a.rule_kind == "usage_anomaly");
    all
}

#[test]
fn the_hourly_scan_raises_one_alert_per_anomaly_and_never_twice_for_the_same_hour() {
    let (_dir, kw) = open();
    let ended = hour_floor(now()) - 3600;
    for i in 1..=28 * 24 {
        put(&kw, ended - i * 3600, "binance", "ticker", "", 30, 60);
    }
    put(&kw, ended, "binance", "ticker", "", 400, 800);
    put(&kw, ended, "binance", "place_order", "trader", 2, 2);

    let found = kw.scan_usage_anomalies(now()).expect("scan");
    let mut kinds: Vec<&str> = found.iter().map(|a| a.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["calls_spike", "new_endpoint"]);
    let alerts = usage_alerts(&kw);
    let mut titles: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["Calls spike: binance ticker", "New endpoint: binance place_order"]);
    let spike = alerts.iter().find(|a| a.title.starts_with("Calls spike")).expect("spike alert");
    assert!(spike.body.contains("400 calls 11:00–12:00 UTC on 2026-03-04, usually about 30"), "{}", spike.body);
    assert_eq!(spike.severity, crate::alerts::Severity::Warning);

    // The same hour again (a second tick, a restart): nothing new.
    assert!(kw.scan_usage_anomalies(now() + Duration::minutes(5)).expect("scan").is_empty());
    assert_eq!(usage_alerts(&kw).len(), 2);
    // Before an hour has ended (and its minute of grace passed), it is not scanned.
    assert!(kw.scan_usage_anomalies(now() + Duration::minutes(40)).expect("scan").is_empty());
}

#[test]
fn a_repeated_anomaly_is_one_open_alert_and_after_it_ends_the_cooldown_holds_its_notice() {
    let (_dir, kw) = open();
    let rule = kw
        .alerts()
        .rules()
        .expect("rules")
        .into_iter()
        .find(|r| r.kind == RuleKind::UsageAnomaly)
        .expect("default rule");
    let mut slow = NewRule::from(rule.clone());
    slow.cooldown = std::time::Duration::from_secs(3 * 24 * 3600);
    kw.alerts().update_rule(rule.id, slow).expect("cooldown of three days");

    let ended = hour_floor(now()) - 3600;
    for i in 1..=28 * 24 {
        put(&kw, ended - i * 3600, "binance", "ticker", "", 30, 60);
    }
    for h in [ended, ended + 3600, ended + 30 * 3600] {
        put(&kw, h, "binance", "ticker", "", 500, 1000);
    }
    assert_eq!(kw.scan_usage_anomalies(now()).expect("scan").len(), 1);
    // The next hour spikes too: found, but the open alert covers it.
    assert_eq!(kw.scan_usage_anomalies(now() + Duration::hours(1)).expect("scan").len(), 1);
    let alerts = usage_alerts(&kw);
    assert_eq!(alerts.len(), 1, "one open alert for the ongoing spike");
    assert_eq!(alerts[0].suppressed, None, "the first one notifies");

    // A day later the alert has ended by itself; a new spike is recorded, but inside the
    // rule's cooldown it does not notify again.
    let later = now() + Duration::hours(30);
    assert_eq!(kw.scan_usage_anomalies(later).expect("scan").len(), 1);
    let alerts = usage_alerts(&kw);
    assert_eq!(alerts.len(), 2);
    let newest = &alerts[0];
    assert_eq!(newest.suppressed, Some(Suppression::Cooldown));
    assert!(alerts[1].resolved_at.is_some(), "the first alert ended after {} hours", crate::alerts::ANOMALY_TTL_HOURS);
}

#[test]
fn a_provider_with_a_monthly_quota_is_forecast_in_the_quota_terms() {
    let (_dir, kw) = open();
    let now_hour = hour_floor(now());
    // CoinMarketCap: 10 000 credits a month for `ticker` (weight), 20 days of 12 an hour.
    for i in 0..=20 * 24 {
        put(&kw, now_hour - i * 3600, "coinmarketcap", "ticker", "main", 10, 12);
        put(&kw, now_hour - i * 3600, "coinmarketcap", "api_usage", "main", 5, 5);
    }
    // The free Basic plan includes 10 000 credits: the forecast counts billed units against it
    // (here each hour's units are its weight: 17 an hour).
    let billed = kw.usage_forecast_at(Some("coinmarketcap".into()), now()).expect("forecast");
    assert_eq!((billed.counted.as_str(), billed.operations.is_empty()), ("units", true));
    let plan = billed.quota.as_ref().expect("the plan's credits");
    assert_eq!((plan.rule.as_str(), plan.limit), ("Basic (free) plan", 10_000.0));
    assert_eq!(billed.actual_to_date, 85.0 * 17.0);
    assert!(plan.runs_out_at.is_some(), "17 an hour spends 10 000 before the month ends");

    // Without a plan, the monthly_quota rule's own terms.
    kw.providers().set("coinmarketcap", &[("billing.plan", "\"\"")]).expect("no plan");
    let view = kw.usage_forecast_at(Some("coinmarketcap".into()), now()).expect("forecast");
    assert_eq!((view.counted.as_str(), view.operations.clone()), ("weight", vec!["ticker".to_string()]));
    let quota = view.quota.as_ref().expect("a monthly quota");
    assert_eq!((quota.rule.as_str(), quota.limit), ("monthly_credits", 10_000.0));
    // 3 days and 13 hours of March at 12: 1 020 so far.
    assert_eq!(view.actual_to_date, 1020.0);
    assert_eq!(view.method, "hour_of_week_profile");
    // 8 more this hour and 12 an hour for 659 hours: 8 936 by the month's end, under the quota.
    assert_eq!(view.projected, Some(1020.0 + 8.0 + 659.0 * 12.0));
    assert_eq!(quota.runs_out_at, None);
    let all = kw.usage_forecast_at(None, now()).expect("every provider");
    assert_eq!((all.counted.as_str(), all.quota.is_none()), ("calls", true));
    assert_eq!(all.actual_to_date, 85.0 * 15.0);

    let err = kw.usage_forecast_at(Some("coinmarketcapp".into()), now()).expect_err("a typo");
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
    assert!(err.to_string().contains("coinmarketcapp"), "{err}");
}
