//! The batched writer: attempts are queued from any thread and written by one thread in
//! transactions of up to [`MAX_BATCH`] rows, at most [`FLUSH_EVERY`] after they happened.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::params;

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
    Flush(Sender<()>),
}

/// Handle to the writer thread. Cheap to clone; the thread ends when the last handle drops.
#[derive(Clone)]
pub struct Recorder {
    tx: Sender<Msg>,
}

impl Recorder {
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("keyward-recorder".into()).spawn(move || writer(store, rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the usage recorder; calls will not be recorded");
        }
        Self { tx }
    }

    pub fn record(&self, r: AttemptRecord) {
        let _ = self.tx.send(Msg::Record(r));
    }

    /// Blocks until everything recorded so far is in the database.
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

fn writer(store: Store, rx: Receiver<Msg>) {
    let mut batch: Vec<AttemptRecord> = Vec::with_capacity(MAX_BATCH);
    let mut oldest: Option<Instant> = None;
    loop {
        let timeout = oldest.map_or(Duration::from_secs(3600), |t| FLUSH_EVERY.saturating_sub(t.elapsed()));
        match rx.recv_timeout(timeout) {
            Ok(Msg::Record(r)) => {
                oldest.get_or_insert_with(Instant::now);
                batch.push(r);
                if batch.len() >= MAX_BATCH {
                    write(&store, &mut batch);
                    oldest = None;
                }
            }
            Ok(Msg::Flush(done)) => {
                write(&store, &mut batch);
                oldest = None;
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                write(&store, &mut batch);
                oldest = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                write(&store, &mut batch);
                return;
            }
        }
    }
}

fn write(store: &Store, batch: &mut Vec<AttemptRecord>) {
    if batch.is_empty() {
        return;
    }
    let result = store.with_conn(|c| {
        let tx = c.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO calls (ts, provider, environment, operation, key_label, caller, attempt, status, outcome,
                                    latency_ms, bytes_out, bytes_in, weight, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for r in batch.iter() {
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
        }
        tx.commit()?;
        Ok(())
    });
    if let Err(e) = result {
        tracing::error!(error = %e, rows = batch.len(), "could not record calls");
    }
    batch.clear();
}
