//! Usage: calls, errors, weight and cost per endpoint, key, caller or provider, read from the
//! attempts the pipeline records (table `calls`). Blocking (SQLite): async callers use
//! `spawn_blocking`.
//!
//! Every attempt counts (a retried call is several attempts: each spent weight). An error is an
//! attempt whose outcome is not `ok`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::params_from_iter;

use crate::store::{Store, StoreError};

pub mod anomaly;
pub mod billing;
pub mod export;
pub mod forecast;
mod insight;
pub mod latency;

pub use insight::{InsightError, SCANNED_SETTING};

/// What calls without a key are grouped under.
pub const NO_KEY: &str = "(no key)";
/// The most buckets a series may have (a year of hours fits).
pub const MAX_BUCKETS: i64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("raw call retention {days} days: keep raw calls 1 to 400 days (older ones live on in the hourly totals)")]
    Retention { days: i64 },
    #[error("the usage range starts at {since} but ends at {until}: the start must be before the end")]
    Range { since: String, until: String },
    #[error("unknown range \"{0}\": use 24h, 7d or 30d")]
    UnknownRange(String),
    #[error("unknown grouping \"{0}\": use endpoint, key, caller or provider")]
    UnknownGroup(String),
    #[error("a usage bucket of {seconds} s is too short: buckets are whole minutes or longer")]
    Bucket { seconds: u64 },
    #[error("{buckets} buckets of {seconds} s between {since} and {until} are too many (at most {MAX_BUCKETS})")]
    TooManyBuckets { buckets: i64, seconds: u64, since: String, until: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] Box<crate::provider::ProviderError>),
}

impl UsageError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            UsageError::Store(_) => crate::ErrorKind::Storage,
            UsageError::Provider(e) => e.kind(),
            _ => crate::ErrorKind::Invalid,
        }
    }
}

impl From<rusqlite::Error> for UsageError {
    fn from(e: rusqlite::Error) -> Self {
        UsageError::Store(StoreError::Sql(e))
    }
}

/// What the summary rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// `provider operation`, e.g. `binance ticker`.
    #[default]
    Endpoint,
    /// The key label, or [`NO_KEY`].
    Key,
    /// `ui`, `cli`, `monitor`, `keyward`, a bot.
    Caller,
    Provider,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [GroupBy::Endpoint, GroupBy::Key, GroupBy::Caller, GroupBy::Provider];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Endpoint => "endpoint",
            GroupBy::Key => "key",
            GroupBy::Caller => "caller",
            GroupBy::Provider => "provider",
        }
    }

    pub fn parse(s: &str) -> Result<GroupBy, UsageError> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| UsageError::UnknownGroup(s.to_string()))
    }

    fn sql(self) -> String {
        match self {
            GroupBy::Endpoint => "provider || ' ' || operation".into(),
            // `calls` has NULL for no key, `calls_hourly` '' (part of its primary key).
            GroupBy::Key => format!("COALESCE(NULLIF(key_label, ''), '{NO_KEY}')"),
            GroupBy::Caller => "caller".into(),
            GroupBy::Provider => "provider".into(),
        }
    }
}

/// The ranges the front ends offer, each with the bucket its chart uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageRange {
    #[default]
    Day,
    Week,
    Month,
}

impl UsageRange {
    pub const ALL: [UsageRange; 3] = [UsageRange::Day, UsageRange::Week, UsageRange::Month];

    /// `24h`, `7d`, `30d`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageRange::Day => "24h",
            UsageRange::Week => "7d",
            UsageRange::Month => "30d",
        }
    }

    pub fn parse(s: &str) -> Result<UsageRange, UsageError> {
        UsageRange::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UsageError::UnknownRange(s.to_string()))
    }

    pub fn duration(self) -> chrono::Duration {
        match self {
            UsageRange::Day => chrono::Duration::hours(24),
            UsageRange::Week => chrono::Duration::days(7),
            UsageRange::Month => chrono::Duration::days(30),
        }
    }

    /// Hours up to a week, days beyond.
    pub fn bucket(self) -> Duration {
        match self {
            UsageRange::Day | UsageRange::Week => Duration::from_secs(3600),
            UsageRange::Month => Duration::from_secs(86_400),
        }
    }

    /// "last 24 h", "last 7 days".
    pub fn describe(self) -> &'static str {
        match self {
            UsageRange::Day => "last 24 h",
            UsageRange::Week => "last 7 days",
            UsageRange::Month => "last 30 days",
        }
    }

    /// The query for this range ending at `now`.
    pub fn query(self, now: DateTime<Utc>, provider: Option<String>, group_by: GroupBy) -> UsageQuery {
        UsageQuery { since: now - self.duration(), until: now, provider, group_by }
    }
}

