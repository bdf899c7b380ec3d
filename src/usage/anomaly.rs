//! Usage anomalies per provider, endpoint and key, hour by hour, from the hourly rollup.
//!
//! Each hour of a series (provider + operation + key) is compared with its own history over
//! the [`LOOKBACK_DAYS`] before it:
//!
//! - **Calls spike** (robust and seasonal): the expected count is the median of the same hour
//!   in earlier weeks (at least 3 of them), or of the same hour on earlier days when the
//!   series is younger; the spread is 1.4826 · MAD, never below √expected (counting noise) or
//!   10 % of expected. An hour is flagged at [`SPIKE_SCORE`] spreads above the expectation
//!   and at least [`MIN_CALLS`] calls, so tiny numbers never alarm. Only rises are flagged: a
//!   quiet hour is not a problem.
//! - **Error rate**: more failed calls than the series' usual failure rate explains (a
//!   binomial score against the pooled rate of the lookback, at least 1 %), with at least
//!   [`MIN_ERRORS`] errors.
//! - **Error burst**: at least [`BURST_ERRORS`] errors and half the hour's calls failing,
//!   after an hour that was not failing like that (the onset, not every hour of an outage).
//! - **New endpoint**: the first calls of a provider + operation + key with none in the
//!   lookback (not on a new installation: the first day of history flags nothing).
//! - **Trading at an unusual hour**: a key placed trade-class calls (`class = "trade"` in the
//!   provider spec) at an hour of the day (UTC) at which it has never traded in the lookback,
//!   once it has traded on at least [`TRADE_DAYS`] days.
//! - **Weight jump**: the weight per call at least doubled against the series' usual (heavier
//!   requests, e.g. a deeper order book), with at least [`MIN_WEIGHT`] weight in the hour.
//!
//! [`detect`] is pure: it takes the rows and the hours to look at, so it is tested on
//! synthetic series.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};

/// How far back an hour's history reaches.
pub const LOOKBACK_DAYS: i64 = 28;
/// A calls spike is this many robust spreads above the expectation.
pub const SPIKE_SCORE: f64 = 5.0;
/// Fewer calls in an hour never make a spike.
pub const MIN_CALLS: f64 = 20.0;
/// Fewer errors in an hour never make an error-rate anomaly.
pub const MIN_ERRORS: f64 = 5.0;
/// An error-rate anomaly is this many binomial spreads above the usual rate.
pub const ERROR_SCORE: f64 = 5.0;
/// An error burst has at least this many errors (and half the calls failing).
pub const BURST_ERRORS: f64 = 10.0;
/// A weight jump needs at least this much weight in the hour.
pub const MIN_WEIGHT: f64 = 100.0;
/// A key's trading hours are known once it traded on this many days.
pub const TRADE_DAYS: usize = 3;
/// Calls in the lookback before a series' error rate and weight per call count as known.
const MIN_BASELINE_CALLS: f64 = 20.0;

/// What kind of departure from the usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    CallsSpike,
    ErrorRate,
    ErrorBurst,
    NewEndpoint,
    UnusualTradingHour,
    WeightJump,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 6] = [
        AnomalyKind::CallsSpike,
        AnomalyKind::ErrorRate,
        AnomalyKind::ErrorBurst,
        AnomalyKind::NewEndpoint,
        AnomalyKind::UnusualTradingHour,
        AnomalyKind::WeightJump,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::CallsSpike => "calls_spike",
            AnomalyKind::ErrorRate => "error_rate",
            AnomalyKind::ErrorBurst => "error_burst",
            AnomalyKind::NewEndpoint => "new_endpoint",
            AnomalyKind::UnusualTradingHour => "unusual_trading_hour",
            AnomalyKind::WeightJump => "weight_jump",
        }
    }

    pub fn parse(s: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A short title ("Calls spike").
    pub fn title(self) -> &'static str {
        match self {
            AnomalyKind::CallsSpike => "Calls spike",
            AnomalyKind::ErrorRate => "Unusual error rate",
            AnomalyKind::ErrorBurst => "Error burst",
            AnomalyKind::NewEndpoint => "New endpoint",
            AnomalyKind::UnusualTradingHour => "Trading at an unusual hour",
            AnomalyKind::WeightJump => "Weight jump",
        }
    }
}

