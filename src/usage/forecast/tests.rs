use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};

use super::*;

/// A weekday office-hours profile: busy 9–17 on weekdays, quieter evenings, quiet weekends.
fn weekly(how: usize) -> f64 {
    let (day, hour) = (how / 24, how % 24);
    let base = if day >= 5 { 4.0 } else { 10.0 };
    base + if (9..17).contains(&hour) { 30.0 } else { 0.0 } + (hour % 3) as f64
}

fn gaussian(rng: &mut rand::rngs::StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[test]
fn a_constant_weekly_profile_is_forecast_as_that_profile_with_no_band() {
    // Three weeks starting on a Wednesday 05:00 (hour of week 53).
    let phase = 2 * 24 + 5;
    let series: Vec<f64> = (0..21 * 24).map(|i| weekly((phase + i) % 168)).collect();
    let model = SeasonalModel::fit(&series, phase).expect("fits");
    assert_eq!(model.method, Method::HourOfWeek);
    assert_eq!(model.slope, 0.0);
    assert_eq!(model.sigma_day, 0.0, "an exact profile leaves nothing unexplained");
    for t in series.len()..series.len() + 2 * 168 {
        let want = weekly((phase + t) % 168);
        assert!((model.predict(t) - want).abs() < 1e-9, "hour {t}: {} vs {want}", model.predict(t));
    }
    assert_eq!(model.band(24.0 * 10.0), 0.0);
}

#[test]
fn a_level_stays_level_and_a_straight_trend_is_continued() {
    let level = vec![7.0; 5 * 24];
    let model = SeasonalModel::fit(&level, 0).expect("fits");
    assert_eq!(model.method, Method::HourOfDay, "five days: a daily profile");
    assert!((model.predict(500) - 7.0).abs() < 1e-9);

    let trend: Vec<f64> = (0..16 * 24).map(|t| 5.0 + 0.1 * t as f64).collect();
    let model = SeasonalModel::fit(&trend, 0).expect("fits");
    assert!((model.slope - 0.1).abs() < 1e-9, "slope {}", model.slope);
    for t in [384, 400, 700] {
        assert!((model.predict(t) - (5.0 + 0.1 * t as f64)).abs() < 1e-6, "hour {t}: {}", model.predict(t));
    }
    // A falling trend never forecasts negative usage.
    let falling: Vec<f64> = (0..4 * 24).map(|t| 96.0 - t as f64).collect();
    let model = SeasonalModel::fit(&falling, 0).expect("fits");
    assert_eq!(model.predict(200), 0.0);
}

#[test]
fn noise_widens_the_band_but_the_profile_holds() {
    let phase = 0;
    let noisy = |amplitude: f64, seed: u64| -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..28 * 24).map(|i| (weekly((phase + i) % 168) + amplitude * gaussian(&mut rng)).max(0.0)).collect()
    };
    let quiet = SeasonalModel::fit(&noisy(1.0, 7), phase).expect("fits");
    let loud = SeasonalModel::fit(&noisy(4.0, 7), phase).expect("fits");
    assert!(quiet.sigma_day > 0.0);
    assert!(loud.band(240.0) > 2.5 * quiet.band(240.0), "{} vs {}", loud.band(240.0), quiet.band(240.0));
    assert_eq!(loud.slope, 0.0, "noise is not a trend");
    // A week ahead, the sum is within a few percent of the true profile's.
    let n = 28 * 24;
    let want: f64 = (n..n + 168).map(|t| weekly((phase + t) % 168)).sum();
    let got: f64 = (n..n + 168).map(|t| loud.predict(t)).sum();
    assert!((got - want).abs() / want < 0.03, "{got} vs {want}");
    // Hours ahead widen it: ten days' band is wider than one day's.
    assert!(loud.band(240.0) > loud.band(24.0));
}

