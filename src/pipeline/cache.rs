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
        Self { cache: cache(), last_good: cache(), clock }
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