/// One anomaly: the view shared by the Usage page, `keyward usage anomalies --json` and the
/// alerts it raises.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Anomaly {
    /// `calls_spike`, `error_rate`, `error_burst`, `new_endpoint`, `unusual_trading_hour` or
    /// `weight_jump`.
    pub kind: String,
    pub provider: String,
    pub operation: String,
    /// The key label; `null` for calls without a key.
    pub key: Option<String>,
    /// The start of the hour (RFC 3339 UTC).
    pub hour: String,
    /// What the hour had: calls (spike, new endpoint, unusual hour), errors (error kinds) or
    /// weight (weight jump).
    pub observed: f64,
    /// What was expected of the same measure from the history.
    pub expected: f64,
    /// How far from usual: robust spreads (spike), binomial spreads (error rate), the ratio to
    /// the usual (burst: error share in percent of calls, weight jump: weight per call), the
    /// calls themselves where nothing was expected (new endpoint, unusual hour).
    pub score: f64,
    /// What happened, in words.
    pub message: String,
}

/// Anomalies over a range: the Usage page's list and `keyward usage anomalies --json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageAnomalies {
    /// `24h`, `7d` or `30d`.
    pub range: String,
    /// The whole hours looked at: from `since` to `until` (RFC 3339 UTC).
    pub since: String,
    pub until: String,
    /// Days of history each hour is compared with.
    pub lookback_days: u32,
    /// Newest first, strongest first within an hour.
    pub anomalies: Vec<Anomaly>,
}

/// One row of the rollup, summed over environments and callers.
#[derive(Debug, Clone, PartialEq)]
pub struct HourRow {
    /// Unix seconds of the hour's start.
    pub hour: i64,
    pub provider: String,
    pub operation: String,
    /// `""`: no key.
    pub key: String,
    pub calls: f64,
    pub errors: f64,
    pub weight: f64,
}

/// What [`detect`] looks at.
#[derive(Debug, Clone, Default)]
pub struct DetectInput {
    /// Rows from `from - LOOKBACK_DAYS` to `to`.
    pub rows: Vec<HourRow>,
    /// The hours to judge: `[from, to)`, hour starts in Unix seconds.
    pub from: i64,
    pub to: i64,
    /// `(provider, operation)` of trade-class endpoints.
    pub trade_ops: HashSet<(String, String)>,
    /// The first hour anything was recorded at all.
    pub first_hour: Option<i64>,
}

const HOUR: i64 = 3600;
const LOOKBACK_HOURS: i64 = LOOKBACK_DAYS * 24;

/// A series as dense hourly arrays from `base`.
struct Series {
    calls: Vec<f64>,
    errors: Vec<f64>,
    weight: Vec<f64>,
    /// Running sums, `sum[i]` = total of `[0, i)`.
    calls_sum: Vec<f64>,
    errors_sum: Vec<f64>,
    weight_sum: Vec<f64>,
}

fn prefix(v: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len() + 1);
    out.push(0.0);
    let mut s = 0.0;
    for x in v {
        s += x;
        out.push(s);
    }
    out
}

impl Series {
    fn new(len: usize) -> Series {
        Series {
            calls: vec![0.0; len],
            errors: vec![0.0; len],
            weight: vec![0.0; len],
            calls_sum: Vec::new(),
            errors_sum: Vec::new(),
            weight_sum: Vec::new(),
        }
    }

    fn finish(&mut self) {
        self.calls_sum = prefix(&self.calls);
        self.errors_sum = prefix(&self.errors);
        self.weight_sum = prefix(&self.weight);
    }