/// Calls made at or after `since` and before `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Only this provider's calls.
    pub provider: Option<String>,
    pub group_by: GroupBy,
}

impl UsageQuery {
    fn validate(&self) -> Result<(), UsageError> {
        if self.since >= self.until {
            return Err(UsageError::Range { since: stamp(self.since), until: stamp(self.until) });
        }
        Ok(())
    }

    /// The WHERE clause and its parameters (the tests compare the levels with raw rows).
    #[cfg(test)]
    fn filter(&self) -> (String, Vec<String>) {
        let mut sql = "ts >= ?1 AND ts < ?2".to_string();
        let mut params = vec![stamp(self.since), stamp(self.until)];
        if let Some(p) = &self.provider {
            sql.push_str(" AND provider = ?3");
            params.push(p.clone());
        }
        (sql, params)
    }
}

/// The setting that holds how many days raw call rows are kept.
pub const RAW_RETENTION_SETTING: &str = "usage.raw_retention_days";
/// Raw call rows are kept this many days unless the user says otherwise; the hourly rollup
/// keeps the counts for longer ranges.
pub const DEFAULT_RAW_RETENTION_DAYS: i64 = 3;
pub const MAX_RAW_RETENTION_DAYS: i64 = 400;
/// Minute rows are kept this long: the edges of ranges and minute-sized charts of the last
/// week read them; older ranges read hours and days.
pub const MINUTE_RETENTION_DAYS: i64 = 7;

/// One group's usage: calls (every attempt), errors, weight, cost and average latency. This is
/// also the row the Usage page and `keyward usage --json` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageRow {
    /// `binance ticker`, a key label or `(no key)`, a caller, a provider id; `total` for totals.
    pub group: String,
    #[ts(type = "number")]
    pub calls: u64,
    /// Attempts whose outcome was not `ok`.
    #[ts(type = "number")]
    pub errors: u64,
    /// Of the errors, those the provider refused for its rate or quota (429, 418, a throttle
    /// note in a 200).
    #[ts(type = "number")]
    pub throttled: u64,
    #[ts(type = "number")]
    pub weight: u64,
    /// Money on metered plans, in the provider's currency (see [`UsageSummary::currency`]).
    pub cost: f64,
    /// What the providers bill: calls or credits, as each provider's plan counts them.
    pub units: f64,
    pub avg_latency_ms: f64,
    /// Latency percentiles, estimated from the latency buckets ([`latency`]); `null` without
    /// calls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Calls per latency bucket, which the percentiles come from.
    #[serde(skip)]
    #[ts(skip)]
    pub latency: latency::Histogram,
}

impl UsageRow {
    /// A row of sums, its percentiles estimated from `latency`.
    #[allow(clippy::too_many_arguments)]
    fn of(
        group: String,
        calls: u64,
        errors: u64,
        throttled: u64,
        weight: u64,
        cost: f64,
        units: f64,
        latency_sum_ms: f64,
        latency: latency::Histogram,
    ) -> UsageRow {
        UsageRow {
            group,
            calls,
            errors,
            throttled,
            weight,
            cost,
            units,
            avg_latency_ms: if calls == 0 { 0.0 } else { latency_sum_ms / calls as f64 },
            p50_ms: latency::percentile(&latency, 0.50),
            p95_ms: latency::percentile(&latency, 0.95),
            p99_ms: latency::percentile(&latency, 0.99),
            latency,
        }
    }
}

/// The usage table: rows most calls first, and their totals, over one range. The one view shared
/// by the Usage page and `keyward usage --json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageSummary {
    /// `24h`, `7d` or `30d`.
    pub range: String,
    /// `endpoint`, `key`, `caller` or `provider`.
    pub group_by: String,
    /// RFC 3339 UTC, with milliseconds.
    pub since: String,
    pub until: String,
    /// Only this provider's calls; `null`: every provider.
    pub provider: Option<String>,
    /// The currency of the costs: the one the providers in the range bill in; `null` when
    /// they bill in different currencies (the billing view has each provider's).
    pub currency: Option<String>,
    pub rows: Vec<UsageRow>,
    pub totals: UsageRow,
}

