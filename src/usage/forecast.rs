//! Usage forecast to the end of the billing period (the calendar month in UTC), from the
//! hourly rollup, with an uncertainty band and, where the provider has a monthly quota, the
//! day it runs out.
//!
//! # The model
//!
//! [`SeasonalModel::fit`] fits an hourly series (`&[f64]`, one value per hour) as
//! `value(t) = profile[season(t)] + slope · t`:
//!
//! - **Season.** An hour-of-week profile (168 values, Monday 00:00 UTC first) once there are
//!   [`WEEKLY_FROM_DAYS`] days of history, an hour-of-day profile (24 values) from
//!   [`MIN_HISTORY_DAYS`]; with less, [`FitError::TooLittleHistory`] says so instead of guessing.
//! - **Trend.** The within-season least-squares slope (the regression of value on time with one
//!   intercept per hour of the season). It is kept only when it is clearly there (|t| ≥ 2),
//!   so noise does not tilt a flat month.
//! - **Band.** The residuals summed per day give a daily spread `sigma_day` (inflated for the
//!   fitted profile's degrees of freedom); a span of `h` future hours gets ± z · sigma_day ·
//!   √(h / 24) around its sum, z = [`BAND_Z`] (a 90 % band if days vary independently). A
//!   noise-free series has a zero-width band.
//!
//! A constant weekly profile is forecast as exactly that profile, a pure level or linear trend
//! as exactly that line. Forecasts are never below zero.
//!
//! Written by hand rather than taken from a forecasting crate: the `augurs` family (MSTL +
//! ETS) is the well-kept Rust option, but it brings a linear-algebra stack for what is here
//! a few sums over at most 672 points, needs two full weekly cycles before it gives anything,
//! and does not give the exact, explainable answers a user checks a bill against ("your
//! usual Monday 9:00"). Additive Holt-Winters was the other candidate; with four weeks of
//! history its smoothing parameters are barely identifiable, and the fixed profile plus a
//! tested trend is the same idea with fewer knobs.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

/// How many days of hourly history the forecast reads.
pub const HISTORY_DAYS: i64 = 28;
/// Below this much history there is no forecast.
pub const MIN_HISTORY_DAYS: usize = 3;
/// From this much history the profile is per hour of the week, not of the day.
pub const WEEKLY_FROM_DAYS: usize = 14;
/// The band's half-width in daily standard deviations (two-sided 90 %).
pub const BAND_Z: f64 = 1.645;
/// A slope is kept when it is at least this many standard errors from zero.
const TREND_T: f64 = 2.0;

/// What is counted: one place to switch the forecast to another column of `calls_hourly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Every attempt.
    Calls,
    /// Their rate-limit weight (what a weight-counted quota spends).
    Weight,
    /// What the provider bills (calls or credits, as its plan counts them).
    Units,
}

impl Counted {
    /// What the plain forecast counts.
    pub const DEFAULT: Counted = Counted::Calls;

    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Calls => "calls",
            Counted::Weight => "weight",
            Counted::Units => "units",
        }
    }

    /// The `calls_hourly` column summed.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Counted::Calls => "calls",
            Counted::Weight => "weight",
            Counted::Units => "units",
        }
    }
}

/// Why a series cannot be forecast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("a forecast needs at least {needed_days} days of history; there are {hours} hours so far")]
    TooLittleHistory { hours: usize, needed_days: usize },
}

/// The seasonal profile used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    HourOfWeek,
    HourOfDay,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::HourOfWeek => "hour_of_week_profile",
            Method::HourOfDay => "hour_of_day_profile",
        }
    }
}

/// `method` of a forecast that had too little history.
pub const NO_FORECAST: &str = "insufficient_history";

/// A fitted seasonal model of an hourly series. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalModel {
    pub method: Method,
    /// Level per season slot at t = 0 (slot 0 is the season position of the first value).
    profile: Vec<f64>,
    /// Change per hour (0 when no clear trend).
    pub slope: f64,
    /// The spread of one day's total around the model.
    pub sigma_day: f64,
    /// Season position of the first value (hour of week, Monday 00:00 UTC = 0).
    phase: usize,
    /// How many values it was fitted on.
    pub hours: usize,
}

