//! Circuit breakers: per provider, and per endpoint where the provider fails partially. A
//! breaker sits before the rate limiter, so calls to a provider that is known to be failing
//! neither spend budget nor reach the exchange; the caller fails over at once (or gets a clear
//! error, or the last good answer marked stale).
//!
//! ```text
//! closed --(N failures in a row | failure rate over the window)--> open
//! open   --(open time passed)--> half-open (lets P probe calls through)
//! half-open --(P successes)--> closed        half-open --(a failure)--> open, for longer
//! ```
//!
//! The open time doubles with each trip in a row (up to the policy's maximum) and resets when
//! the breaker closes. Time is the pipeline's clock, so tests move it instead of sleeping.
//! Written by hand: the crates that exist (failsafe, recloser) keep their own clocks and have
//! no per-key registry, half-open probe counts or growing open time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::provider::BreakerPolicy;

/// The state of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "halfOpen",
        }
    }
}

/// How one attempt counts for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// The provider is unwell: no connection, a timeout, HTTP 5xx.
    Failure,
    /// Says nothing about the provider's health (a rate-limit answer, a client error, an attempt
    /// that was never sent); frees a half-open probe slot.
    Neutral,
}

/// A breaker that is not closed, or changed: what the Status page and `keyward status` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BreakerView {
    pub provider: String,
    /// The endpoint's operation; `null` for the provider's own breaker.
    pub operation: Option<String>,
    pub state: BreakerState,
    /// RFC 3339: since when it is in this state.
    pub since: String,
    /// RFC 3339: when an open breaker lets probe calls through again.
    pub until: Option<String>,
    /// Why it opened ("5 failures in a row: HTTP 503").
    pub reason: String,
    /// Trips in a row (the open time doubles with each).
    pub trips: u32,
}

/// Refused by an open (or fully probing half-open) breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub operation: Option<String>,
    pub state: BreakerState,
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
}

type Key = (String, Option<String>);

#[derive(Debug)]
struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    since: DateTime<Utc>,
    consecutive: u32,
    /// Recent attempts: when, and whether they failed.
    window: VecDeque<(DateTime<Utc>, bool)>,
    open_until: Option<DateTime<Utc>>,
    trips: u32,
    probes_in_flight: u32,
    probe_successes: u32,
    reason: String,
    last_failure: String,
}

impl Breaker {
    fn new(policy: BreakerPolicy, now: DateTime<Utc>) -> Self {
        Self {
            policy,
            state: BreakerState::Closed,
            since: now,
            consecutive: 0,
            window: VecDeque::new(),
            open_until: None,
            trips: 0,
            probes_in_flight: 0,
            probe_successes: 0,
            reason: String::new(),
            last_failure: String::new(),
        }
    }

    /// Open → half-open once the open time has passed.
    fn tick(&mut self, now: DateTime<Utc>) -> bool {
        if self.state == BreakerState::Open && self.open_until.is_some_and(|u| now >= u) {
            self.state = BreakerState::HalfOpen;
            self.since = now;
            self.probes_in_flight = 0;
            self.probe_successes = 0;
            return true;
        }
        false
    }

    /// Whether a call may go now (without taking a probe slot).
    fn refusal(&self) -> Option<(BreakerState, Option<DateTime<Utc>>)> {
        match self.state {
            BreakerState::Closed => None,
            BreakerState::Open => Some((BreakerState::Open, self.open_until)),
            BreakerState::HalfOpen if self.probes_in_flight >= self.policy.half_open_probes.max(1) => {
                Some((BreakerState::HalfOpen, None))
            }
            BreakerState::HalfOpen => None,
        }
    }

    fn trip(&mut self, now: DateTime<Utc>, reason: String) {
        self.trips = self.trips.saturating_add(1);
        let factor = 1u64.checked_shl(self.trips.saturating_sub(1).min(32)).unwrap_or(u64::MAX);
        let open_ms = self.policy.open_ms.saturating_mul(factor).min(self.policy.max_open_ms.max(self.policy.open_ms));
        self.state = BreakerState::Open;
        self.since = now;
        self.open_until = Some(now + Duration::milliseconds(i64::try_from(open_ms).unwrap_or(i64::MAX / 2)));
        self.consecutive = 0;
        self.window.clear();
        self.probes_in_flight = 0;
        self.probe_successes = 0;
        self.reason = reason;
    }

