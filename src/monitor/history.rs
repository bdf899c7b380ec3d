//! History: raw check results, minute / hour / day rollups, state changes and incidents.
//!
//! One writer thread owns its own connection and writes in transactions: results are queued
//! from any thread and written in batches of up to [`MAX_BATCH`], at most [`FLUSH_EVERY`]
//! after they arrived. Rollups are maintained incrementally: the writer keeps the open buckets
//! in memory (loading a bucket from the table when a result arrives for one it does not hold,
//! e.g. after a restart) and upserts each touched bucket once per batch.
//!
//! Latency percentiles merge through a sparse log-scale histogram stored with each rollup
//! row ([`Histogram`]: 4 bins per doubling, so a p95 is within ±9 % of the true value and is
//! clamped to the bucket's exact min/max).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::check::CheckResult;
use super::state::{Change, HealthState};
use super::MonitorError;
use crate::store::batch::Batches;
use crate::store::{self, StoreError};

pub const MAX_BATCH: usize = 1024;
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A rollup granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Minute,
    Hour,
    Day,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Minute, Level::Hour, Level::Day];

    pub fn table(self) -> &'static str {
        match self {
            Level::Minute => "rollup_minute",
            Level::Hour => "rollup_hour",
            Level::Day => "rollup_day",
        }
    }

    pub fn size_ms(self) -> i64 {
        match self {
            Level::Minute => MINUTE_MS,
            Level::Hour => HOUR_MS,
            Level::Day => DAY_MS,
        }
    }

    pub fn floor(self, ms: i64) -> i64 {
        ms.div_euclid(self.size_ms()) * self.size_ms()
    }

    /// How long a bucket stays in the writer's memory after it ended.
    fn grace_ms(self) -> i64 {
        match self {
            Level::Minute => 2 * MINUTE_MS,
            Level::Hour => 10 * MINUTE_MS,
            Level::Day => HOUR_MS,
        }
    }
}

/// How long history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
    pub day: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            raw: Duration::from_secs(7 * DAY),
            minute: Duration::from_secs(2 * DAY),
            hour: Duration::from_secs(90 * DAY),
            day: Duration::from_secs(400 * DAY),
        }
    }
}

/// What [`super::Monitor::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub results: usize,
    pub minutes: usize,
    pub hours: usize,
    pub days: usize,
}

// ---------------------------------------------------------------------------------------------
// Aggregation

const BINS: usize = 64;
const BINS_PER_DOUBLING: f64 = 4.0;

/// A latency histogram: bin `i` holds latencies in [2^(i/4), 2^((i+1)/4)) ms; bin 0 also holds
/// 0 ms and bin 63 everything from ~55 s up.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    bins: [u32; BINS],
}

impl Default for Histogram {
    fn default() -> Self {
        Self { bins: [0; BINS] }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nonzero: Vec<(usize, u32)> = self.bins.iter().copied().enumerate().filter(|(_, c)| *c > 0).collect();
        f.debug_struct("Histogram").field("bins", &nonzero).finish()
    }
}

impl Histogram {
    fn bin(ms: u32) -> usize {
        if ms <= 1 {
            return 0;
        }
        let b = (f64::from(ms).log2() * BINS_PER_DOUBLING).floor();
        (b as usize).min(BINS - 1)
    }

    pub fn add(&mut self, ms: u32) {
        let b = Self::bin(ms);
        self.bins[b] = self.bins[b].saturating_add(1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.bins.iter_mut().zip(other.bins.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u64 {
        self.bins.iter().map(|c| u64::from(*c)).sum()
    }

    /// The value at quantile `q` (geometric middle of its bin).
    pub fn quantile(&self, q: f64) -> Option<u32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, c) in self.bins.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let mid = 2f64.powf((i as f64 + 0.5) / BINS_PER_DOUBLING);
                return Some(mid.round() as u32);
            }
        }
        None
    }

    /// Sparse encoding: (bin: u8, count: u32 LE) per non-empty bin.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in self.bins.iter().enumerate().filter(|(_, c)| **c > 0) {
            out.push(i as u8);
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Self {
        let mut h = Self::default();
        for chunk in bytes.chunks_exact(5) {
            let i = usize::from(chunk[0]).min(BINS - 1);
            let c = u32::from_le_bytes([chunk[1], chunk[2], chunk[3], chunk[4]]);
            h.bins[i] = h.bins[i].saturating_add(c);
        }
        h
    }
}

/// One rollup bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agg {
    pub count: u64,
    pub failures: u64,
    pub maintenance: u64,
    pub lat_count: u64,
    pub lat_sum: u64,
    pub lat_min: Option<u32>,
    pub lat_max: Option<u32>,
    pub hist: Histogram,
}

