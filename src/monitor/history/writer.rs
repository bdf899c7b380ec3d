//! The history writer: one thread with its own connection that writes check results, rollups
//! and state changes in batched transactions, and prunes old history.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::histogram::Agg;
use super::{agg_from_row, PruneReport, Retention, RollupLevel, AGG_COLUMNS};
use crate::monitor::check::CheckResult;
use crate::monitor::state::{Change, HealthState};
use crate::monitor::MonitorError;
use crate::store::batch::Batches;
use crate::store::{self, StoreError};

pub const MAX_BATCH: usize = 1024;
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn load_agg(conn: &Connection, level: RollupLevel, provider: &str, bucket: i64) -> Result<Option<Agg>, StoreError> {
    let sql = format!("SELECT {AGG_COLUMNS} FROM {} WHERE provider = ?1 AND bucket = ?2", level.table());
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(params![provider, bucket], |r| agg_from_row(r, 0)).optional()?)
}

fn store_agg(conn: &Connection, level: RollupLevel, provider: &str, bucket: i64, a: &Agg) -> Result<(), StoreError> {
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
    cache: HashMap<(RollupLevel, String, i64), Agg>,
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
        let mut dirty: HashSet<(RollupLevel, String, i64)> = HashSet::new();
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
                for level in RollupLevel::ALL {
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
        for (n, (level, keep)) in counts.iter_mut().zip([
            (RollupLevel::Minute, r.minute),
            (RollupLevel::Hour, r.hour),
            (RollupLevel::Day, r.day),
        ]) {
            // A bucket goes once all of it is older than the retention.
            let cutoff = level.floor(before(keep));
            *n = tx.execute(&format!("DELETE FROM {} WHERE bucket < ?1", level.table()), [cutoff])?;
        }
        tx.commit()?;
        let report = PruneReport { results, minutes: counts[0], hours: counts[1], days: counts[2] };
        let cutoffs = [(RollupLevel::Minute, r.minute), (RollupLevel::Hour, r.hour), (RollupLevel::Day, r.day)];
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
