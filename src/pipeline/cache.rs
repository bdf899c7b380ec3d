//! The cache layer: per-endpoint TTL, and one upstream call for identical concurrent requests
//! (moka's `entry().or_try_insert_with` coalesces them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use super::{CallError, CallOutcome};

/// Entries kept at most (all providers together).
const MAX_ENTRIES: u64 = 10_000;

#[derive(Clone)]
struct Entry {
    outcome: Arc<CallOutcome>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct ResponseCache {
    cache: Cache<String, Entry>,
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

impl ResponseCache {
    pub fn new() -> Self {
        Self { cache: Cache::builder().max_capacity(MAX_ENTRIES).expire_after(PerEntryTtl).build() }
    }

    /// Returns the cached outcome, or runs `fetch` once for all concurrent callers of `key`.
    /// The boolean is true when this caller's fetch produced the value.
    pub async fn get_or_fetch(
        &self,
        key: String,
        ttl: Duration,
        fetch: impl std::future::Future<Output = Result<CallOutcome, CallError>>,
    ) -> Result<(CallOutcome, bool), CallError> {
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async move { fetch.await.map(|o| Entry { outcome: Arc::new(o), ttl }) })
            .await
            .map_err(|shared: Arc<CallError>| Arc::try_unwrap(shared).unwrap_or_else(CallError::Shared))?;
        let fresh = entry.is_fresh();
        Ok(((*entry.into_value().outcome).clone(), fresh))
    }
}
