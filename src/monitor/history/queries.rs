//! Queries of the history, on any connection (the monitor uses the shared store connection):
//! uptime, latency series, the daily uptime strip, incidents, state changes and the state
//! each provider was left in.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::histogram::Agg;
use super::{agg_from_row, u, RollupLevel, AGG_COLUMNS, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::monitor::state::HealthState;
use crate::store::StoreError;

/// An uptime window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UptimeWindow {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl UptimeWindow {
    pub const ALL: [UptimeWindow; 5] =
        [UptimeWindow::Day, UptimeWindow::Week, UptimeWindow::Month, UptimeWindow::Quarter, UptimeWindow::Year];

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::days(match self {
            UptimeWindow::Day => 1,
            UptimeWindow::Week => 7,
            UptimeWindow::Month => 30,
            UptimeWindow::Quarter => 90,
            UptimeWindow::Year => 365,
        })
    }

    /// "24h", "7d", "30d", "90d", "1y".
    pub fn as_str(self) -> &'static str {
        match self {
            UptimeWindow::Day => "24h",
            UptimeWindow::Week => "7d",
            UptimeWindow::Month => "30d",
            UptimeWindow::Quarter => "90d",
            UptimeWindow::Year => "1y",
        }
    }

    pub fn parse(s: &str) -> Option<UptimeWindow> {
        UptimeWindow::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Windows up to 7 days read hourly rollups, longer ones daily rollups; the window's start
    /// is rounded down to that granularity.
    pub fn level(self) -> RollupLevel {
        match self {
            UptimeWindow::Day | UptimeWindow::Week => RollupLevel::Hour,
            _ => RollupLevel::Day,
        }
    }

    /// The first bucket in the window ending at `now`.
    pub fn start_ms(self, now: DateTime<Utc>) -> i64 {
        self.level().floor((now - self.duration()).timestamp_millis())
    }
}

/// Uptime over a window: the share of check results that succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uptime {
    pub checks: u64,
    pub failures: u64,
    /// Results (successful ones included) that reported maintenance.
    pub maintenance: u64,
}

impl Uptime {
    /// `None` without data; maintenance that the status endpoint announced is not downtime
    /// by itself (failures during it are).
    pub fn ratio(&self) -> Option<f64> {
        (self.checks > 0).then(|| (self.checks - self.failures.min(self.checks)) as f64 / self.checks as f64)
    }

    pub fn percent(&self) -> Option<f64> {
        self.ratio().map(|r| r * 100.0)
    }
}

pub(crate) fn uptime(
    conn: &Connection,
    provider: &str,
    window: UptimeWindow,
    now: DateTime<Utc>,
) -> Result<Uptime, StoreError> {
    let sql = format!(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(failures), 0), COALESCE(SUM(maintenance), 0)
         FROM {} WHERE provider = ?1 AND bucket >= ?2 AND bucket <= ?3",
        window.level().table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(params![provider, window.start_ms(now), now.timestamp_millis()], |r| {
        Ok(Uptime { checks: u(r.get(0)?), failures: u(r.get(1)?), maintenance: u(r.get(2)?) })
    })?)
}