impl SeasonalModel {
    /// Fits `series` (one value per hour; `phase` is the hour of the week of its first value,
    /// Monday 00:00 UTC = 0).
    pub fn fit(series: &[f64], phase: usize) -> Result<SeasonalModel, FitError> {
        let n = series.len();
        if n < MIN_HISTORY_DAYS * 24 {
            return Err(FitError::TooLittleHistory { hours: n, needed_days: MIN_HISTORY_DAYS });
        }
        let (method, m) = if n >= WEEKLY_FROM_DAYS * 24 { (Method::HourOfWeek, 168) } else { (Method::HourOfDay, 24) };
        let slot = |i: usize| (phase + i) % m;
        // Per slot: count, mean time, mean value.
        let mut count = vec![0.0; m];
        let mut t_sum = vec![0.0; m];
        let mut y_sum = vec![0.0; m];
        for (i, y) in series.iter().enumerate() {
            let s = slot(i);
            count[s] += 1.0;
            t_sum[s] += i as f64;
            y_sum[s] += y;
        }
        let t_mean: Vec<f64> = (0..m).map(|s| if count[s] > 0.0 { t_sum[s] / count[s] } else { 0.0 }).collect();
        let y_mean: Vec<f64> = (0..m).map(|s| if count[s] > 0.0 { y_sum[s] / count[s] } else { 0.0 }).collect();
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for (i, y) in series.iter().enumerate() {
            let s = slot(i);
            let dt = i as f64 - t_mean[s];
            sxx += dt * dt;
            sxy += dt * (y - y_mean[s]);
        }
        let raw_slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let rss: f64 = series
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let s = slot(i);
                let e = y - y_mean[s] - raw_slope * (i as f64 - t_mean[s]);
                e * e
            })
            .sum();
        let dof = n.saturating_sub(m + 1).max(1) as f64;
        let se = (rss / dof / sxx.max(f64::MIN_POSITIVE)).sqrt();
        // A slope that moves the series by less than rounding over its length is no slope.
        let scale = 1.0 + series.iter().map(|y| y.abs()).sum::<f64>() / n as f64;
        let negligible = (raw_slope * n as f64).abs() < 1e-9 * scale;
        let clear = !negligible && (se == 0.0 || (raw_slope / se).abs() >= TREND_T);
        let slope = if clear { raw_slope } else { 0.0 };
        let profile: Vec<f64> = (0..m).map(|s| y_mean[s] - slope * t_mean[s]).collect();
        let mut model = SeasonalModel { method, profile, slope, sigma_day: 0.0, phase, hours: n };
        // Daily residual sums, whole days counted back from the end.
        let days = n / 24;
        let start = n - days * 24;
        let mut squares = 0.0;
        for d in 0..days {
            let from = start + d * 24;
            let sum: f64 = (from..from + 24).map(|i| series[i] - model.fitted(i)).sum();
            squares += sum * sum;
        }
        let inflation = n as f64 / (n.saturating_sub(m + 1).max(1)) as f64;
        model.sigma_day = (squares / days as f64 * inflation).sqrt();
        if model.sigma_day < 1e-9 {
            model.sigma_day = 0.0;
        }
        Ok(model)
    }

    /// The model's value at hour `t` (0 = the first fitted value), before clamping.
    fn fitted(&self, t: usize) -> f64 {
        let m = self.profile.len();
        self.profile[(self.phase + t) % m] + self.slope * t as f64
    }

    /// The forecast for hour `t` (past the history: `t >= hours`), never below zero.
    pub fn predict(&self, t: usize) -> f64 {
        self.fitted(t).max(0.0)
    }

    /// Half the band's width for a sum over `hours` future hours.
    pub fn band(&self, hours: f64) -> f64 {
        BAND_Z * self.sigma_day * (hours.max(0.0) / 24.0).sqrt()
    }
}

/// The hour of the week of `hour` (Unix seconds of an hour's start), Monday 00:00 UTC = 0.
pub fn hour_of_week(hour: i64) -> usize {
    // 1970-01-01 was a Thursday: 3 days after a Monday.
    ((hour.div_euclid(3600) + 72).rem_euclid(168)) as usize
}

/// One day of the billing period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ForecastDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Counted so far on this day; `null` for days still ahead.
    pub actual: Option<f64>,
    /// The expected total of the day (today: what was counted plus the rest); `null` for past
    /// days and when there is no forecast.
    pub forecast: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The period's running total at the end of this day: counted (past days and today so far).
    pub cumulative_actual: Option<f64>,
    /// Expected running total at the end of this day (today and later), with its band.
    pub cumulative_forecast: Option<f64>,
    pub cumulative_low: Option<f64>,
    pub cumulative_high: Option<f64>,
}