impl Agg {
    pub fn add(&mut self, ok: bool, maintenance: bool, latency: Duration) {
        self.count += 1;
        if !ok {
            self.failures += 1;
        }
        if maintenance {
            self.maintenance += 1;
        }
        if ok {
            let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
            self.lat_count += 1;
            self.lat_sum += u64::from(ms);
            self.lat_min = Some(self.lat_min.map_or(ms, |m| m.min(ms)));
            self.lat_max = Some(self.lat_max.map_or(ms, |m| m.max(ms)));
            self.hist.add(ms);
        }
    }

    pub fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.failures += o.failures;
        self.maintenance += o.maintenance;
        self.lat_count += o.lat_count;
        self.lat_sum += o.lat_sum;
        self.lat_min = match (self.lat_min, o.lat_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.lat_max = match (self.lat_max, o.lat_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.hist.merge(&o.hist);
    }

    /// The 95th percentile: exact when it is the largest sample (few samples), else the
    /// histogram's estimate clamped to the exact min and max.
    pub fn p95(&self) -> Option<u32> {
        let total = self.hist.total();
        if total > 0 && (0.95 * total as f64).ceil() as u64 >= total {
            return self.lat_max;
        }
        let q = self.hist.quantile(0.95)?;
        Some(q.clamp(self.lat_min.unwrap_or(0), self.lat_max.unwrap_or(u32::MAX)))
    }

    pub fn avg(&self) -> Option<f64> {
        (self.lat_count > 0).then(|| self.lat_sum as f64 / self.lat_count as f64)
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const AGG_COLUMNS: &str = "count, failures, maintenance, lat_count, lat_sum, lat_min, lat_max, hist";

fn agg_from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Agg> {
    let hist: Vec<u8> = row.get(first + 7)?;
    Ok(Agg {
        count: u(row.get(first)?),
        failures: u(row.get(first + 1)?),
        maintenance: u(row.get(first + 2)?),
        lat_count: u(row.get(first + 3)?),
        lat_sum: u(row.get(first + 4)?),
        lat_min: row.get::<_, Option<i64>>(first + 5)?.map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        lat_max: row.get::<_, Option<i64>>(first + 6)?.map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        hist: Histogram::decode(&hist),
    })
}

fn load_agg(conn: &Connection, level: Level, provider: &str, bucket: i64) -> Result<Option<Agg>, StoreError> {
    let sql = format!("SELECT {AGG_COLUMNS} FROM {} WHERE provider = ?1 AND bucket = ?2", level.table());
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(params![provider, bucket], |r| agg_from_row(r, 0)).optional()?)
}

fn store_agg(conn: &Connection, level: Level, provider: &str, bucket: i64, a: &Agg) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT OR REPLACE INTO {} (provider, bucket, count, failures, maintenance, lat_count, lat_sum, lat_min,
                                    lat_max, lat_p95, hist)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        level.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.execute(params![
        provider,
        bucket,
        i(a.count),
        i(a.failures),
        i(a.maintenance),
        i(a.lat_count),
        i(a.lat_sum),
        a.lat_min,
        a.lat_max,
        a.p95(),
        a.hist.encode(),
    ])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The writer

pub(crate) enum Msg {
    Result(CheckResult),
    Change { provider: String, change: Change },
    Flush(Sender<()>),
    Prune { now: DateTime<Utc>, retention: Retention, reply: Sender<Result<PruneReport, StoreError>> },
}

/// Handle to the writer thread. Cheap to clone; the thread ends when the last handle drops.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: Sender<Msg>,
    /// The writer thread, unparked for flushes and prunes (see [`run`]).
    thread: thread::Thread,
}

impl Writer {
    pub(crate) fn start(path: &Path) -> Result<Self, MonitorError> {
        let conn = store::open_connection(path)?;
        let (tx, rx) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("keyward-monitor-history".into())
            .spawn(move || run(conn, rx))
            .map_err(MonitorError::Thread)?;
        Ok(Self { tx, thread: handle.thread().clone() })
    }

    pub(crate) fn send(&self, msg: Msg) {
        if self.tx.send(msg).is_err() {
            tracing::error!("the monitor history writer has stopped; a result was not recorded");
        }
    }

    /// Blocks until everything sent so far is in the database.
    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            self.thread.unpark();
            let _ = done_rx.recv();
        }
    }

    pub(crate) fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<PruneReport, MonitorError> {
        let (reply, rx) = mpsc::channel();
        self.tx.send(Msg::Prune { now, retention, reply }).map_err(|_| MonitorError::WriterStopped)?;
        self.thread.unpark();
        Ok(rx.recv().map_err(|_| MonitorError::WriterStopped)??)
    }
}

enum Pendingwrite {
    Result(CheckResult),
    Change { provider: String, change: Change },
}