/// The sum of `rows` (the average latency weighted by calls, percentiles from the summed
/// latency buckets), grouped as "total".
pub fn totals(rows: &[UsageRow]) -> UsageRow {
    let mut latency = [0; latency::BUCKETS];
    for r in rows {
        for (sum, n) in latency.iter_mut().zip(r.latency) {
            *sum += n;
        }
    }
    UsageRow::of(
        "total".into(),
        rows.iter().map(|r| r.calls).sum(),
        rows.iter().map(|r| r.errors).sum(),
        rows.iter().map(|r| r.throttled).sum(),
        rows.iter().map(|r| r.weight).sum(),
        // Folded from +0.0: `Sum for f64` starts at -0.0, which prints as "-0.00" for no calls.
        rows.iter().map(|r| r.cost).fold(0.0, |a, b| a + b),
        rows.iter().map(|r| r.units).fold(0.0, |a, b| a + b),
        rows.iter().map(|r| r.avg_latency_ms * r.calls as f64).fold(0.0, |a, b| a + b),
        latency,
    )
}

/// One bucket of the chart series.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    pub cost: f64,
    pub units: f64,
}

/// The usage reader. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UsageReader {
    store: Store,
}

impl UsageReader {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The usage table over `range` up to `now`: rows per `group_by` and their totals, for one
    /// provider or (`None` or empty) every provider.
    pub fn table(
        &self,
        range: UsageRange,
        group_by: GroupBy,
        provider: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<UsageSummary, UsageError> {
        let q = range.query(now, provider.filter(|p| !p.trim().is_empty()), group_by);
        let rows = self.summary(&q)?;
        Ok(UsageSummary {
            range: range.as_str().into(),
            group_by: group_by.as_str().into(),
            since: stamp(q.since),
            until: stamp(q.until),
            provider: q.provider,
            currency: Some("USD".into()),
            totals: totals(&rows),
            rows,
        })
    }

    /// How long raw call rows are kept (the setting `usage.raw_retention_days`, default
    /// [`DEFAULT_RAW_RETENTION_DAYS`]); older calls live on in the hourly rollup.
    pub fn raw_retention(&self) -> Result<chrono::Duration, UsageError> {
        let days = self
            .store
            .setting(RAW_RETENTION_SETTING)?
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|d| (1..=MAX_RAW_RETENTION_DAYS).contains(d))
            .unwrap_or(DEFAULT_RAW_RETENTION_DAYS);
        Ok(chrono::Duration::days(days))
    }

    /// Sets how many days raw call rows are kept (1 to 400).
    pub fn set_raw_retention_days(&self, days: i64) -> Result<(), UsageError> {
        if !(1..=MAX_RAW_RETENTION_DAYS).contains(&days) {
            return Err(UsageError::Retention { days });
        }
        Ok(self.store.set_setting(RAW_RETENTION_SETTING, &days.to_string())?)
    }