    fn close(&mut self, now: DateTime<Utc>) {
        self.state = BreakerState::Closed;
        self.since = now;
        self.open_until = None;
        self.trips = 0;
        self.consecutive = 0;
        self.window.clear();
        self.probes_in_flight = 0;
        self.probe_successes = 0;
        self.reason.clear();
    }

    /// Counts one attempt; returns whether the state changed.
    fn record(&mut self, verdict: Verdict, detail: &str, now: DateTime<Utc>) -> bool {
        let p = self.policy;
        match self.state {
            BreakerState::Open => false,
            BreakerState::HalfOpen => match verdict {
                Verdict::Neutral => {
                    self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                    false
                }
                Verdict::Success => {
                    self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                    self.probe_successes += 1;
                    if self.probe_successes >= p.half_open_probes.max(1) {
                        self.close(now);
                        return true;
                    }
                    false
                }
                Verdict::Failure => {
                    self.trip(now, format!("a probe call failed while half-open: {detail}"));
                    true
                }
            },
            BreakerState::Closed => {
                if verdict == Verdict::Neutral {
                    return false;
                }
                let failed = verdict == Verdict::Failure;
                if failed {
                    self.consecutive += 1;
                    self.last_failure = detail.to_string();
                } else {
                    self.consecutive = 0;
                }
                if p.failure_rate_percent > 0 {
                    let horizon = now - Duration::milliseconds(i64::try_from(p.window_ms).unwrap_or(i64::MAX / 2));
                    while self.window.front().is_some_and(|(t, _)| *t < horizon) {
                        self.window.pop_front();
                    }
                    self.window.push_back((now, failed));
                }
                if p.consecutive_failures > 0 && self.consecutive >= p.consecutive_failures {
                    let reason = format!("{} failures in a row: {}", self.consecutive, self.last_failure);
                    self.trip(now, reason);
                    return true;
                }
                let calls = self.window.len() as u64;
                let failures = self.window.iter().filter(|(_, f)| *f).count() as u64;
                if p.failure_rate_percent > 0
                    && calls >= u64::from(p.min_calls.max(1))
                    && failures * 100 >= u64::from(p.failure_rate_percent) * calls
                {
                    let reason = format!(
                        "{failures} of the last {calls} calls failed ({} %): {}",
                        failures * 100 / calls,
                        self.last_failure
                    );
                    self.trip(now, reason);
                    return true;
                }
                false
            }
        }
    }

    fn view(&self, key: &Key) -> BreakerView {
        BreakerView {
            provider: key.0.clone(),
            operation: key.1.clone(),
            state: self.state,
            since: self.since.to_rfc3339(),
            until: self.open_until.filter(|_| self.state == BreakerState::Open).map(|t| t.to_rfc3339()),
            reason: self.reason.clone(),
            trips: self.trips,
        }
    }
}

/// Every breaker of one pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Breakers {
    inner: Arc<Mutex<HashMap<Key, Breaker>>>,
    clock: Arc<dyn Clock>,
    changes: broadcast::Sender<BreakerView>,
}

