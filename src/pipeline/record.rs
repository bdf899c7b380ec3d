//! The batched writer: attempts are queued from any thread and written by one thread, on its
//! own database connection, in transactions of up to [`MAX_BATCH`] rows, at most
//! [`FLUSH_EVERY`] after they happened.
//!
//! The thread wakes once per batch, not once per attempt: after the first attempt of a batch
//! it parks until [`FLUSH_EVERY`] has passed (a `flush` unparks it at once), then drains the
//! queue. At 200 calls a second that is 4 wakes instead of 200.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::store::batch::Batches;
use crate::store::Store;

pub const MAX_BATCH: usize = 512;
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    HttpError,
    ProviderError,
    Timeout,
    Network,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpError => "http_error",
            Outcome::ProviderError => "provider_error",
            Outcome::Timeout => "timeout",
            Outcome::Network => "network",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub ts: DateTime<Utc>,
    pub provider: String,
    pub environment: String,
    pub operation: String,
    pub key_label: Option<String>,
    pub caller: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub latency: Duration,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub weight: u32,
    pub cost: f64,
}

enum Msg {
    Record(AttemptRecord),
    /// A key signed a call that got an answer: its "last used" time, written with the batch.
    KeyUsed(i64, DateTime<Utc>),
    Flush(Sender<()>),
}

/// Handle to the writer thread. Cheap to clone; the thread ends when the last handle drops.
#[derive(Clone)]
pub struct Recorder {
    tx: Sender<Msg>,
    /// Every attempt also counts here, for `/metrics` (see [`crate::metrics::live`]).
    live: std::sync::Arc<crate::metrics::LiveCalls>,
    /// The writer thread, to unpark it for a flush.
    writer: Option<thread::Thread>,
}

impl Recorder {
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel();
        let path = store.path().to_path_buf();
        let spawned = thread::Builder::new().name("keyward-recorder".into()).spawn(move || {
            // Its own connection, so a batch never holds the shared one that calls read from.
            match crate::store::open_connection(&path) {
                Ok(conn) => writer(&conn, rx),
                Err(e) => tracing::error!(error = %e, "could not open the usage recorder's connection"),
            }
        });
        let writer = match spawned {
            Ok(handle) => Some(handle.thread().clone()),
            Err(e) => {
                tracing::error!(error = %e, "could not start the usage recorder; calls will not be recorded");
                None
            }
        };
        Self { tx, writer, live: Default::default() }
    }

    /// This process's attempts as Prometheus counters.
    pub fn live(&self) -> &crate::metrics::LiveCalls {
        &self.live
    }

    pub fn record(&self, r: AttemptRecord) {
        self.live.observe(&r);
        let _ = self.tx.send(Msg::Record(r));
    }

    /// Notes that key `id` was used at `at`; written with the next batch (one `UPDATE` per key
    /// per batch, not one per call).
    pub fn key_used(&self, id: i64, at: DateTime<Utc>) {
        let _ = self.tx.send(Msg::KeyUsed(id, at));
    }

    /// Blocks until everything recorded so far is in the database.
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            if let Some(w) = &self.writer {
                w.unpark();
            }
            let _ = done_rx.recv();
        }
    }
}

fn writer(conn: &rusqlite::Connection, rx: Receiver<Msg>) {
    let mut rows: Vec<AttemptRecord> = Vec::with_capacity(MAX_BATCH);
    let mut used: std::collections::HashMap<i64, DateTime<Utc>> = std::collections::HashMap::new();
    for batch in Batches::new(rx, FLUSH_EVERY, |m| matches!(m, Msg::Flush(_))) {
        let mut waiting = Vec::new();
        for msg in batch {
            match msg {
                Msg::Record(r) => {
                    rows.push(r);
                    if rows.len() >= MAX_BATCH {
                        write(conn, &mut rows);
                    }
                }
                Msg::KeyUsed(id, at) => {
                    let last = used.entry(id).or_insert(at);
                    *last = (*last).max(at);
                }
                Msg::Flush(done) => waiting.push(done),
            }
        }
        write(conn, &mut rows);
        write_key_uses(conn, &mut used);
        for done in waiting {
            let _ = done.send(());
        }
    }
}

fn write_key_uses(c: &rusqlite::Connection, used: &mut std::collections::HashMap<i64, DateTime<Utc>>) {
    for (id, at) in used.drain() {
        let result = c.execute("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2", params![at.to_rfc3339(), id]);
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not update the key's last use");
        }
    }
}

/// An hourly rollup row's key: hour start (Unix seconds), provider, environment, operation,
/// key label ('' for none), caller.
type HourKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str);
/// Its sums: calls, errors, weight, cost, latency in ms.
type HourSums = (i64, i64, i64, f64, i64);

fn write(c: &rusqlite::Connection, batch: &mut Vec<AttemptRecord>) {
    if batch.is_empty() {
        return;
    }
    let result = (|| -> rusqlite::Result<()> {
        let tx = c.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO calls (ts, provider, environment, operation, key_label, caller, attempt, status, outcome,
                                    latency_ms, bytes_out, bytes_in, weight, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let mut hourly: std::collections::HashMap<HourKey<'_>, HourSums> = std::collections::HashMap::new();
            for r in batch.iter() {
                let latency = i64::try_from(r.latency.as_millis()).unwrap_or(i64::MAX);
                let key = (
                    r.ts.timestamp().div_euclid(3600) * 3600,
                    r.provider.as_str(),
                    r.environment.as_str(),
                    r.operation.as_str(),
                    r.key_label.as_deref().unwrap_or(""),
                    r.caller.as_str(),
                );
                let h = hourly.entry(key).or_insert((0, 0, 0, 0.0, 0));
                h.0 += 1;
                h.1 += i64::from(r.outcome != Outcome::Ok);
                h.2 += i64::from(r.weight);
                h.3 += r.cost;
                h.4 = h.4.saturating_add(latency);
                stmt.execute(params![
                    r.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    r.provider,
                    r.environment,
                    r.operation,
                    r.key_label,
                    r.caller,
                    r.attempt,
                    r.status,
                    r.outcome.as_str(),
                    i64::try_from(r.latency.as_millis()).unwrap_or(i64::MAX),
                    r.bytes_out as i64,
                    r.bytes_in as i64,
                    r.weight,
                    r.cost,
                ])?;
            }
            // The hourly rollup in the same transaction, so the two never disagree.
            let mut up = tx.prepare_cached(
                "INSERT INTO calls_hourly (hour, provider, environment, operation, key_label, caller,
                                           calls, errors, weight, cost, latency_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (hour, provider, environment, operation, key_label, caller) DO UPDATE SET
                     calls = calls + excluded.calls, errors = errors + excluded.errors,
                     weight = weight + excluded.weight, cost = cost + excluded.cost,
                     latency_ms = latency_ms + excluded.latency_ms",
            )?;
            for ((hour, provider, environment, operation, key, caller), (n, errors, weight, cost, latency)) in hourly {
                up.execute(params![
                    hour,
                    provider,
                    environment,
                    operation,
                    key,
                    caller,
                    n,
                    errors,
                    weight,
                    cost,
                    latency
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::error!(error = %e, rows = batch.len(), "could not record calls");
    }
    batch.clear();
}