struct WriterState {
    conn: Connection,
    cache: HashMap<(Level, String, i64), Agg>,
    known: HashSet<String>,
    newest_ms: i64,
}

/// The writer loop: one batch at a time ([`Batches`]: it wakes once per [`FLUSH_EVERY`], or at
/// once for a flush or prune), written in transactions of up to [`MAX_BATCH`] results.
fn run(conn: Connection, rx: Receiver<Msg>) {
    let mut st = WriterState { conn, cache: HashMap::new(), known: HashSet::new(), newest_ms: i64::MIN };
    let mut pending: Vec<Pendingwrite> = Vec::with_capacity(MAX_BATCH);
    let ends = |m: &Msg| matches!(m, Msg::Flush(_) | Msg::Prune { .. });
    for batch in Batches::new(rx, FLUSH_EVERY, ends) {
        for msg in batch {
            match msg {
                Msg::Result(r) => {
                    pending.push(Pendingwrite::Result(r));
                    if pending.len() >= MAX_BATCH {
                        st.write(&mut pending);
                    }
                }
                Msg::Change { provider, change } => pending.push(Pendingwrite::Change { provider, change }),
                Msg::Flush(done) => {
                    st.write(&mut pending);
                    let _ = done.send(());
                }
                Msg::Prune { now, retention, reply } => {
                    st.write(&mut pending);
                    let _ = reply.send(st.prune(now, retention));
                }
            }
        }
        st.write(&mut pending);
    }
}

impl WriterState {
    fn write(&mut self, batch: &mut Vec<Pendingwrite>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.try_write(batch) {
            tracing::error!(error = %e, rows = batch.len(), "could not record check results");
            // The cached buckets may hold values that were rolled back: reload them next time.
            self.cache.clear();
        }
        batch.clear();
        self.evict();
    }