    /// Deletes raw call rows older than the retention, a batch at a time so the database stays
    /// usable. Their counts stay in the hourly and daily rollups, and those of the last
    /// [`MINUTE_RETENTION_DAYS`] go into the minute rollup in the same transaction; minute rows
    /// older than that are deleted. The cut is on a whole minute, so every minute is either
    /// all raw rows or all in the minute rollup. Returns how many raw rows went.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize, UsageError> {
        let cut = (now - self.raw_retention()?).timestamp().div_euclid(60) * 60;
        let before = stamp(DateTime::from_timestamp(cut, 0).unwrap_or(now));
        let minutes_from = (now - chrono::Duration::days(MINUTE_RETENTION_DAYS)).timestamp();
        let keep_from = stamp(DateTime::from_timestamp(minutes_from, 0).unwrap_or(now));
        let roll_up = format!(
            "INSERT INTO calls_minutely (minute, provider, environment, operation, key_label, caller, calls, errors,
                                         weight, cost, latency_ms, units, throttled, {lat})
             SELECT (CAST(strftime('%s', ts) AS INTEGER) / 60) * 60, provider, environment, operation,
                    COALESCE(key_label, ''), caller, COUNT(*), SUM(outcome != 'ok'), SUM(weight), SUM(cost),
                    SUM(latency_ms), SUM(units), SUM(outcome = 'throttled'), {raw}
             FROM calls WHERE id IN (SELECT id FROM calls WHERE ts < ?1 ORDER BY ts LIMIT 10000) AND ts >= ?2
             GROUP BY 1, 2, 3, 4, 5, 6
             ON CONFLICT (minute, provider, environment, operation, key_label, caller) DO UPDATE SET
                 calls = calls + excluded.calls, errors = errors + excluded.errors,
                 weight = weight + excluded.weight, cost = cost + excluded.cost, units = units + excluded.units,
                 throttled = throttled + excluded.throttled, latency_ms = latency_ms + excluded.latency_ms, {lat_up}",
            lat = latency::columns(),
            raw = latency::raw_sums().join(", "),
            lat_up = latency::upsert_columns(),
        );
        self.store.with_conn(|c| Ok(c.execute("DELETE FROM calls_minutely WHERE minute < ?1", [minutes_from])?))?;
        let mut total = 0;
        loop {
            let n = self.store.with_conn(|c| {
                let tx = c.unchecked_transaction()?;
                tx.execute(&roll_up, [&before, &keep_from])?;
                let n = tx.execute(
                    "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE ts < ?1 ORDER BY ts LIMIT 10000)",
                    [&before],
                )?;
                tx.commit()?;
                Ok(n)
            })?;
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }

    /// Where a query reads: the largest rollup whose periods fit whole inside the range reads
    /// the middle, the next smaller ones the partial periods at its ends, down to raw rows for
    /// the partial minutes (`levels`: the rollups a query may use, smallest first); minutes that
    /// still have their raw rows are read raw. A start before the oldest raw row left (pruned)
    /// takes its whole first minute from the minute rollup while that is kept, else its whole
    /// first hour from the hourly one.
    fn levels(&self, q: &UsageQuery, levels: &[Level]) -> Result<Vec<Part>, UsageError> {
        let (oldest_raw, oldest_minute): (Option<String>, Option<i64>) = self.store.with_conn(|c| {
            let raw = c.query_row("SELECT MIN(ts) FROM calls", [], |r| r.get(0))?;
            let minute = c.query_row("SELECT MIN(minute) FROM calls_minutely", [], |r| r.get(0))?;
            Ok((raw, minute))
        })?;
        let mut from = q.since.timestamp_millis();
        let to = q.until.timestamp_millis();
        if oldest_raw.as_deref().map_or(true, |oldest| stamp(q.since).as_str() < oldest) {
            let minute_kept = levels.contains(&Level::Minutely) && oldest_minute.is_some_and(|m| m * 1000 <= from);
            let size = if minute_kept { 60_000 } else { 3_600_000 };
            from = from.div_euclid(size) * size;
        }
        let mut spans: Vec<(Level, i64, i64)> = Vec::new();
        split(from.min(q.since.timestamp_millis()), to, levels, &mut spans);
        // Minutes still held by raw rows (from the oldest raw row's minute on) are read raw:
        // the minute rollup holds only what pruning took from them.
        let raw_from = oldest_raw
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(i64::MAX, |t| t.timestamp_millis().div_euclid(60_000) * 60_000);
        let spans: Vec<(Level, i64, i64)> = spans
            .into_iter()
            .flat_map(|(level, a, b)| match level {
                Level::Minutely if a >= raw_from => vec![(Level::Raw, a, b)],
                Level::Minutely if b > raw_from => vec![(Level::Minutely, a, raw_from), (Level::Raw, raw_from, b)],
                _ => vec![(level, a, b)],
            })
            .collect();
        let at = |ms: i64| stamp(DateTime::from_timestamp_millis(ms).unwrap_or(q.since));
        let mut parts = Vec::new();
        for level in [Level::Raw, Level::Minutely, Level::Hourly, Level::Daily] {
            let ranges: Vec<(String, String)> = spans
                .iter()
                .filter(|(l, a, b)| *l == level && a < b)
                .map(|&(_, a, b)| match level {
                    // The raw head never starts before the range (a widened start is a rollup's).
                    Level::Raw => (at(a.max(q.since.timestamp_millis())), at(b)),
                    _ => ((a / 1000).to_string(), (b / 1000).to_string()),
                })
                .collect();
            if !ranges.is_empty() {
                parts.push(Part::new(level, ranges, q));
            }
        }
        if parts.is_empty() {
            parts.push(Part::new(Level::Raw, vec![(stamp(q.since), stamp(q.until))], q));
        }
        Ok(parts)
    }

    /// One row per group, most calls first (ties by name): raw rows at the range's edges, the
    /// hourly and daily rollups in between, so long ranges stay fast and survive the raw rows'
    /// pruning.
    pub fn summary(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, UsageError> {
        q.validate()?;
        let g = q.group_by.sql();
        let mut params = Vec::new();
        let inner: Vec<String> = self
            .levels(q, &[Level::Minutely, Level::Hourly, Level::Daily])?
            .into_iter()
            .map(|part| {
                let (filter, sums) = (part.filter(), part.sums());
                params.extend(part.params);
                format!("SELECT {g} AS g, {sums} FROM {} WHERE {filter} GROUP BY g", part.level.table())
            })
            .collect();
        let sql = format!(
            "SELECT g, SUM(n), SUM(e), SUM(w), SUM(c), SUM(u), SUM(l), SUM(t), {lat} FROM ({inner}) GROUP BY g ORDER BY 2 DESC, g ASC",
            lat = latency::sum_columns(),
            inner = inner.join(" UNION ALL "),
        );
        Ok(self.store.with_conn(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                let mut lat = [0; latency::BUCKETS];
                for (i, slot) in lat.iter_mut().enumerate() {
                    *slot = r.get::<_, i64>(8 + i)?;
                }
                Ok(UsageRow::of(
                    r.get(0)?,
                    r.get::<_, i64>(1)?.max(0) as u64,
                    r.get::<_, i64>(2)?.max(0) as u64,
                    r.get::<_, i64>(7)?.max(0) as u64,
                    r.get::<_, i64>(3)?.max(0) as u64,
                    r.get(4)?,
                    r.get(5)?,
                    r.get::<_, i64>(6)? as f64,
                    lat,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?)
    }

    /// Calls, errors, cost and units per `bucket`, one row per bucket from the bucket holding
    /// `since` (buckets are aligned to the Unix epoch) to the one holding the end, empty ones
    /// included. The query's grouping does not matter here.
    pub fn series(&self, q: &UsageQuery, bucket: Duration) -> Result<Vec<UsageBucket>, UsageError> {
        q.validate()?;
        let seconds = bucket.as_secs();
        if seconds < 60 {
            return Err(UsageError::Bucket { seconds });
        }
        let size = i64::try_from(seconds).unwrap_or(i64::MAX);
        let first = q.since.timestamp().div_euclid(size) * size;
        let last = (q.until.timestamp_millis() - 1).div_euclid(1000).div_euclid(size) * size;
        let count = (last - first) / size + 1;
        if count > MAX_BUCKETS {
            return Err(UsageError::TooManyBuckets {
                buckets: count,
                seconds,
                since: stamp(q.since),
                until: stamp(q.until),
            });
        }
        let mut out: Vec<UsageBucket> = (0..count)
            .filter_map(|i| {
                let start = DateTime::from_timestamp(first + i * size, 0)?;
                Some(UsageBucket { start, calls: 0, errors: 0, cost: 0.0, units: 0.0 })
            })
            .collect();
        // A bucket reads every rollup whose periods divide it (whole minutes, hours, days).
        let usable: Vec<Level> =
            [Level::Minutely, Level::Hourly, Level::Daily].into_iter().filter(|l| size % l.seconds() == 0).collect();
        let parts = self.levels(q, &usable)?;
        let mut params = Vec::new();
        let inner: Vec<String> = parts
            .into_iter()
            .map(|part| {
                let filter = part.filter();
                let at = match part.level {
                    Level::Raw => "CAST(strftime('%s', ts) AS INTEGER)",
                    level => level.period(),
                };
                let sums = match part.level {
                    Level::Raw => {
                        "COUNT(*) AS n, COALESCE(SUM(outcome != 'ok'), 0) AS e, COALESCE(SUM(cost), 0.0) AS c, \
                         COALESCE(SUM(units), 0.0) AS u"
                    }
                    _ => "SUM(calls) AS n, SUM(errors) AS e, SUM(cost) AS c, SUM(units) AS u",
                };
                params.extend(part.params);
                format!(
                    "SELECT ({at} - {first}) / {size} AS b, {sums} FROM {} WHERE {filter} GROUP BY b",
                    part.level.table()
                )
            })
            .collect();
        let sql = format!("SELECT b, SUM(n), SUM(e), SUM(c), SUM(u) FROM ({}) GROUP BY b", inner.join(" UNION ALL "));
        let filled: Vec<(i64, i64, i64, f64, f64)> = self.store.with_conn(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        for (b, calls, errors, cost, units) in filled {
            if let Some(slot) = usize::try_from(b).ok().and_then(|b| out.get_mut(b)) {
                slot.calls = calls.max(0) as u64;
                slot.errors = errors.max(0) as u64;
                slot.cost = cost;
                slot.units = units;
            }
        }
        Ok(out)
    }
}

/// Where a part of a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Raw,
    Minutely,
    Hourly,
    Daily,
}

impl Level {
    fn table(self) -> &'static str {
        match self {
            Level::Raw => "calls",
            Level::Minutely => "calls_minutely",
            Level::Hourly => "calls_hourly",
            Level::Daily => "calls_daily",
        }
    }

    /// The column the level's ranges are on.
    fn period(self) -> &'static str {
        match self {
            Level::Raw => "ts",
            Level::Minutely => "minute",
            Level::Hourly => "hour",
            Level::Daily => "day",
        }
    }

    /// The length of one period (raw rows: none, 1 s for divisibility).
    fn seconds(self) -> i64 {
        match self {
            Level::Raw => 1,
            Level::Minutely => 60,
            Level::Hourly => 3600,
            Level::Daily => 86_400,
        }
    }
}

/// Splits `[from, to)` (Unix ms) into spans per level: the largest of `levels` takes the whole
/// periods inside, the smaller ones the partial periods around them, raw rows what is left.
fn split(from: i64, to: i64, levels: &[Level], out: &mut Vec<(Level, i64, i64)>) {
    if from >= to {
        return;
    }
    let Some((&largest, smaller)) = levels.split_last() else {
        out.push((Level::Raw, from, to));
        return;
    };
    let size = largest.seconds() * 1000;
    let a = (from + size - 1).div_euclid(size) * size;
    let b = to.div_euclid(size) * size;
    if a < b {
        split(from, a, smaller, out);
        out.push((largest, a, b));
        split(b, to, smaller, out);
    } else {
        split(from, to, smaller, out);
    }
}

/// One level's share of a query: its ranges (`[from, to)` on the level's period column) and
/// the query's provider filter, with the parameters in order.
struct Part {
    level: Level,
    ranges: usize,
    provider: bool,
    params: Vec<String>,
}

impl Part {
    fn new(level: Level, ranges: Vec<(String, String)>, q: &UsageQuery) -> Part {
        let mut params = Vec::new();
        let n = ranges.len();
        for (from, to) in ranges {
            params.push(from);
            params.push(to);
        }
        if let Some(p) = &q.provider {
            params.push(p.clone());
        }
        Part { level, ranges: n, provider: q.provider.is_some(), params }
    }

    fn filter(&self) -> String {
        let col = self.level.period();
        let ranges = vec![format!("({col} >= ? AND {col} < ?)"); self.ranges].join(" OR ");
        if self.provider {
            format!("({ranges}) AND provider = ?")
        } else {
            format!("({ranges})")
        }
    }

    /// The sums a summary needs, named `n, e, w, c, u, l, t, lat_0 …`.
    fn sums(&self) -> String {
        let lat: Vec<String> = match self.level {
            Level::Raw => {
                latency::raw_sums().into_iter().enumerate().map(|(i, sum)| format!("{sum} AS lat_{i}")).collect()
            }
            _ => (0..latency::BUCKETS).map(|i| format!("SUM(lat_{i}) AS lat_{i}")).collect(),
        };
        let head = match self.level {
            Level::Raw => "COUNT(*) AS n, COALESCE(SUM(outcome != 'ok'), 0) AS e, COALESCE(SUM(weight), 0) AS w,
                           COALESCE(SUM(cost), 0.0) AS c, COALESCE(SUM(units), 0.0) AS u, COALESCE(SUM(latency_ms), 0) AS l,
                           COALESCE(SUM(outcome = 'throttled'), 0) AS t",
            _ => "SUM(calls) AS n, SUM(errors) AS e, SUM(weight) AS w, SUM(cost) AS c, SUM(units) AS u, SUM(latency_ms) AS l, SUM(throttled) AS t",
        };
        format!("{head}, {}", lat.join(", "))
    }
}

/// The `calls.ts` form (the store's: RFC 3339 UTC with milliseconds).
fn stamp(t: DateTime<Utc>) -> String {
    crate::store::fmt_ts(t)
}

#[cfg(test)]
mod tests;
