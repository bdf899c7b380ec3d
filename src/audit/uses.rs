//! In-memory counting of key uses, so the audit log gets at most one `key_used` row per key
//! per minute instead of one per call.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::Actor;

/// The length of one aggregation window.
pub const USE_WINDOW: TimeDelta = TimeDelta::minutes(1);

/// How often the long-running process should call `Audit::flush_uses`. Any period up to a
/// minute keeps rows timely; flushing only ever writes windows that have ended.
pub const USE_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// (window start, provider, key label)
pub(crate) type UseKey = (DateTime<Utc>, String, String);

#[derive(Debug, Clone)]
pub(crate) struct UseBucket {
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub by_actor: BTreeMap<&'static str, u64>,
}

impl UseBucket {
    fn new(at: DateTime<Utc>) -> Self {
        Self { count: 0, first: at, last: at, by_actor: BTreeMap::new() }
    }

    fn add(&mut self, actor: Actor, at: DateTime<Utc>, count: u64) {
        self.count += count;
        self.first = self.first.min(at);
        self.last = self.last.max(at);
        *self.by_actor.entry(actor.as_str()).or_default() += count;
    }

    /// Folds another bucket for the same window into this one (a failed flush puts its
    /// buckets back).
    pub fn merge(&mut self, other: UseBucket) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        for (actor, n) in other.by_actor {
            *self.by_actor.entry(actor).or_default() += n;
        }
    }

    pub fn detail(&self, window: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "by_actor": self.by_actor,
            "window_start": super::chain::format_ts(window),
            "window_secs": USE_WINDOW.num_seconds(),
            "first_use": super::chain::format_ts(self.first),
            "last_use": super::chain::format_ts(self.last),
        })
    }
}

/// The start of the minute `at` falls in.
pub(crate) fn window_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp().div_euclid(USE_WINDOW.num_seconds()) * USE_WINDOW.num_seconds();
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

#[derive(Debug, Default)]
pub(crate) struct UseCounter {
    buckets: BTreeMap<UseKey, UseBucket>,
}

impl UseCounter {
    pub fn record(&mut self, actor: Actor, provider: &str, key_label: &str, at: DateTime<Utc>) {
        let key = (window_start(at), provider.to_string(), key_label.to_string());
        self.buckets.entry(key).or_insert_with(|| UseBucket::new(at)).add(actor, at, 1);
    }

    /// Removes and returns the buckets whose window ended at or before `now` (all of them
    /// when `all`), oldest window first.
    pub fn take_due(&mut self, now: DateTime<Utc>, all: bool) -> Vec<(UseKey, UseBucket)> {
        let due: Vec<UseKey> =
            self.buckets.keys().filter(|(start, _, _)| all || *start + USE_WINDOW <= now).cloned().collect();
        due.into_iter().filter_map(|k| self.buckets.remove(&k).map(|b| (k, b))).collect()
    }

    pub fn put_back(&mut self, key: UseKey, bucket: UseBucket) {
        match self.buckets.get_mut(&key) {
            Some(existing) => existing.merge(bucket),
            None => {
                self.buckets.insert(key, bucket);
            }
        }
    }

    pub fn pending(&self) -> u64 {
        self.buckets.values().map(|b| b.count).sum()
    }
}