impl Breakers {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { inner: Arc::default(), clock, changes: broadcast::channel(64).0 }
    }

    /// Every change of state (opened, half-open, closed), as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<BreakerView> {
        self.changes.subscribe()
    }

    fn keys(provider: &str, operation: &str, policy: &BreakerPolicy) -> Vec<Key> {
        let mut keys = vec![(provider.to_string(), None)];
        if policy.per_endpoint {
            keys.push((provider.to_string(), Some(operation.to_string())));
        }
        keys
    }

    /// Lets one attempt through (taking a probe slot of each half-open breaker), or refuses it.
    pub fn admit(&self, provider: &str, operation: &str, policy: &BreakerPolicy) -> Result<(), Refusal> {
        if policy.disabled() {
            return Ok(());
        }
        let now = self.clock.now();
        let keys = Self::keys(provider, operation, policy);
        let mut changed = Vec::new();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for key in &keys {
            if let Some(b) = map.get_mut(key) {
                b.policy = *policy;
                if b.tick(now) {
                    changed.push(b.view(key));
                }
            }
        }
        let refused = keys.iter().find_map(|key| {
            let b = map.get(key)?;
            b.refusal().map(|(state, until)| Refusal {
                operation: key.1.clone(),
                state,
                until,
                reason: b.reason.clone(),
            })
        });
        if refused.is_none() {
            for key in &keys {
                if let Some(b) = map.get_mut(key).filter(|b| b.state == BreakerState::HalfOpen) {
                    b.probes_in_flight += 1;
                }
            }
        }
        drop(map);
        for view in changed {
            self.announce(view);
        }
        refused.map_or(Ok(()), Err)
    }

    /// Counts one attempt that [`Breakers::admit`] let through. `detail` says what failed.
    pub fn record(&self, provider: &str, operation: &str, policy: &BreakerPolicy, verdict: Verdict, detail: &str) {
        if policy.disabled() {
            return;
        }
        let now = self.clock.now();
        let mut changed = Vec::new();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(provider, operation, policy) {
            let b = map.entry(key.clone()).or_insert_with(|| Breaker::new(*policy, now));
            b.policy = *policy;
            b.tick(now);
            if b.record(verdict, detail, now) {
                changed.push(b.view(&key));
            }
        }
        drop(map);
        for view in changed {
            self.announce(view);
        }
    }

    fn announce(&self, view: BreakerView) {
        match view.state {
            BreakerState::Open => tracing::warn!(provider = %view.provider, operation = ?view.operation,
                until = ?view.until, reason = %view.reason, "circuit breaker opened"),
            BreakerState::HalfOpen => tracing::info!(provider = %view.provider, operation = ?view.operation,
                "circuit breaker half-open: probing"),
            BreakerState::Closed => tracing::info!(provider = %view.provider, operation = ?view.operation,
                "circuit breaker closed"),
        }
        let _ = self.changes.send(view);
    }

    /// Every breaker that is not closed (open ones past their time read as half-open), by
    /// provider and operation.
    pub fn views(&self) -> Vec<BreakerView> {
        let now = self.clock.now();
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<BreakerView> = map
            .iter()
            .filter(|(_, b)| b.state != BreakerState::Closed)
            .map(|(k, b)| {
                let mut v = b.view(k);
                if b.state == BreakerState::Open && b.open_until.is_some_and(|u| now >= u) {
                    v.state = BreakerState::HalfOpen;
                    v.until = None;
                }
                v
            })
            .collect();
        out.sort_by(|a, b| (&a.provider, &a.operation).cmp(&(&b.provider, &b.operation)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    fn setup() -> (Breakers, Arc<FakeClock>, BreakerPolicy) {
        let clock = Arc::new(FakeClock::at("2026-03-01T10:00:00Z".parse().expect("time")));
        let policy = BreakerPolicy { min_calls: 10, ..BreakerPolicy::default() };
        (Breakers::new(clock.clone()), clock, policy)
    }

    fn fail(b: &Breakers, p: &BreakerPolicy, n: u32) {
        for _ in 0..n {
            b.admit("binance", "ticker", p).expect("admitted");
            b.record("binance", "ticker", p, Verdict::Failure, "HTTP 503");
        }
    }

    #[test]
    fn opens_after_consecutive_failures_and_refuses_until_the_open_time_passes() {
        let (b, clock, p) = setup();
        let mut changes = b.subscribe();
        fail(&b, &p, 4);
        assert!(b.views().is_empty(), "4 failures keep it closed");
        fail(&b, &p, 1);
        let refused = b.admit("binance", "ticker", &p).expect_err("open");
        assert_eq!(refused.state, BreakerState::Open);
        assert_eq!(refused.until, Some(clock.now() + Duration::seconds(15)));
        assert!(refused.reason.contains("5 failures in a row: HTTP 503"), "{}", refused.reason);
        // Another endpoint of the provider is refused too: the provider's own breaker is open.
        assert!(b.admit("binance", "order_book", &p).is_err());
        assert_eq!(changes.try_recv().expect("a change").state, BreakerState::Open);

        clock.advance(std::time::Duration::from_millis(14_999));
        assert!(b.admit("binance", "ticker", &p).is_err(), "still open 1 ms before its time");
        clock.advance(std::time::Duration::from_millis(1));
        b.admit("binance", "ticker", &p).expect("first probe");
        b.admit("binance", "ticker", &p).expect("second probe");
        let third = b.admit("binance", "ticker", &p).expect_err("only two probes at a time");
        assert_eq!(third.state, BreakerState::HalfOpen);
        b.record("binance", "ticker", &p, Verdict::Success, "");
        assert_eq!(b.views()[0].state, BreakerState::HalfOpen, "one success of two");
        b.record("binance", "ticker", &p, Verdict::Success, "");
        assert!(b.views().is_empty(), "closed after the probes succeeded");
        b.admit("binance", "ticker", &p).expect("closed again");
    }

    #[test]
    fn a_failed_probe_reopens_for_twice_as_long_up_to_the_maximum() {
        let (b, clock, p) = setup();
        let p = BreakerPolicy { max_open_ms: 40_000, ..p };
        fail(&b, &p, 5);
        for expected_secs in [30, 40, 40] {
            clock.advance(std::time::Duration::from_secs(40));
            b.admit("binance", "ticker", &p).expect("probe");
            b.record("binance", "ticker", &p, Verdict::Failure, "timeout");
            let r = b.admit("binance", "ticker", &p).expect_err("open again");
            assert_eq!(r.until, Some(clock.now() + Duration::seconds(expected_secs)));
            assert!(r.reason.contains("probe call failed"), "{}", r.reason);
        }
        // Closing resets the growth.
        clock.advance(std::time::Duration::from_secs(40));
        for _ in 0..2 {
            b.admit("binance", "ticker", &p).expect("probe");
            b.record("binance", "ticker", &p, Verdict::Success, "");
        }
        fail(&b, &p, 5);
        assert_eq!(
            b.admit("binance", "ticker", &p).expect_err("open").until,
            Some(clock.now() + Duration::seconds(15))
        );
    }

    #[test]
    fn opens_on_the_failure_rate_over_the_window_with_enough_calls() {
        let (b, clock, p) = setup();
        let call = |provider: &str, failed: bool| {
            b.admit(provider, "ticker", &p).expect("closed");
            let v = if failed { Verdict::Failure } else { Verdict::Success };
            b.record(provider, "ticker", &p, v, "HTTP 502");
        };
        // Never 5 in a row: every other call fails.
        for i in 0..9 {
            call("kraken", i % 2 == 1);
        }
        assert!(b.views().is_empty(), "9 calls are fewer than the minimum of 10");
        call("kraken", true);
        let views = b.views();
        assert!(views.iter().any(|v| v.operation.is_none() && v.state == BreakerState::Open), "{views:?}");
        assert!(views[0].reason.contains("5 of the last 10 calls failed (50 %)"), "{}", views[0].reason);

        // 4 of 10 stays closed; failures older than the window no longer count.
        for i in 0..10 {
            call("okx", i % 3 == 0);
        }
        assert!(b.views().iter().all(|v| v.provider != "okx"), "40 % is under 50 %");
        clock.advance(std::time::Duration::from_secs(61));
        for i in 0..10 {
            call("okx", i % 2 == 0);
        }
        assert!(b.views().iter().any(|v| v.provider == "okx"), "5 of the 10 calls of the last minute failed");
    }

    #[test]
    fn one_failing_endpoint_opens_alone_while_the_others_keep_working() {
        let (b, _clock, p) = setup();
        for _ in 0..5 {
            b.admit("okx", "order_book", &p).expect("closed");
            b.record("okx", "order_book", &p, Verdict::Failure, "HTTP 500");
            for _ in 0..3 {
                b.admit("okx", "ticker", &p).expect("closed");
                b.record("okx", "ticker", &p, Verdict::Success, "");
            }
        }
        assert!(b.admit("okx", "order_book", &p).is_err(), "the failing endpoint is open");
        b.admit("okx", "ticker", &p).expect("the provider's other endpoints still go");
        let views = b.views();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].operation.as_deref(), Some("order_book"));
    }

    #[test]
    fn neutral_answers_do_not_count_and_a_disabled_policy_never_opens() {
        let (b, _clock, p) = setup();
        for _ in 0..20 {
            b.admit("bybit", "ticker", &p).expect("closed");
            b.record("bybit", "ticker", &p, Verdict::Neutral, "HTTP 429");
        }
        assert!(b.views().is_empty());
        let off = BreakerPolicy { consecutive_failures: 0, failure_rate_percent: 0, ..p };
        for _ in 0..20 {
            b.admit("bybit", "ticker", &off).expect("never refused");
            b.record("bybit", "ticker", &off, Verdict::Failure, "HTTP 503");
        }
        assert!(b.views().is_empty());
    }
}