/// Every monitored provider's uptime: one pass over `monitor_providers` with an index range
/// read of the rollup table per provider (its primary key is (provider, bucket)).
pub(crate) fn uptime_all(
    conn: &Connection,
    window: UptimeWindow,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Uptime)>, StoreError> {
    let sql = format!(
        "SELECT p.provider, COALESCE(SUM(r.count), 0), COALESCE(SUM(r.failures), 0), COALESCE(SUM(r.maintenance), 0)
         FROM monitor_providers p
         LEFT JOIN {} r ON r.provider = p.provider AND r.bucket >= ?1 AND r.bucket <= ?2
         GROUP BY p.provider ORDER BY p.provider",
        window.level().table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![window.start_ms(now), now.timestamp_millis()], |r| {
        Ok((r.get::<_, String>(0)?, Uptime { checks: u(r.get(1)?), failures: u(r.get(2)?), maintenance: u(r.get(3)?) }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One point of a latency series (successful results only; failures are counted).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyPoint {
    pub start: DateTime<Utc>,
    pub count: u64,
    pub failures: u64,
    pub min: Option<Duration>,
    pub avg: Option<Duration>,
    pub max: Option<Duration>,
    pub p95: Option<Duration>,
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn dur(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Reads rollups in `[since, until]` merged into buckets of `bucket` (rounded to a whole
/// number of the rollup level it reads: minutes below an hour, hours below a day, else days).
pub(crate) fn latency_series(
    conn: &Connection,
    provider: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Duration,
) -> Result<Vec<LatencyPoint>, StoreError> {
    let want = i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(MINUTE_MS);
    let level = if want >= DAY_MS {
        RollupLevel::Day
    } else if want >= HOUR_MS {
        RollupLevel::Hour
    } else {
        RollupLevel::Minute
    };
    let size = (want / level.size_ms()).max(1) * level.size_ms();
    let sql = format!(
        "SELECT bucket, {AGG_COLUMNS} FROM {} WHERE provider = ?1 AND bucket >= ?2 AND bucket <= ?3 ORDER BY bucket",
        level.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![provider, level.floor(since.timestamp_millis()), until.timestamp_millis()], |r| {
            Ok((r.get::<_, i64>(0)?, agg_from_row(r, 1)?))
        })?;
    let mut out: Vec<(i64, Agg)> = Vec::new();
    for row in rows {
        let (b, agg) = row?;
        let key = b.div_euclid(size) * size;
        match out.last_mut() {
            Some((k, a)) if *k == key => a.merge(&agg),
            _ => out.push((key, agg)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(k, a)| LatencyPoint {
            start: ms_to_time(k),
            count: a.count,
            failures: a.failures,
            min: a.lat_min.map(dur),
            avg: a.avg().map(|v| Duration::from_micros((v * 1000.0) as u64)),
            max: a.lat_max.map(dur),
            p95: a.p95().map(dur),
        })
        .collect())
}

/// One day of the uptime strip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayUptime {
    pub day: NaiveDate,
    pub uptime: Uptime,
}

/// The last `days` UTC days up to and including today's, oldest first; days without data
/// have zero checks.
pub(crate) fn daily_uptime(
    conn: &Connection,
    provider: &str,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<DayUptime>, StoreError> {
    let today = RollupLevel::Day.floor(now.timestamp_millis());
    let first = today - i64::from(days.max(1) - 1) * DAY_MS;
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, count, failures, maintenance FROM rollup_day WHERE provider = ?1 AND bucket >= ?2 AND bucket <= ?3",
    )?;
    let mut found: HashMap<i64, Uptime> = HashMap::new();
    let rows = stmt.query_map(params![provider, first, today], |r| {
        Ok((r.get::<_, i64>(0)?, Uptime { checks: u(r.get(1)?), failures: u(r.get(2)?), maintenance: u(r.get(3)?) }))
    })?;
    for row in rows {
        let (b, up) = row?;
        found.insert(b, up);
    }
    Ok((0..i64::from(days.max(1)))
        .map(|d| {
            let b = first + d * DAY_MS;
            DayUptime { day: ms_to_time(b).date_naive(), uptime: found.get(&b).copied().unwrap_or_default() }
        })
        .collect())
}

/// A contiguous period in a bad state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub provider: String,
    /// The worst state during the incident.
    pub state: HealthState,
    pub started_at: DateTime<Utc>,
    /// `None` while it lasts.
    pub ended_at: Option<DateTime<Utc>>,
    pub cause: String,
}

impl Incident {
    /// The duration, up to `now` for an open incident.
    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        self.ended_at.unwrap_or(now) - self.started_at
    }
}

/// Incidents that were open at or after `since`, newest first.
pub(crate) fn incidents(
    conn: &Connection,
    provider: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<Incident>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, provider, state, started_at, ended_at, cause FROM incidents
         WHERE (?1 IS NULL OR provider = ?1) AND (ended_at IS NULL OR ended_at >= ?2)
         ORDER BY started_at DESC, id DESC",
    )?;
    let rows = stmt.query_map(params![provider, since.timestamp_millis()], |r| {
        let state: String = r.get(2)?;
        Ok(Incident {
            id: r.get(0)?,
            provider: r.get(1)?,
            state: HealthState::parse(&state).unwrap_or(HealthState::Unknown),
            started_at: ms_to_time(r.get(3)?),
            ended_at: r.get::<_, Option<i64>>(4)?.map(ms_to_time),
            cause: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A recorded state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChangeRecord {
    pub provider: String,
    pub at: DateTime<Utc>,
    pub from: HealthState,
    pub to: HealthState,
    pub cause: String,
}

/// State changes at or after `since`, oldest first.
pub(crate) fn state_changes(
    conn: &Connection,
    provider: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<StateChangeRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider, at, from_state, to_state, cause FROM state_changes
         WHERE (?1 IS NULL OR provider = ?1) AND at >= ?2 ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![provider, since.timestamp_millis()], |r| {
        let from: String = r.get(2)?;
        let to: String = r.get(3)?;
        Ok(StateChangeRecord {
            provider: r.get(0)?,
            at: ms_to_time(r.get(1)?),
            from: HealthState::parse(&from).unwrap_or(HealthState::Unknown),
            to: HealthState::parse(&to).unwrap_or(HealthState::Unknown),
            cause: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The state each provider was in just before `at` (its last change before it).
pub(crate) fn state_before(
    conn: &Connection,
    provider: &str,
    at: DateTime<Utc>,
) -> Result<Option<HealthState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT to_state FROM state_changes WHERE provider = ?1 AND at < ?2 ORDER BY at DESC, id DESC LIMIT 1",
    )?;
    let s: Option<String> = stmt.query_row(params![provider, at.timestamp_millis()], |r| r.get(0)).optional()?;
    Ok(s.and_then(|s| HealthState::parse(&s)))
}

/// A `monitor_providers` row.
pub(crate) struct PersistedState {
    pub provider: String,
    pub state: HealthState,
    pub since: Option<DateTime<Utc>>,
    pub cause: String,
    pub settings: String,
}

/// The persisted state of each monitored provider.
pub(crate) fn persisted_states(conn: &Connection) -> Result<Vec<PersistedState>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT provider, state, state_since, cause, settings FROM monitor_providers")?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(1)?;
        Ok(PersistedState {
            provider: r.get(0)?,
            state: HealthState::parse(&state).unwrap_or(HealthState::Unknown),
            since: r.get::<_, Option<i64>>(2)?.map(ms_to_time),
            cause: r.get(3)?,
            settings: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest raw result of a provider: (at, ok, latency).
pub(crate) fn last_result(
    conn: &Connection,
    provider: &str,
) -> Result<Option<(DateTime<Utc>, bool, Duration)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT ts, ok, latency_ms FROM check_results WHERE provider = ?1 ORDER BY ts DESC LIMIT 1")?;
    Ok(stmt
        .query_row([provider], |r| {
            Ok((ms_to_time(r.get(0)?), r.get::<_, i64>(1)? != 0, Duration::from_millis(u(r.get(2)?))))
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_ratio_counts_failures_as_downtime() {
        let up = Uptime { checks: 1000, failures: 3, maintenance: 10 };
        assert!((up.ratio().expect("data") - 0.997).abs() < 1e-9);
        assert_eq!(Uptime::default().ratio(), None);
    }

    #[test]
    fn windows_read_hours_up_to_a_week_and_days_beyond() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 34, 0).single().expect("valid");
        assert_eq!(UptimeWindow::Day.level(), RollupLevel::Hour);
        assert_eq!(ms_to_time(UptimeWindow::Day.start_ms(now)).to_rfc3339(), "2026-03-09T12:00:00+00:00");
        assert_eq!(ms_to_time(UptimeWindow::Quarter.start_ms(now)).to_rfc3339(), "2025-12-10T00:00:00+00:00");
        assert_eq!(UptimeWindow::parse("90d"), Some(UptimeWindow::Quarter));
    }
}
