//! The counters and histograms `/metrics` reads without touching the database: every attempt
//! the recorder is handed ([`LiveCalls::observe`]) and every limiter acquisition
//! ([`LiveCalls::waited`], [`LiveCalls::limit_refused`]). Updating one is a hash lookup and an
//! atomic add, off the request's critical path as far as the caller is concerned.
//!
//! Label sets stay bounded: provider, operation (the spec's endpoint name), caller and outcome,
//! never a symbol, an order id or a key's secret. Paths a spec does not know (a bot's
//! `GET /api/v3/something` through the gateway) could name ids, so past
//! [`MAX_OPERATIONS_PER_PROVIDER`] operations of one provider, and past [`MAX_CALLERS`]
//! callers, new ones are counted under `other`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::pipeline::{AttemptRecord, Outcome};

/// Distinct operation labels kept per provider; later ones count as `other`.
pub const MAX_OPERATIONS_PER_PROVIDER: usize = 200;
/// Distinct caller labels kept; later ones count as `other`.
pub const MAX_CALLERS: usize = 200;
/// The label value that stands in for operations and callers past the caps.
pub const OTHER: &str = "other";

/// Upper bounds (seconds) of the call latency buckets: 5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Upper bounds (seconds) of the limiter wait buckets: no wait to a minute.
pub const WAIT_BUCKETS: [f64; 12] = [0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    pub operation: String,
    pub caller: String,
    /// `ok`, `http_error`, `provider_error`, `timeout`, `network`, `unknown`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCaller {
    pub provider: String,
    pub caller: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: String,
}

type LatencyFamily = Family<ProviderLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

/// This process's calls since it started, as Prometheus counters. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct LiveCalls {
    pub(super) calls: Family<CallLabels, Counter>,
    pub(super) weight: Family<ProviderCaller, Counter>,
    pub(super) cost: Family<ProviderLabel, Counter<f64, AtomicU64>>,
    pub(super) units: Family<ProviderLabel, Counter<f64, AtomicU64>>,
    pub(super) latency: LatencyFamily,
    pub(super) waits: LatencyFamily,
    pub(super) limit_refusals: Family<ProviderLabel, Counter>,
    /// Operation labels in use per provider, and caller labels, to keep them bounded.
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    operations: HashMap<String, HashSet<String>>,
    callers: HashSet<String>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            weight: Family::default(),
            cost: Family::default(),
            units: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            waits: Family::new_with_constructor(wait_histogram),
            limit_refusals: Family::default(),
            seen: Mutex::new(Seen::default()),
        }
    }
}

impl LiveCalls {
    /// The operation and caller labels for this attempt, `other` past the caps.
    fn labels(&self, provider: &str, operation: &str, caller: &str) -> (String, String) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let ops = seen.operations.entry(provider.to_string()).or_default();
        let operation = if ops.contains(operation) || ops.len() < MAX_OPERATIONS_PER_PROVIDER {
            ops.insert(operation.to_string());
            operation.to_string()
        } else {
            OTHER.to_string()
        };
        let caller = if seen.callers.contains(caller) || seen.callers.len() < MAX_CALLERS {
            seen.callers.insert(caller.to_string());
            caller.to_string()
        } else {
            OTHER.to_string()
        };
        (operation, caller)
    }

    /// One attempt, as the recorder is handed it (its outcome set).
    pub fn observe(&self, r: &AttemptRecord) {
        let (operation, caller) = self.labels(&r.provider, &r.operation, &r.caller);
        let provider = ProviderLabel { provider: r.provider.clone() };
        self.calls
            .get_or_create(&CallLabels {
                provider: r.provider.clone(),
                operation,
                caller: caller.clone(),
                outcome: r.outcome.as_str().to_string(),
            })
            .inc();
        self.weight.get_or_create(&ProviderCaller { provider: r.provider.clone(), caller }).inc_by(u64::from(r.weight));
        // Every provider called has a cost series, 0 while it costs nothing, so charts show 0
        // rather than no data.
        let cost = if r.cost.is_finite() && r.cost > 0.0 { r.cost } else { 0.0 };
        self.cost.get_or_create(&provider).inc_by(cost);
        let units = if r.units.is_finite() && r.units > 0.0 { r.units } else { 0.0 };
        self.units.get_or_create(&provider).inc_by(units);
        // An attempt that never got an answer has no latency worth charting.
        if r.outcome != Outcome::Network || r.status.is_some() {
            self.latency.get_or_create(&provider).observe(r.latency.as_secs_f64());
        }
    }

    /// An acquisition of rate-limit budget and how long it waited.
    pub fn waited(&self, provider: &str, waited: Duration) {
        self.waits.get_or_create(&ProviderLabel { provider: provider.to_string() }).observe(waited.as_secs_f64());
    }

    /// A call the limiter refused (its budget would not free up before the deadline, or the
    /// exchange holds the provider back).
    pub fn limit_refused(&self, provider: &str) {
        self.limit_refusals.get_or_create(&ProviderLabel { provider: provider.to_string() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(operation: &str, caller: &str) -> AttemptRecord {
        AttemptRecord {
            latency: Duration::from_millis(20),
            weight: 2,
            units: 1.0,
            ..AttemptRecord::answered(chrono::Utc::now(), "binance", operation, caller)
        }
    }

    #[test]
    fn operations_and_callers_past_the_caps_count_as_other() {
        let live = LiveCalls::default();
        for i in 0..MAX_OPERATIONS_PER_PROVIDER + 5 {
            live.observe(&attempt(&format!("GET /v5/order/{i}"), "bot:a"));
        }
        live.observe(&attempt("GET /v5/order/0", "bot:a"));
        let other = CallLabels {
            provider: "binance".into(),
            operation: OTHER.into(),
            caller: "bot:a".into(),
            outcome: "ok".into(),
        };
        assert_eq!(live.calls.get_or_create(&other).get(), 5);
        let first = CallLabels { operation: "GET /v5/order/0".into(), ..other.clone() };
        assert_eq!(live.calls.get_or_create(&first).get(), 2, "a label already in use keeps counting");
        for i in 0..MAX_CALLERS + 3 {
            live.observe(&attempt("GET /v5/order/0", &format!("bot:{i}")));
        }
        let others = CallLabels { operation: "GET /v5/order/0".into(), caller: OTHER.into(), ..other };
        // bot:a already took one caller slot.
        assert_eq!(live.calls.get_or_create(&others).get(), 4);
        let weight = live.weight.get_or_create(&ProviderCaller { provider: "binance".into(), caller: "bot:a".into() });
        assert_eq!(weight.get(), 2 * (MAX_OPERATIONS_PER_PROVIDER as u64 + 6));
    }
}
