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

pub const MAX_BATCH: usize = 4096;
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    HttpError,
    /// Refused for the provider's rate or quota: HTTP 429 or 418, or a throttle note in a
    /// 200 (Alpha Vantage). Never billed.
    Throttled,
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
            Outcome::Throttled => "throttled",
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
    /// Money this call costs on a metered plan, in the provider's currency.
    pub cost: f64,
    /// What the provider bills for it: calls or credits (0 when not billed).
    pub units: f64,
}

impl AttemptRecord {
    /// A first attempt at `ts` answered 200 OK in 100 ms, weight 1, nothing billed, without a
    /// key, in production: what tests, benchmarks and seeded histories start from
    /// (`AttemptRecord { weight: 2, ..AttemptRecord::answered(ts, "binance", "ticker", "ui") }`).
    pub fn answered(ts: DateTime<Utc>, provider: &str, operation: &str, caller: &str) -> AttemptRecord {
        AttemptRecord {
            ts,
            provider: provider.into(),
            environment: "production".into(),
            operation: operation.into(),
            key_label: None,
            caller: caller.into(),
            attempt: 1,
            status: Some(200),
            outcome: Outcome::Ok,
            latency: Duration::from_millis(100),
            bytes_out: 0,
            bytes_in: 0,
            weight: 1,
            cost: 0.0,
            units: 0.0,
        }
    }
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
                Ok(conn) => {
                    // The rollups' B-trees are updated with every batch: a larger page cache
                    // than SQLite's 2 MB default keeps their upper levels in memory. It grows
                    // only as far as it is used.
                    if let Err(e) = conn.pragma_update(None, "cache_size", -32_768) {
                        tracing::warn!(error = %e, "could not size the recorder's page cache");
                    }
                    writer(&conn, rx)
                }
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

/// A rollup row's key: period start (Unix seconds), provider, environment, operation, key
/// label ('' for none), caller.
type RollKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str);

/// A rollup row's sums.
#[derive(Default)]
struct Sums {
    calls: i64,
    errors: i64,
    weight: i64,
    cost: f64,
    units: f64,
    throttled: i64,
    latency_ms: i64,
    latency: crate::usage::latency::Histogram,
}

impl Sums {
    fn add(&mut self, r: &AttemptRecord, latency_ms: i64) {
        self.calls += 1;
        self.errors += i64::from(r.outcome != Outcome::Ok);
        self.weight += i64::from(r.weight);
        self.cost += r.cost;
        self.units += r.units;
        self.throttled += i64::from(r.outcome == Outcome::Throttled);
        self.latency_ms = self.latency_ms.saturating_add(latency_ms);
        self.latency[crate::usage::latency::bucket(latency_ms)] += 1;
    }
}

/// Adds a batch's sums to a rollup table (`calls_hourly` by `hour`, `calls_daily` by `day`).
fn upsert_rollup(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    period: &str,
    sums: std::collections::HashMap<RollKey<'_>, Sums>,
) -> rusqlite::Result<()> {
    use crate::usage::latency::{columns, upsert_columns, BUCKETS};
    let placeholders = (1..=13 + BUCKETS).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let mut up = tx.prepare_cached(&format!(
        "INSERT INTO {table} ({period}, provider, environment, operation, key_label, caller,
                              calls, errors, weight, cost, units, throttled, latency_ms, {lat})
         VALUES ({placeholders})
         ON CONFLICT ({period}, provider, environment, operation, key_label, caller) DO UPDATE SET
             calls = calls + excluded.calls, errors = errors + excluded.errors,
             weight = weight + excluded.weight, cost = cost + excluded.cost, units = units + excluded.units,
             throttled = throttled + excluded.throttled,
             latency_ms = latency_ms + excluded.latency_ms, {lat_up}",
        lat = columns(),
        lat_up = upsert_columns(),
    ))?;
    for ((at, provider, environment, operation, key, caller), s) in sums {
        let mut values: Vec<rusqlite::types::Value> = vec![
            at.into(),
            provider.to_string().into(),
            environment.to_string().into(),
            operation.to_string().into(),
            key.to_string().into(),
            caller.to_string().into(),
            s.calls.into(),
            s.errors.into(),
            s.weight.into(),
            s.cost.into(),
            s.units.into(),
            s.throttled.into(),
            s.latency_ms.into(),
        ];
        values.extend(s.latency.iter().map(|&n| rusqlite::types::Value::from(n)));
        up.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

fn write(c: &rusqlite::Connection, batch: &mut Vec<AttemptRecord>) {
    if batch.is_empty() {
        return;
    }
    let result = (|| -> rusqlite::Result<()> {
        let tx = c.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO calls (ts, provider, environment, operation, key_label, caller, attempt, status, outcome,
                                    latency_ms, bytes_out, bytes_in, weight, cost, units)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let mut hourly: std::collections::HashMap<RollKey<'_>, Sums> = std::collections::HashMap::new();
            let mut daily: std::collections::HashMap<RollKey<'_>, Sums> = std::collections::HashMap::new();
            for r in batch.iter() {
                let latency = i64::try_from(r.latency.as_millis()).unwrap_or(i64::MAX);
                let secs = r.ts.timestamp();
                let rest = (
                    r.provider.as_str(),
                    r.environment.as_str(),
                    r.operation.as_str(),
                    r.key_label.as_deref().unwrap_or(""),
                    r.caller.as_str(),
                );
                let at = |size: i64| (secs.div_euclid(size) * size, rest.0, rest.1, rest.2, rest.3, rest.4);
                hourly.entry(at(3600)).or_default().add(r, latency);
                daily.entry(at(86_400)).or_default().add(r, latency);
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
                    latency,
                    r.bytes_out as i64,
                    r.bytes_in as i64,
                    r.weight,
                    r.cost,
                    r.units,
                ])?;
            }
            // The rollups in the same transaction, so the levels never disagree.
            upsert_rollup(&tx, "calls_hourly", "hour", hourly)?;
            upsert_rollup(&tx, "calls_daily", "day", daily)?;
        }
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::error!(error = %e, rows = batch.len(), "could not record calls");
    }
    batch.clear();
}
