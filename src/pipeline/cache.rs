//! The cache layer: per-endpoint TTL, one upstream call for identical concurrent requests
//! (moka's `entry().or_try_insert_with` coalesces them), and the last good answer of each
//! request kept past its TTL (the provider's `stale_if_error_ms`) to serve, marked stale, when
//! every provider fails. Ages are measured on the pipeline's clock, so tests move time instead
//! of sleeping; moka's own expiry (real time) only bounds memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use chrono::{DateTime, Utc};

use super::{CallError, CallOutcome};
use crate::clock::Clock;

/// Entries kept at most (all providers together).
const MAX_ENTRIES: u64 = 10_000;

#[derive(Clone)]
struct Entry {
    outcome: Arc<CallOutcome>,
    stored_at: DateTime<Utc>,
    /// How long moka keeps it (the TTL in the fresh cache, TTL + max staleness in the other).
    keep: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.keep)
    }
}

/// A last good answer served in place of a failed call.
pub struct Stale {
    pub outcome: CallOutcome,
    pub age: Duration,
}

pub struct ResponseCache {
    cache: Cache<String, Entry>,
    last_good: Cache<String, Entry>,
    clock: Arc<dyn Clock>,
    /// Entries read recently enough to refresh before they expire.
    hot: std::sync::Mutex<std::collections::HashMap<String, Hot>>,
}

/// The longest TTL refreshed ahead: market data, not hourly status reads.
pub const REFRESH_MAX_TTL: Duration = Duration::from_secs(60);
/// An entry is refreshed once this share of its TTL has passed.
const REFRESH_AT: f64 = 0.75;
/// An entry stays hot while read within this many TTLs (and at least [`HOT_MIN`]).
const HOT_TTLS: u32 = 3;
const HOT_MIN: Duration = Duration::from_secs(2);

/// A cache entry worth refreshing ahead: the request that fills it, and when it was stored
/// and last read.
#[derive(Clone)]
pub struct Hot {
    pub request: super::CallRequest,
    pub ttl: Duration,
    pub max_stale: Duration,
    stored_at: DateTime<Utc>,
    last_read: DateTime<Utc>,
    refreshing: bool,
}

pub fn key(
    provider: &str,
    environment: &str,
    operation: &str,
    params: &BTreeMap<String, String>,
    key_label: Option<&str>,
    raw: bool,
) -> String {
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{provider}|{environment}|{operation}|{}|{}|{raw}", key_label.unwrap_or(""), params.join("&"))
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

impl ResponseCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let cache = || Cache::builder().max_capacity(MAX_ENTRIES).expire_after(PerEntryTtl).build();
        Self { cache: cache(), last_good: cache(), clock, hot: Default::default() }
    }

    /// Notes that `key` (filled by `request`) was just read; `stored` says this read fetched
    /// it. Entries with a TTL over [`REFRESH_MAX_TTL`] are not tracked.
    pub fn touch(&self, key: &str, request: &super::CallRequest, ttl: Duration, max_stale: Duration, stored: bool) {
        if ttl > REFRESH_MAX_TTL || ttl.is_zero() {
            return;
        }
        let now = self.clock.now();
        let mut hot = self.hot.lock().unwrap_or_else(|p| p.into_inner());
        let entry = hot.entry(key.to_string()).or_insert_with(|| Hot {
            request: request.clone(),
            ttl,
            max_stale,
            stored_at: now,
            last_read: now,
            refreshing: false,
        });
        entry.last_read = now;
        if stored {
            entry.stored_at = now;
        }
    }

    /// The hot entries due for a refresh now (marked as refreshing); entries nobody read for
    /// a while are forgotten.
    pub fn due(&self) -> Vec<(String, Hot)> {
        let now = self.clock.now();
        let mut hot = self.hot.lock().unwrap_or_else(|p| p.into_inner());
        hot.retain(|_, h| age(now, h.last_read) <= (h.ttl * HOT_TTLS).max(HOT_MIN));
        hot.iter_mut()
            .filter(|(_, h)| !h.refreshing && age(now, h.stored_at).as_secs_f64() >= h.ttl.as_secs_f64() * REFRESH_AT)
            .map(|(k, h)| {
                h.refreshing = true;
                (k.clone(), h.clone())
            })
            .collect()
    }

    /// Stores a refreshed answer as fresh (and as the last good one).
    pub async fn refreshed(&self, key: &str, outcome: CallOutcome, ttl: Duration, max_stale: Duration) {
        let outcome = Arc::new(outcome);
        let stored_at = self.clock.now();
        if !max_stale.is_zero() {
            let good = Entry { outcome: Arc::clone(&outcome), stored_at, keep: ttl + max_stale };
            self.last_good.insert(key.to_string(), good).await;
        }
        self.cache.insert(key.to_string(), Entry { outcome, stored_at, keep: ttl }).await;
        if let Some(h) = self.hot.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key) {
            h.stored_at = stored_at;
            h.refreshing = false;
        }
    }

    /// The providers of the hot entries.
    pub fn hot_providers(&self) -> Vec<String> {
        let hot = self.hot.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> = hot.values().map(|h| h.request.provider.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// A refresh failed: the entry expires as usual (and is tried again next round).
    pub fn refresh_failed(&self, key: &str) {
        if let Some(h) = self.hot.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key) {
            h.refreshing = false;
        }
    }

    /// Returns the cached outcome, or runs `fetch` once for all concurrent callers of `key`.
    /// The boolean is true when this caller's fetch produced the value. A good answer is also
    /// kept as the last good one for `max_stale` past its TTL.
    pub async fn get_or_fetch(
        &self,
        key: String,
        ttl: Duration,
        max_stale: Duration,
        fetch: impl std::future::Future<Output = Result<CallOutcome, CallError>>,
    ) -> Result<(CallOutcome, bool), CallError> {
        if let Some(entry) = self.cache.get(&key).await {
            if age(self.clock.now(), entry.stored_at) >= ttl {
                self.cache.invalidate(&key).await;
            }
        }
        let clock = Arc::clone(&self.clock);
        let last_good = self.last_good.clone();
        let good_key = key.clone();
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async move {
                let outcome = Arc::new(fetch.await?);
                let stored_at = clock.now();
                if !max_stale.is_zero() {
                    let good = Entry { outcome: Arc::clone(&outcome), stored_at, keep: ttl + max_stale };
                    last_good.insert(good_key, good).await;
                }
                Ok(Entry { outcome, stored_at, keep: ttl })
            })
            .await
            .map_err(|shared: Arc<CallError>| Arc::try_unwrap(shared).unwrap_or_else(CallError::Shared))?;
        let fresh = entry.is_fresh();
        Ok(((*entry.into_value().outcome).clone(), fresh))
    }

    /// The last good answer of `key` if it is at most `max_stale` past its TTL `ttl`.
    pub async fn stale(&self, key: &str, ttl: Duration, max_stale: Duration) -> Option<Stale> {
        if max_stale.is_zero() {
            return None;
        }
        let entry = self.last_good.get(key).await?;
        let age = age(self.clock.now(), entry.stored_at);
        (age <= ttl + max_stale).then(|| Stale { outcome: (*entry.outcome).clone(), age })
    }
}
