//! History: raw check results, minute / hour / day rollups, state changes and incidents.
//!
//! One writer thread owns its own connection and writes in transactions: results are queued
//! from any thread and written in batches of up to [`MAX_BATCH`](writer::MAX_BATCH), at most
//! [`FLUSH_EVERY`](writer::FLUSH_EVERY) after they arrived. Rollups are maintained
//! incrementally: the writer keeps the open buckets in memory (loading a bucket from the table
//! when a result arrives for one it does not hold, e.g. after a restart) and upserts each
//! touched bucket once per batch.
//!
//! Latency percentiles merge through a sparse log-scale histogram stored with each rollup
//! row ([`Histogram`]: 4 bins per doubling, so a p95 is within ±9 % of the true value and is
//! clamped to the bucket's exact min/max).
//!
//! The rollup levels, retention and the rollup tables' row format are here; the histogram in
//! `histogram.rs`, the writer thread in `writer.rs`, the reads in `queries.rs`.

mod histogram;
mod queries;
mod writer;

use std::time::Duration;

pub use histogram::{Agg, Histogram};
pub(crate) use queries::{
    daily_uptime, incidents, last_result, latency_series, persisted_states, state_before, state_changes, uptime,
    uptime_all, PersistedState,
};
pub use queries::{DayUptime, Incident, LatencyPoint, StateChangeRecord, Uptime, UptimeWindow};
pub(crate) use writer::{Msg, Writer};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A rollup granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RollupLevel {
    Minute,
    Hour,
    Day,
}

impl RollupLevel {
    pub const ALL: [RollupLevel; 3] = [RollupLevel::Minute, RollupLevel::Hour, RollupLevel::Day];

    pub fn table(self) -> &'static str {
        match self {
            RollupLevel::Minute => "rollup_minute",
            RollupLevel::Hour => "rollup_hour",
            RollupLevel::Day => "rollup_day",
        }
    }

    pub fn size_ms(self) -> i64 {
        match self {
            RollupLevel::Minute => MINUTE_MS,
            RollupLevel::Hour => HOUR_MS,
            RollupLevel::Day => DAY_MS,
        }
    }

    pub fn floor(self, ms: i64) -> i64 {
        ms.div_euclid(self.size_ms()) * self.size_ms()
    }

    /// How long a bucket stays in the writer's memory after it ended.
    fn grace_ms(self) -> i64 {
        match self {
            RollupLevel::Minute => 2 * MINUTE_MS,
            RollupLevel::Hour => 10 * MINUTE_MS,
            RollupLevel::Day => HOUR_MS,
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