#[test]
fn too_little_history_says_so_instead_of_guessing() {
    let err = SeasonalModel::fit(&[3.0; 48], 0).expect_err("two days");
    assert_eq!(err, FitError::TooLittleHistory { hours: 48, needed_days: 3 });
    assert!(err.to_string().contains("at least 3 days") && err.to_string().contains("48 hours"), "{err}");

    let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).single().expect("time");
    let first = now.timestamp() - 48 * 3600;
    let hourly: HashMap<i64, f64> = (0..49).map(|i| (first + i * 3600, 3.0)).collect();
    let input = ForecastInput {
        provider: Some("binance".into()),
        counted: Counted::Calls,
        operations: Vec::new(),
        hourly,
        first_hour: Some(first),
        quota: None,
    };
    let view = forecast(&input, now);
    assert_eq!(view.method, NO_FORECAST);
    assert_eq!(view.projected, None);
    assert!(view.note.as_deref().unwrap_or_default().contains("at least 3 days"), "{:?}", view.note);
    assert_eq!(view.history_days, 2.0);
    // What was counted this month still shows: 49 hours of 3 calls.
    assert_eq!(view.actual_to_date, 147.0);
    assert_eq!(view.days.len(), 31);
    assert!(view.days.iter().all(|d| d.forecast.is_none()));
}

#[test]
fn the_month_is_projected_hour_by_hour_and_the_quota_run_out_is_dated() {
    // Ten calls every hour for the last 20 days; it is 12:30 on 15 March.
    let now = Utc.with_ymd_and_hms(2026, 3, 15, 12, 30, 0).single().expect("time");
    let now_hour = now.timestamp() - 1800;
    let first = now_hour - 20 * 86_400;
    let hourly: HashMap<i64, f64> = (0..=20 * 24).map(|i| (first + i * 3600, 10.0)).collect();
    let input = ForecastInput {
        provider: Some("coinmarketcap".into()),
        counted: Counted::Weight,
        operations: vec!["ticker".into()],
        hourly,
        first_hour: Some(first),
        quota: Some(("monthly_credits".into(), 5000.0)),
    };
    let view = forecast(&input, now);
    assert_eq!(view.method, "hour_of_week_profile");
    assert_eq!(
        (view.period_start.as_str(), view.period_end.as_str()),
        ("2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z")
    );
    assert_eq!(view.counted, "weight");
    // 14 whole days and 13 hours (the current one so far) of 10.
    assert_eq!(view.actual_to_date, 14.0 * 240.0 + 130.0);
    // The rest of this hour (5) and 395 more hours of 10.
    assert_eq!(view.projected, Some(3490.0 + 5.0 + 3950.0));
    assert_eq!(view.projected_low, view.projected, "a constant series has no band");
    let quota = view.quota.as_ref().expect("quota");
    assert_eq!(quota.used_pct, 69.8);
    // 1510 more after now: 5 this hour, then 150.5 hours from 13:00 on the 15th.
    assert_eq!(quota.runs_out_at.as_deref(), Some("2026-03-21T19:30:00.000Z"));

    assert_eq!(view.days.len(), 31);
    let first_day = &view.days[0];
    assert_eq!((first_day.date.as_str(), first_day.actual, first_day.forecast), ("2026-03-01", Some(240.0), None));
    let today = &view.days[14];
    assert_eq!((today.actual, today.forecast), (Some(130.0), Some(245.0)));
    assert_eq!(today.cumulative_forecast, Some(3490.0 + 5.0 + 110.0));
    let last = view.days.last().expect("last day");
    assert_eq!((last.actual, last.forecast, last.cumulative_forecast), (None, Some(240.0), view.projected));
}

#[test]
fn a_quota_already_spent_is_dated_when_it_ran_out() {
    let now = Utc.with_ymd_and_hms(2026, 2, 3, 6, 0, 0).single().expect("time");
    let start = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().expect("time").timestamp();
    let hourly: HashMap<i64, f64> = (0..54).map(|i| (start + i * 3600, 100.0)).collect();
    let input = ForecastInput {
        provider: Some("p".into()),
        counted: Counted::Calls,
        operations: Vec::new(),
        hourly,
        first_hour: Some(start),
        quota: Some(("monthly".into(), 1000.0)),
    };
    let view = forecast(&input, now);
    assert_eq!(view.days.len(), 28, "February");
    let quota = view.quota.expect("quota");
    assert_eq!(quota.runs_out_at.as_deref(), Some("2026-02-01T10:00:00.000Z"), "the tenth hour spent it");
    assert!(quota.used_pct > 100.0);
}