    /// Totals of `[a, b)` (indices clamped).
    fn totals(&self, a: i64, b: i64) -> (f64, f64, f64) {
        let n = self.calls.len() as i64;
        let (a, b) = (a.clamp(0, n) as usize, b.clamp(0, n) as usize);
        if a >= b {
            return (0.0, 0.0, 0.0);
        }
        (
            self.calls_sum[b] - self.calls_sum[a],
            self.errors_sum[b] - self.errors_sum[a],
            self.weight_sum[b] - self.weight_sum[a],
        )
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The expected value and spread of index `i` of `calls` from its history (same hour of
/// earlier weeks, else of earlier days), looking no further back than `earliest`.
fn baseline(calls: &[f64], i: i64, earliest: i64) -> Option<(f64, f64)> {
    let take = |step: i64, max: i64| -> Vec<f64> {
        (1..=max).map(|k| i - k * step).filter(|j| *j >= earliest && *j >= 0).map(|j| calls[j as usize]).collect()
    };
    let mut samples = take(168, LOOKBACK_DAYS / 7);
    if samples.len() < 3 {
        samples = take(24, LOOKBACK_DAYS);
    }
    if samples.len() < 3 {
        return None;
    }
    let expected = median(&mut samples);
    let mut dev: Vec<f64> = samples.iter().map(|x| (x - expected).abs()).collect();
    let mad = median(&mut dev);
    let spread = (1.4826 * mad).max(expected.max(1.0).sqrt()).max(0.1 * expected);
    Some((expected, spread))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// `14:00–15:00 UTC on 2026-03-02`.
fn hour_words(hour: i64) -> String {
    let t = at(hour);
    format!("{}–{} UTC on {}", t.format("%H:00"), at(hour + HOUR).format("%H:00"), t.format("%Y-%m-%d"))
}

fn what(provider: &str, operation: &str, key: &str) -> String {
    if key.is_empty() {
        format!("{provider} {operation}")
    } else {
        format!("{provider} {operation} (key \"{key}\")")
    }
}

fn count(x: f64) -> String {
    format!("{}", x.round() as i64)
}

/// Finds the anomalies of the hours `[input.from, input.to)`.
pub fn detect(input: &DetectInput) -> Vec<Anomaly> {
    let base = input.from - LOOKBACK_HOURS * HOUR;
    let len = ((input.to - base) / HOUR).max(0) as usize;
    let index = |hour: i64| (hour - base).div_euclid(HOUR);
    // Keyed by the rows' own strings: no allocation per row.
    let mut series: BTreeMap<(&str, &str, &str), Series> = BTreeMap::new();
    for r in &input.rows {
        let i = index(r.hour);
        if i < 0 || i as usize >= len {
            continue;
        }
        let s = series
            .entry((r.provider.as_str(), r.operation.as_str(), r.key.as_str()))
            .or_insert_with(|| Series::new(len));
        s.calls[i as usize] += r.calls;
        s.errors[i as usize] += r.errors;
        s.weight[i as usize] += r.weight;
    }
    for s in series.values_mut() {
        s.finish();
    }
    let established = |hour: i64| input.first_hour.is_some_and(|f| f <= hour - 24 * HOUR);
    let (first, last) = (index(input.from), index(input.to));
    let mut out = Vec::new();

    for ((provider, operation, key), s) in &series {
        let name = what(provider, operation, key);
        let key_opt = (!key.is_empty()).then(|| key.to_string());
        let found = |kind: AnomalyKind, i: i64, observed: f64, expected: f64, score: f64, message: String| Anomaly {
            kind: kind.as_str().into(),
            provider: provider.to_string(),
            operation: operation.to_string(),
            key: key_opt.clone(),
            hour: crate::store::fmt_ts(at(base + i * HOUR)),
            observed: round2(observed),
            expected: round2(expected),
            score: round2(score),
            message,
        };
        for i in first..last {
            let calls = s.calls[i as usize];
            if calls <= 0.0 {
                continue;
            }
            let hour = base + i * HOUR;
            let (errors, weight) = (s.errors[i as usize], s.weight[i as usize]);
            let (past_calls, past_errors, past_weight) = s.totals(i - LOOKBACK_HOURS, i);
            if past_calls == 0.0 {
                if established(hour) {
                    out.push(found(
                        AnomalyKind::NewEndpoint,
                        i,
                        calls,
                        0.0,
                        calls,
                        format!(
                            "{name} was called for the first time in {LOOKBACK_DAYS} days: {} call{} {}.",
                            count(calls),
                            if calls == 1.0 { "" } else { "s" },
                            hour_words(hour)
                        ),
                    ));
                }
                continue;
            }
            // The series' history starts at its first call in the lookback.
            let earliest = (i - LOOKBACK_HOURS..i).find(|j| *j >= 0 && s.calls[*j as usize] > 0.0).unwrap_or(i);
            if let Some((expected, spread)) = baseline(&s.calls, i, earliest) {
                let score = (calls - expected) / spread;
                if calls >= MIN_CALLS && score >= SPIKE_SCORE {
                    out.push(found(
                        AnomalyKind::CallsSpike,
                        i,
                        calls,
                        expected,
                        score,
                        format!(
                            "{name}: {} calls {}, usually about {} at this hour.",
                            count(calls),
                            hour_words(hour),
                            count(expected)
                        ),
                    ));
                }
            }
            // Errors: the onset of a burst, else a rate the usual one does not explain.
            let prev = i - 1;
            let prev_failing =
                prev >= 0 && s.calls[prev as usize] > 0.0 && s.errors[prev as usize] / s.calls[prev as usize] >= 0.5;
            let usual_rate = if past_calls >= MIN_BASELINE_CALLS { past_errors / past_calls } else { 0.0 };
            let failing = errors >= BURST_ERRORS && errors / calls >= 0.5;
            if failing && prev_failing {
                // The burst goes on: it was found at its onset.
            } else if failing {
                out.push(found(
                    AnomalyKind::ErrorBurst,
                    i,
                    errors,
                    usual_rate * calls,
                    errors / calls * 100.0,
                    format!(
                        "{name}: {} of {} calls failed {} ({:.0} %), an error burst.",
                        count(errors),
                        count(calls),
                        hour_words(hour),
                        errors / calls * 100.0
                    ),
                ));
            } else if past_calls >= MIN_BASELINE_CALLS && errors >= MIN_ERRORS {
                let p = usual_rate.max(0.01);
                let expected = p * calls;
                let score = (errors - expected) / (calls * p * (1.0 - p)).sqrt();
                if score >= ERROR_SCORE {
                    out.push(found(
                        AnomalyKind::ErrorRate,
                        i,
                        errors,
                        expected,
                        score,
                        format!(
                            "{name}: {} of {} calls failed {} ({:.0} %), usually {:.1} %.",
                            count(errors),
                            count(calls),
                            hour_words(hour),
                            errors / calls * 100.0,
                            usual_rate * 100.0
                        ),
                    ));
                }
            }
            if past_calls >= MIN_BASELINE_CALLS && past_weight > 0.0 && weight >= MIN_WEIGHT {
                let usual = past_weight / past_calls;
                let per_call = weight / calls;
                if per_call >= 2.0 * usual {
                    out.push(found(
                        AnomalyKind::WeightJump,
                        i,
                        weight,
                        usual * calls,
                        per_call / usual,
                        format!(
                            "{name}: weight {} for {} calls {} ({:.1} per call, usually {:.1}).",
                            count(weight),
                            count(calls),
                            hour_words(hour),
                            per_call,
                            usual
                        ),
                    ));
                }
            }
        }
    }

    // Trading hours per key, over every trade-class operation of its provider.
    let mut trades: BTreeMap<(&str, &str), Vec<(&str, &Series)>> = BTreeMap::new();
    for ((provider, operation, key), s) in &series {
        if !key.is_empty() && input.trade_ops.contains(&(provider.to_string(), operation.to_string())) {
            trades.entry((provider, key)).or_default().push((operation, s));
        }
    }
    for ((provider, key), ops) in &trades {
        for i in first..last {
            let traded = |j: i64| ops.iter().map(|(_, s)| s.calls[j as usize]).sum::<f64>();
            let now = traded(i);
            if now <= 0.0 {
                continue;
            }
            let hour = base + i * HOUR;
            let mut hours_of_day = BTreeSet::new();
            let mut days = BTreeSet::new();
            for j in (i - LOOKBACK_HOURS).max(0)..i {
                if traded(j) > 0.0 {
                    let h = base + j * HOUR;
                    hours_of_day.insert(h.div_euclid(HOUR).rem_euclid(24));
                    days.insert(h.div_euclid(86_400));
                }
            }
            let hod = hour.div_euclid(HOUR).rem_euclid(24);
            if days.len() >= TRADE_DAYS && !hours_of_day.contains(&hod) {
                let operation = ops
                    .iter()
                    .max_by(|a, b| a.1.calls[i as usize].total_cmp(&b.1.calls[i as usize]))
                    .map(|(op, _)| op.to_string())
                    .unwrap_or_default();
                out.push(Anomaly {
                    kind: AnomalyKind::UnusualTradingHour.as_str().into(),
                    provider: provider.to_string(),
                    operation: operation.clone(),
                    key: Some(key.to_string()),
                    hour: crate::store::fmt_ts(at(hour)),
                    observed: now,
                    expected: 0.0,
                    score: now,
                    message: format!(
                        "Key \"{key}\" traded on {provider} ({operation}, {} call{}) {}, an hour it has not traded at in {LOOKBACK_DAYS} days.",
                        count(now),
                        if now == 1.0 { "" } else { "s" },
                        hour_words(hour)
                    ),
                });
            }
        }
    }
    out.sort_by(|a, b| b.hour.cmp(&a.hour).then(b.score.total_cmp(&a.score)).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests;