/// A monthly quota of the provider (a `monthly_quota` rate-limit rule), against the forecast.
/// A quota kept per key is compared with all of the provider's calls together: exact with one
/// key for the provider (the usual case), an early warning with several.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct QuotaView {
    /// The rule's id (`monthly_credits`).
    pub rule: String,
    /// The quota per month, in what the forecast counts.
    pub limit: f64,
    /// How much of it is spent (percent).
    pub used_pct: f64,
    /// When the counted total reached the quota, or is expected to (RFC 3339 UTC); `null`
    /// when the forecast stays under it.
    pub runs_out_at: Option<String>,
}

/// The forecast view shared by the Usage page and `keyward usage forecast --json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageForecast {
    /// Only this provider; `null`: every provider.
    pub provider: Option<String>,
    /// The billing period: the calendar month in UTC (start inclusive, end exclusive).
    pub period_start: String,
    pub period_end: String,
    /// When the forecast was made.
    pub as_of: String,
    /// What is counted: `calls` or `weight`.
    pub counted: String,
    /// Only these operations are counted (a quota that applies to some); empty: all.
    pub operations: Vec<String>,
    /// `hour_of_week_profile`, `hour_of_day_profile` or `insufficient_history`.
    pub method: String,
    /// Days of hourly history the model was fitted on.
    pub history_days: f64,
    /// Why there is no forecast (too little history), in words.
    pub note: Option<String>,
    /// Counted from the period's start until now.
    pub actual_to_date: f64,
    /// Expected total at the period's end, with its band; `null` without a forecast.
    pub projected: Option<f64>,
    pub projected_low: Option<f64>,
    pub projected_high: Option<f64>,
    /// One entry per day of the period.
    pub days: Vec<ForecastDay>,
    pub quota: Option<QuotaView>,
}

/// The period (calendar month, UTC) holding `now`: `[start, end)`.
pub fn billing_period(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = |y: i32, m: u32| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(now);
    let start = first(now.year(), now.month());
    let end = if now.month() == 12 { first(now.year() + 1, 1) } else { first(now.year(), now.month() + 1) };
    (start, end)
}

/// What a forecast is made of, read from the rollup by the caller.
#[derive(Debug, Clone)]
pub struct ForecastInput {
    pub provider: Option<String>,
    pub counted: Counted,
    pub operations: Vec<String>,
    /// Counted per hour (Unix seconds of the hour's start), from the history's start through
    /// the current, partial hour. Missing hours count zero.
    pub hourly: HashMap<i64, f64>,
    /// The first hour anything was counted (history does not reach back before it).
    pub first_hour: Option<i64>,
    /// `(rule id, limit)` of the provider's monthly quota.
    pub quota: Option<(String, f64)>,
}

