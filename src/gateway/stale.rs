//! Stale-if-error for bots: the last good answer of each public market-data request that the
//! spec caches (an endpoint with `cache_ttl_ms`), kept for its TTL + the provider's
//! `stale_if_error_ms`. When the exchange fails (no answer, 5xx, an open circuit breaker) the
//! gateway answers with it instead, with `X-Keyward-Stale-Age` (seconds) and
//! `X-Keyward-Stale-Because`. Signed and account requests are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Answers kept at most (the oldest goes first).
const MAX_KEPT: usize = 2_000;

/// A good answer as the exchange gave it (headers already filtered for the bot).
#[derive(Debug, Clone)]
pub struct Kept {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub at: DateTime<Utc>,
    /// How long it may be served: TTL + `stale_if_error_ms`.
    pub keep: Duration,
}

#[derive(Clone, Default)]
pub struct LastGood {
    kept: Arc<Mutex<HashMap<String, Arc<Kept>>>>,
}

impl LastGood {
    pub fn keep(&self, key: String, kept: Kept) {
        let mut map = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEPT && !map.contains_key(&key) {
            if let Some(oldest) = map.iter().min_by_key(|(_, k)| k.at).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(key, Arc::new(kept));
    }

    /// The kept answer of `key` and its age, while it may still be served.
    pub fn get(&self, key: &str, now: DateTime<Utc>) -> Option<(Arc<Kept>, Duration)> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()?;
        let age = (now - kept.at).to_std().unwrap_or(Duration::ZERO);
        (age <= kept.keep).then_some((kept, age))
    }
}