    fn try_write(&mut self, batch: &[Pendingwrite]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let mut dirty: HashSet<(Level, String, i64)> = HashSet::new();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO check_results (ts, provider, check_id, operation, ok, status, latency_ms, slow,
                                            maintenance, error_kind, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for item in batch {
                let Pendingwrite::Result(r) = item else { continue };
                let ts = r.at.timestamp_millis();
                let maintenance = r.maintenance().is_some();
                insert.execute(params![
                    ts,
                    r.provider,
                    r.check_id,
                    r.operation,
                    r.ok,
                    r.status,
                    i64::try_from(r.latency.as_millis()).unwrap_or(i64::MAX),
                    r.slow,
                    maintenance,
                    r.error.as_ref().map(|e| e.kind.as_str()),
                    r.error.as_ref().map(|e| e.message.as_str()),
                ])?;
                if !self.known.contains(&r.provider) {
                    tx.execute("INSERT OR IGNORE INTO monitor_providers (provider) VALUES (?1)", [&r.provider])?;
                    self.known.insert(r.provider.clone());
                }
                self.newest_ms = self.newest_ms.max(ts);
                for level in Level::ALL {
                    let key = (level, r.provider.clone(), level.floor(ts));
                    if !self.cache.contains_key(&key) {
                        let loaded = load_agg(&tx, level, &key.1, key.2)?.unwrap_or_default();
                        self.cache.insert(key.clone(), loaded);
                    }
                    if let Some(agg) = self.cache.get_mut(&key) {
                        agg.add(r.ok, maintenance, r.latency);
                    }
                    dirty.insert(key);
                }
            }
        }
        for key in &dirty {
            if let Some(agg) = self.cache.get(key) {
                store_agg(&tx, key.0, &key.1, key.2, agg)?;
            }
        }
        for item in batch {
            if let Pendingwrite::Change { provider, change } = item {
                record_change(&tx, provider, change)?;
                self.known.insert(provider.clone());
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn evict(&mut self) {
        let newest = self.newest_ms;
        self.cache.retain(|(level, _, bucket), _| bucket + level.size_ms() + level.grace_ms() >= newest);
    }

    fn prune(&mut self, now: DateTime<Utc>, r: Retention) -> Result<PruneReport, StoreError> {
        let now = now.timestamp_millis();
        let before = |d: Duration| now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
        let tx = self.conn.transaction()?;
        let results = tx.execute("DELETE FROM check_results WHERE ts < ?1", [before(r.raw)])?;
        let mut counts = [0usize; 3];
        for (n, (level, keep)) in
            counts.iter_mut().zip([(Level::Minute, r.minute), (Level::Hour, r.hour), (Level::Day, r.day)])
        {
            // A bucket goes once all of it is older than the retention.
            let cutoff = level.floor(before(keep));
            *n = tx.execute(&format!("DELETE FROM {} WHERE bucket < ?1", level.table()), [cutoff])?;
        }
        tx.commit()?;
        let report = PruneReport { results, minutes: counts[0], hours: counts[1], days: counts[2] };
        let cutoffs = [(Level::Minute, r.minute), (Level::Hour, r.hour), (Level::Day, r.day)];
        self.cache.retain(|(level, _, bucket), _| {
            cutoffs.iter().find(|(l, _)| l == level).map_or(true, |(l, keep)| *bucket >= l.floor(before(*keep)))
        });
        Ok(report)
    }
}

fn record_change(conn: &Connection, provider: &str, c: &Change) -> Result<(), StoreError> {
    let at = c.at.timestamp_millis();
    conn.execute(
        "INSERT INTO state_changes (provider, at, from_state, to_state, cause) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![provider, at, c.from.as_str(), c.to.as_str(), c.cause],
    )?;
    conn.execute(
        "INSERT INTO monitor_providers (provider, state, state_since, cause) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(provider) DO UPDATE SET state = excluded.state, state_since = excluded.state_since,
                                             cause = excluded.cause",
        params![provider, c.to.as_str(), at, c.cause],
    )?;
    let open: Option<(i64, String)> = conn
        .query_row("SELECT id, state FROM incidents WHERE provider = ?1 AND ended_at IS NULL", [provider], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match (open, c.to.is_bad()) {
        (Some((id, state)), true) => {
            let worse = HealthState::parse(&state).map_or(true, |s| c.to.severity() > s.severity());
            if worse {
                conn.execute("UPDATE incidents SET state = ?2 WHERE id = ?1", params![id, c.to.as_str()])?;
            }
        }
        (None, true) => {
            conn.execute(
                "INSERT INTO incidents (provider, state, started_at, ended_at, cause) VALUES (?1, ?2, ?3, NULL, ?4)",
                params![provider, c.to.as_str(), at, c.cause],
            )?;
        }
        (Some((id, _)), false) => {
            conn.execute("UPDATE incidents SET ended_at = ?2 WHERE id = ?1", params![id, at])?;
        }
        (None, false) => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries (on any connection; the monitor uses the shared store connection)

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
    pub fn level(self) -> Level {
        match self {
            UptimeWindow::Day | UptimeWindow::Week => Level::Hour,
            _ => Level::Day,
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
        Level::Day
    } else if want >= HOUR_MS {
        Level::Hour
    } else {
        Level::Minute
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
    let today = Level::Day.floor(now.timestamp_millis());
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
    fn histogram_quantiles_are_within_a_bin_of_the_truth() {
        let mut h = Histogram::default();
        for ms in 1..=1000 {
            h.add(ms);
        }
        let p95 = f64::from(h.quantile(0.95).expect("data"));
        assert!((p95 - 950.0).abs() / 950.0 < 0.10, "p95 {p95}");
        let p50 = f64::from(h.quantile(0.5).expect("data"));
        assert!((p50 - 500.0).abs() / 500.0 < 0.10, "p50 {p50}");
    }

    #[test]
    fn histogram_survives_its_encoding_and_merges() {
        let mut a = Histogram::default();
        [0, 1, 5, 120, 120, 70_000].into_iter().for_each(|v| a.add(v));
        let b = Histogram::decode(&a.encode());
        assert_eq!(a, b);
        let mut c = b.clone();
        c.merge(&a);
        assert_eq!(c.total(), 12);
    }

    #[test]
    fn agg_tracks_failures_and_latency_of_successes_only() {
        let mut a = Agg::default();
        a.add(true, false, Duration::from_millis(100));
        a.add(true, true, Duration::from_millis(300));
        a.add(false, false, Duration::from_millis(10_000));
        assert_eq!((a.count, a.failures, a.maintenance, a.lat_count), (3, 1, 1, 2));
        assert_eq!((a.lat_min, a.lat_max), (Some(100), Some(300)));
        assert_eq!(a.avg(), Some(200.0));
        assert_eq!(a.p95(), Some(300), "clamped to the exact max");
    }

    #[test]
    fn uptime_ratio_counts_failures_as_downtime() {
        let up = Uptime { checks: 1000, failures: 3, maintenance: 10 };
        assert!((up.ratio().expect("data") - 0.997).abs() < 1e-9);
        assert_eq!(Uptime::default().ratio(), None);
    }

    #[test]
    fn windows_read_hours_up_to_a_week_and_days_beyond() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 34, 0).single().expect("valid");
        assert_eq!(UptimeWindow::Day.level(), Level::Hour);
        assert_eq!(ms_to_time(UptimeWindow::Day.start_ms(now)).to_rfc3339(), "2026-03-09T12:00:00+00:00");
        assert_eq!(ms_to_time(UptimeWindow::Quarter.start_ms(now)).to_rfc3339(), "2025-12-10T00:00:00+00:00");
        assert_eq!(UptimeWindow::parse("90d"), Some(UptimeWindow::Quarter));
    }
}