fn stamp(t: DateTime<Utc>) -> String {
    crate::store::fmt_ts(t)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Builds the forecast view at `now` from `input`.
pub fn forecast(input: &ForecastInput, now: DateTime<Utc>) -> UsageForecast {
    let (start, end) = billing_period(now);
    let now_hour = now.timestamp().div_euclid(3600) * 3600;
    let value = |h: i64| input.hourly.get(&h).copied().unwrap_or(0.0);
    let lookback = now_hour - HISTORY_DAYS * 86_400;
    let history_start = input.first_hour.map_or(now_hour, |f| f.max(lookback)).min(now_hour);
    let history: Vec<f64> = (0..(now_hour - history_start) / 3600).map(|i| value(history_start + i * 3600)).collect();
    let fit = SeasonalModel::fit(&history, hour_of_week(history_start));

    // Expected per hour from the current one to the period's end (the current hour: its rest).
    let into_hour = (now.timestamp_millis() - now_hour * 1000) as f64 / 3_600_000.0;
    let mut expected: Vec<(i64, f64, f64)> = Vec::new(); // (hour, expected, future hours)
    if let Ok(model) = &fit {
        let mut h = now_hour;
        while h < end.timestamp() {
            let t = ((h - history_start) / 3600) as usize;
            let share = if h == now_hour { 1.0 - into_hour } else { 1.0 };
            expected.push((h, model.predict(t) * share, share));
            h += 3600;
        }
    }
    let actual_to_date: f64 = (start.timestamp()..=now_hour).step_by(3600).map(value).sum();

    let mut days = Vec::new();
    let (mut cum_actual, mut cum_expected, mut cum_hours) = (0.0, 0.0, 0.0);
    let mut day = start;
    while day < end {
        let next = day + Duration::days(1);
        let (d0, d1) = (day.timestamp(), next.timestamp());
        let started = d0 <= now_hour;
        let actual: f64 = if started { (d0..d1.min(now_hour + 1)).step_by(3600).map(value).sum() } else { 0.0 };
        cum_actual += actual;
        let ahead: Vec<&(i64, f64, f64)> = expected.iter().filter(|(h, _, _)| *h >= d0 && *h < d1).collect();
        let (day_expected, day_hours): (f64, f64) = ahead.iter().fold((0.0, 0.0), |a, (_, e, s)| (a.0 + e, a.1 + s));
        cum_expected += day_expected;
        cum_hours += day_hours;
        let has_forecast = fit.is_ok() && d1 > now.timestamp();
        let model = fit.as_ref().ok();
        let band = |hours: f64| model.map_or(0.0, |m| m.band(hours));
        let total_day = actual + day_expected;
        let cum_total = cum_actual + cum_expected;
        days.push(ForecastDay {
            date: day.format("%Y-%m-%d").to_string(),
            actual: started.then_some(round2(actual)),
            forecast: has_forecast.then_some(round2(total_day)),
            low: has_forecast.then(|| round2((total_day - band(day_hours)).max(actual))),
            high: has_forecast.then(|| round2(total_day + band(day_hours))),
            cumulative_actual: started.then_some(round2(cum_actual)),
            cumulative_forecast: has_forecast.then_some(round2(cum_total)),
            cumulative_low: has_forecast.then(|| round2((cum_total - band(cum_hours)).max(actual_to_date))),
            cumulative_high: has_forecast.then(|| round2(cum_total + band(cum_hours))),
        });
        day = next;
    }

    let total_expected: f64 = expected.iter().map(|e| e.1).sum();
    let future_hours: f64 = expected.iter().map(|e| e.2).sum();
    let projected = fit.as_ref().ok().map(|_| actual_to_date + total_expected);
    let band = fit.as_ref().map_or(0.0, |m| m.band(future_hours));

    let quota = input.quota.as_ref().map(|(rule, limit)| {
        // Walk the period hour by hour: counted hours, then expected ones.
        let mut total = 0.0;
        let mut runs_out = None;
        let mut h = start.timestamp();
        while h <= now_hour && runs_out.is_none() {
            let v = value(h);
            if total + v >= *limit && *limit > 0.0 {
                let part = if v > 0.0 { (*limit - total) / v } else { 0.0 };
                let span = if h == now_hour { into_hour } else { 1.0 };
                runs_out = Some(h as f64 + part.clamp(0.0, 1.0) * span * 3600.0);
            }
            total += v;
            h += 3600;
        }
        if runs_out.is_none() {
            for (h, e, share) in &expected {
                if total + e >= *limit && *e > 0.0 {
                    let part = ((*limit - total) / e).clamp(0.0, 1.0);
                    let begin = if *h == now_hour { *h as f64 + into_hour * 3600.0 } else { *h as f64 };
                    runs_out = Some(begin + part * share * 3600.0);
                    break;
                }
                total += e;
            }
        }
        QuotaView {
            rule: rule.clone(),
            limit: *limit,
            used_pct: if *limit > 0.0 { round2(actual_to_date / limit * 100.0) } else { 0.0 },
            runs_out_at: runs_out.map(|s| stamp(at((s / 60.0).ceil() as i64 * 60))),
        }
    });

    UsageForecast {
        provider: input.provider.clone(),
        period_start: stamp(start),
        period_end: stamp(end),
        as_of: stamp(now),
        counted: input.counted.as_str().into(),
        operations: input.operations.clone(),
        method: fit.as_ref().map_or(NO_FORECAST, |m| m.method.as_str()).into(),
        history_days: round2(history.len() as f64 / 24.0),
        note: fit.as_ref().err().map(|e| e.to_string()),
        actual_to_date: round2(actual_to_date),
        projected: projected.map(round2),
        projected_low: projected.map(|p| round2((p - band).max(actual_to_date))),
        projected_high: projected.map(|p| round2(p + band)),
        days,
        quota,
    }
}

#[cfg(test)]
mod tests;
