//! Window math: one struct per kind of exchange limit, each a pure function of `now`.
//!
//! Nothing here reads a clock, sleeps or locks: the [`Limiter`](super::Limiter) passes the time
//! in, so every rule can be tested to the millisecond with fixed instants.
//!
//! Every window answers the same five questions ([`WindowMath`]):
//! - [`can_take`](WindowMath::can_take): does `weight` fit now, and if not, how long until it
//!   would;
//! - [`take`](WindowMath::take): charge it (before the request is sent, never after);
//! - [`usage`](WindowMath::usage): used, limit and time to the next reset;
//! - [`sync`](WindowMath::sync): adopt what the server reported. Server truth wins, but only
//!   upwards: a report never lowers the local count below what was charged locally (a request
//!   charged here may not have reached the server yet);
//! - [`eta_after`](WindowMath::eta_after): an estimate of the wait behind a queue.
//!
//! ## The safety margin
//!
//! Each window has a `limit` (what the exchange grants) and a `margin` (kept free so the limiter
//! stops before the exchange would answer 429). A weight fits when `used + weight <= limit -
//! margin`. A weight larger than that whole capacity still fits when the window is empty, so an
//! oversized request runs alone instead of waiting forever. See [`margin_for`].

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

use crate::provider::{RateLimitKind, RateLimitRule};

/// Tolerance for comparing weights (limits are `f64`: Kraken's counter drains fractionally).
pub const EPSILON: f64 = 1e-9;

/// The longest wait any window reports (a counter that never drains, a quota of zero).
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Whether a weight fits now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Ok,
    /// It fits after this long (if nothing else is charged meanwhile).
    Wait(Duration),
}

/// What a window has used of its limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowUsage {
    pub used: f64,
    /// What the exchange grants (the margin is not subtracted).
    pub limit: f64,
    /// When budget comes back: the next window, the oldest entry's expiry, the time to drain
    /// the counter to zero. `None` when nothing is in use and no window is running.
    pub resets_in: Option<Duration>,
}

impl WindowUsage {
    /// `used` as a percentage of `limit` (0 for a zero limit).
    pub fn percent(&self) -> f64 {
        if self.limit > 0.0 {
            self.used / self.limit * 100.0
        } else {
            0.0
        }
    }
}

/// What a server said about a budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServerUsage {
    /// Used so far in the server's window (`X-MBX-USED-WEIGHT-1M`).
    Used(f64),
    /// Left in the server's window (`gw-ratelimit-remaining`, `X-Bapi-Limit-Status`).
    Remaining(f64),
}

/// One usage report from a response, with the reset time when the server gives one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerReport {
    pub usage: ServerUsage,
    /// Time until the server's window resets (`gw-ratelimit-reset`, or
    /// `X-Bapi-Limit-Reset-Timestamp` minus now).
    pub resets_in: Option<Duration>,
}

impl ServerReport {
    pub fn used(used: f64) -> Self {
        Self { usage: ServerUsage::Used(used), resets_in: None }
    }

    pub fn remaining(remaining: f64) -> Self {
        Self { usage: ServerUsage::Remaining(remaining), resets_in: None }
    }

    pub fn resetting_in(self, resets_in: Duration) -> Self {
        Self { resets_in: Some(resets_in), ..self }
    }

    /// The usage this report implies for a budget of `limit`.
    pub fn used_of(&self, limit: f64) -> f64 {
        match self.usage {
            ServerUsage::Used(u) => u.max(0.0),
            ServerUsage::Remaining(r) => (limit - r).max(0.0),
        }
    }
}

/// The default safety margin: `fraction` of the limit and at least `min_units`, but never so
/// much that less than one unit is left (a limit of 1 per second keeps its one call).
pub fn margin_for(limit: f64, fraction: f64, min_units: f64) -> f64 {
    let wanted = (limit * fraction.max(0.0)).max(min_units.max(0.0));
    wanted.min(limit - 1.0).max(0.0)
}

/// The questions every window answers. `now` is always a parameter.
pub trait WindowMath {
    /// How long until `weight` fits (zero: it fits now).
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration;

    /// An estimate of how long until `weight` fits once `ahead` (queued before it) has been
    /// charged. Exact for `ahead == 0`; otherwise a fluid estimate, used to fail a caller whose
    /// deadline cannot be met without making it wait first.
    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration;

    /// Charges `weight`.
    fn take(&mut self, weight: f64, now: DateTime<Utc>);

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage;

    /// Adopts a server report; returns whether the local usage went up.
    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool;

    /// Changes the limit and margin, keeping what was used.
    fn set_budget(&mut self, limit: f64, margin: f64);

    fn can_take(&self, weight: f64, now: DateTime<Utc>) -> Fit {
        match self.eta(weight, now) {
            d if d.is_zero() => Fit::Ok,
            d => Fit::Wait(d),
        }
    }
}

/// A limit and its safety margin.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    limit: f64,
    margin: f64,
}

impl Budget {
    fn new(limit: f64, margin: f64) -> Self {
        Self { limit: limit.max(0.0), margin: margin.clamp(0.0, limit.max(0.0)) }
    }

    /// What may be used: the limit less the margin (never exactly zero, to keep divisions sane).
    fn capacity(&self) -> f64 {
        (self.limit - self.margin).max(EPSILON)
    }

    fn fits(&self, used: f64, weight: f64) -> bool {
        used + weight <= self.capacity() + EPSILON || used <= EPSILON
    }

    /// How many capacities (0 = the current one) the fluid position `used + ahead + weight`
    /// reaches into.
    fn windows_ahead(&self, used: f64, ahead: f64, weight: f64) -> u64 {
        let position = used + ahead + weight;
        let cap = self.capacity();
        let index = ((position - EPSILON) / cap).ceil() - 1.0;
        if index.is_finite() && index > 0.0 {
            index.min(1e9) as u64
        } else {
            0
        }
    }
}

fn millis(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis()
}

fn dur_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(FOREVER)
}

fn dur_secs_f64(secs: f64) -> Duration {
    if !secs.is_finite() || secs >= FOREVER.as_secs_f64() {
        return FOREVER;
    }
    // Whole milliseconds, rounded up: waking a hair late is harmless, waking early loops.
    Duration::from_millis((secs.max(0.0) * 1000.0).ceil() as u64)
}

fn dur_to_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

// ---------------------------------------------------------------------------------------------

/// A window aligned to the clock: Binance's windows start at multiples of the interval since
/// the Unix epoch (a minute window at :00, a day window at 00:00 UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedWindow {
    budget: Budget,
    interval_ms: i64,
    /// Start of the window `used` belongs to.
    start_ms: i64,
    used: f64,
    grace_ms: i64,
    /// Weight granted so close to the boundary that the request may reach the exchange in the
    /// next window: it counts in that one too.
    carry: f64,
}

/// How close to a boundary a grant also counts in the next window (capped at a tenth of the
/// interval): a request sent at :59.990 may arrive at :00.010 and the exchange counts it there.
pub const STRADDLE: Duration = Duration::from_millis(250);

impl FixedWindow {
    pub fn new(limit: f64, margin: f64, interval: Duration) -> Self {
        Self {
            budget: Budget::new(limit, margin),
            interval_ms: dur_to_ms(interval).max(1),
            start_ms: i64::MIN,
            used: 0.0,
            grace_ms: 0,
            carry: 0.0,
        }
    }

    fn straddle_ms(&self) -> i64 {
        dur_to_ms(STRADDLE).min(self.interval_ms / 10)
    }

    /// Ignore server reports for this long after a boundary (capped at a tenth of the
    /// interval): a response observed just after :00 may carry the count of the window that
    /// just ended, and adopting it would waste the new window.
    pub fn with_sync_grace(mut self, grace: Duration) -> Self {
        self.grace_ms = dur_to_ms(grace).min(self.interval_ms / 10);
        self
    }

    fn start_of(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(self.interval_ms) * self.interval_ms
    }

    fn used_at(&self, now_ms: i64) -> f64 {
        let start = self.start_of(now_ms);
        if start == self.start_ms {
            self.used
        } else if Some(start) == self.start_ms.checked_add(self.interval_ms) {
            self.carry
        } else {
            0.0
        }
    }

    fn roll(&mut self, now_ms: i64) {
        let start = self.start_of(now_ms);
        if start != self.start_ms {
            let next = Some(start) == self.start_ms.checked_add(self.interval_ms);
            self.used = if next { self.carry } else { 0.0 };
            self.carry = 0.0;
            self.start_ms = start;
        }
    }

    fn to_next_boundary(&self, now_ms: i64) -> i64 {
        self.start_of(now_ms) + self.interval_ms - now_ms
    }
}

impl WindowMath for FixedWindow {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        let now_ms = millis(now);
        if self.budget.fits(self.used_at(now_ms), weight) {
            Duration::ZERO
        } else {
            // The next window starts with at most the straddling grants in it; a caller that
            // still does not fit is woken again then.
            dur_ms(self.to_next_boundary(now_ms))
        }
    }

    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        let now_ms = millis(now);
        let used = self.used_at(now_ms);
        if ahead <= EPSILON {
            return self.eta(weight, now);
        }
        match self.budget.windows_ahead(used, ahead, weight) {
            0 => Duration::ZERO,
            k => dur_ms(self.to_next_boundary(now_ms).saturating_add((k as i64 - 1).saturating_mul(self.interval_ms))),
        }
    }

    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        let now_ms = millis(now);
        self.roll(now_ms);
        self.used += weight;
        if self.to_next_boundary(now_ms) <= self.straddle_ms() {
            self.carry += weight;
        }
    }

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        let now_ms = millis(now);
        WindowUsage {
            used: self.used_at(now_ms),
            limit: self.budget.limit,
            resets_in: Some(dur_ms(self.to_next_boundary(now_ms))),
        }
    }

    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        let now_ms = millis(now);
        self.roll(now_ms);
        if now_ms - self.start_ms < self.grace_ms {
            return false;
        }
        let server = report.used_of(self.budget.limit);
        if server > self.used + EPSILON {
            self.used = server;
            true
        } else {
            false
        }
    }

    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.budget = Budget::new(limit, margin);
    }
}

// ---------------------------------------------------------------------------------------------

/// A rolling window ending now: a log of (time, weight) entries, each expiring one interval
/// after it was charged. Entries charged in the same millisecond are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct SlidingWindow {
    budget: Budget,
    interval_ms: i64,
    log: VecDeque<(i64, f64)>,
    sum: f64,
}

impl SlidingWindow {
    pub fn new(limit: f64, margin: f64, interval: Duration) -> Self {
        Self {
            budget: Budget::new(limit, margin),
            interval_ms: dur_to_ms(interval).max(1),
            log: VecDeque::new(),
            sum: 0.0,
        }
    }

    fn live(&self, now_ms: i64) -> impl Iterator<Item = &(i64, f64)> {
        let interval = self.interval_ms;
        self.log.iter().skip_while(move |(t, _)| t + interval <= now_ms)
    }

    fn used_at(&self, now_ms: i64) -> f64 {
        let expired: f64 = self.log.iter().take_while(|(t, _)| t + self.interval_ms <= now_ms).map(|(_, w)| w).sum();
        (self.sum - expired).max(0.0)
    }

    fn prune(&mut self, now_ms: i64) {
        while let Some(&(t, w)) = self.log.front() {
            if t + self.interval_ms > now_ms {
                break;
            }
            self.log.pop_front();
            self.sum -= w;
        }
        if self.log.is_empty() {
            self.sum = 0.0;
        }
    }

    fn insert(&mut self, at_ms: i64, weight: f64) {
        let pos = self.log.partition_point(|(t, _)| *t <= at_ms);
        match pos.checked_sub(1).and_then(|i| self.log.get_mut(i)) {
            Some(entry) if entry.0 == at_ms => entry.1 += weight,
            _ => self.log.insert(pos, (at_ms, weight)),
        }
        self.sum += weight;
    }

    /// When the live entries have freed `need`; `None` if they cannot.
    fn freed_by(&self, need: f64, now_ms: i64) -> Option<i64> {
        let mut freed = 0.0;
        for &(t, w) in self.live(now_ms) {
            freed += w;
            if freed + EPSILON >= need {
                return Some(t + self.interval_ms - now_ms);
            }
        }
        None
    }

    fn last_expiry(&self, now_ms: i64) -> i64 {
        self.log.back().map_or(0, |(t, _)| (t + self.interval_ms - now_ms).max(0))
    }
}

impl WindowMath for SlidingWindow {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        let now_ms = millis(now);
        let used = self.used_at(now_ms);
        if self.budget.fits(used, weight) {
            return Duration::ZERO;
        }
        let need = used + weight - self.budget.capacity();
        // Too heavy to ever fit beside anything: wait until the log is empty.
        dur_ms(self.freed_by(need, now_ms).unwrap_or_else(|| self.last_expiry(now_ms)))
    }

    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        if ahead <= EPSILON {
            return self.eta(weight, now);
        }
        let now_ms = millis(now);
        let used = self.used_at(now_ms);
        let cap = self.budget.capacity();
        let need = used + ahead + weight - cap;
        if need <= EPSILON {
            return Duration::ZERO;
        }
        match self.freed_by(need, now_ms) {
            Some(ms) => dur_ms(ms),
            None => {
                // Beyond the log, the queue drains at one capacity per interval.
                let beyond = ((need - used) / cap).ceil().clamp(0.0, 1e9) as i64;
                dur_ms(self.last_expiry(now_ms).saturating_add(beyond.saturating_mul(self.interval_ms)))
            }
        }
    }

    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        let now_ms = millis(now);
        self.prune(now_ms);
        self.insert(now_ms, weight);
    }

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        let now_ms = millis(now);
        WindowUsage {
            used: self.used_at(now_ms),
            limit: self.budget.limit,
            resets_in: self.live(now_ms).next().map(|(t, _)| dur_ms(t + self.interval_ms - now_ms)),
        }
    }

    /// Usage the server knows of and the log does not becomes one entry, placed so that it
    /// expires when the server says its window resets (else it is charged at `now`).
    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        let now_ms = millis(now);
        self.prune(now_ms);
        let server = report.used_of(self.budget.limit);
        let missing = server - self.sum;
        if missing <= EPSILON {
            return false;
        }
        let at = match report.resets_in {
            Some(r) => (now_ms + dur_to_ms(r) - self.interval_ms).clamp(now_ms - self.interval_ms + 1, now_ms),
            None => now_ms,
        };
        self.insert(at, missing);
        true
    }

    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.budget = Budget::new(limit, margin);
    }
}

// ---------------------------------------------------------------------------------------------

/// A counter that drains continuously (Kraken's REST and trading counters; also a token bucket
/// with `limit` = burst and `decay_per_sec` = rate). A call adds its cost; the level must stay
/// within the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct DecayingCounter {
    budget: Budget,
    decay_per_sec: f64,
    level: f64,
    at_ms: i64,
}

impl DecayingCounter {
    pub fn new(limit: f64, margin: f64, decay_per_sec: f64) -> Self {
        Self { budget: Budget::new(limit, margin), decay_per_sec: decay_per_sec.max(0.0), level: 0.0, at_ms: 0 }
    }

    fn level_at(&self, now_ms: i64) -> f64 {
        let elapsed = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        (self.level - self.decay_per_sec * elapsed).max(0.0)
    }

    fn settle(&mut self, now_ms: i64) {
        self.level = self.level_at(now_ms);
        self.at_ms = self.at_ms.max(now_ms);
    }

    fn drain_time(&self, amount: f64) -> Duration {
        if amount <= EPSILON {
            Duration::ZERO
        } else if self.decay_per_sec <= 0.0 {
            FOREVER
        } else {
            dur_secs_f64(amount / self.decay_per_sec)
        }
    }
}

impl WindowMath for DecayingCounter {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        let level = self.level_at(millis(now));
        if self.budget.fits(level, weight) {
            return Duration::ZERO;
        }
        let cap = self.budget.capacity();
        // Drain until `level + weight <= cap`, or to empty for a weight above the capacity.
        let need = if weight <= cap { level + weight - cap } else { level };
        self.drain_time(need)
    }

    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        if ahead <= EPSILON {
            return self.eta(weight, now);
        }
        let level = self.level_at(millis(now));
        self.drain_time(level + ahead + weight - self.budget.capacity())
    }

    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        self.settle(millis(now));
        self.level += weight;
    }

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        let level = self.level_at(millis(now));
        WindowUsage {
            used: level,
            limit: self.budget.limit,
            resets_in: (level > EPSILON).then(|| self.drain_time(level)),
        }
    }

    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        self.settle(millis(now));
        let server = report.used_of(self.budget.limit);
        if server > self.level + EPSILON {
            self.level = server;
            true
        } else {
            false
        }
    }

    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.budget = Budget::new(limit, margin);
    }
}

// ---------------------------------------------------------------------------------------------

/// A window of fixed length that starts at the first request after the previous one ended
/// (KuCoin's resource pools: a quota per 30 s from the first request).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolWindow {
    budget: Budget,
    interval_ms: i64,
    start_ms: Option<i64>,
    used: f64,
}

impl PoolWindow {
    pub fn new(limit: f64, margin: f64, interval: Duration) -> Self {
        Self { budget: Budget::new(limit, margin), interval_ms: dur_to_ms(interval).max(1), start_ms: None, used: 0.0 }
    }

    /// The running window's start, if one is running at `now_ms`.
    fn active(&self, now_ms: i64) -> Option<i64> {
        self.start_ms.filter(|s| now_ms < s + self.interval_ms)
    }

    fn used_at(&self, now_ms: i64) -> f64 {
        if self.active(now_ms).is_some() {
            self.used
        } else {
            0.0
        }
    }
}

impl WindowMath for PoolWindow {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        let now_ms = millis(now);
        match self.active(now_ms) {
            Some(start) if !self.budget.fits(self.used, weight) => dur_ms(start + self.interval_ms - now_ms),
            _ => Duration::ZERO,
        }
    }

    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        if ahead <= EPSILON {
            return self.eta(weight, now);
        }
        let now_ms = millis(now);
        let used = self.used_at(now_ms);
        match (self.budget.windows_ahead(used, ahead, weight), self.active(now_ms)) {
            (0, _) => Duration::ZERO,
            (k, Some(start)) => dur_ms((start + self.interval_ms - now_ms) + (k as i64 - 1) * self.interval_ms),
            // No window yet: the first charge starts one now.
            (k, None) => dur_ms(k as i64 * self.interval_ms),
        }
    }

    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        let now_ms = millis(now);
        if self.active(now_ms).is_none() {
            self.start_ms = Some(now_ms);
            self.used = 0.0;
        }
        self.used += weight;
    }

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        let now_ms = millis(now);
        WindowUsage {
            used: self.used_at(now_ms),
            limit: self.budget.limit,
            resets_in: self.active(now_ms).map(|s| dur_ms(s + self.interval_ms - now_ms)),
        }
    }

    /// The server's reset time, when given, places the window (its timing wins); the count
    /// only ever goes up. Without one, a report while no window runs starts one now.
    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        let now_ms = millis(now);
        let server = report.used_of(self.budget.limit);
        let local = self.used_at(now_ms);
        match report.resets_in {
            Some(r) if r.is_zero() => return false,
            Some(r) => self.start_ms = Some(now_ms + dur_to_ms(r) - self.interval_ms),
            None if self.active(now_ms).is_none() && server > EPSILON => self.start_ms = Some(now_ms),
            None => {}
        }
        self.used = local.max(server);
        self.used > local + EPSILON
    }

    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.budget = Budget::new(limit, margin);
    }
}

// ---------------------------------------------------------------------------------------------

/// A quota per calendar month, UTC (paid data APIs' monthly credits).
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyQuota {
    budget: Budget,
    /// (year, month) the count belongs to.
    month: (i32, u32),
    used: f64,
}

impl MonthlyQuota {
    pub fn new(limit: f64, margin: f64) -> Self {
        Self { budget: Budget::new(limit, margin), month: (i32::MIN, 0), used: 0.0 }
    }

    fn month_of(now: DateTime<Utc>) -> (i32, u32) {
        (now.year(), now.month())
    }

    fn used_at(&self, now: DateTime<Utc>) -> f64 {
        if Self::month_of(now) == self.month {
            self.used
        } else {
            0.0
        }
    }

    /// Time until the first instant of the month `k` months after the next one.
    fn to_month_start(now: DateTime<Utc>, k: u32) -> Duration {
        let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
            .and_then(|d| d.checked_add_months(Months::new(1 + k)))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d));
        match first {
            Some(at) => (at - now).to_std().unwrap_or(Duration::ZERO),
            None => FOREVER,
        }
    }
}

impl WindowMath for MonthlyQuota {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        if self.budget.fits(self.used_at(now), weight) {
            Duration::ZERO
        } else {
            Self::to_month_start(now, 0)
        }
    }

    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        if ahead <= EPSILON {
            return self.eta(weight, now);
        }
        match self.budget.windows_ahead(self.used_at(now), ahead, weight) {
            0 => Duration::ZERO,
            k => Self::to_month_start(now, u32::try_from(k - 1).unwrap_or(u32::MAX).min(1200)),
        }
    }

    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        let month = Self::month_of(now);
        if month != self.month {
            self.month = month;
            self.used = 0.0;
        }
        self.used += weight;
    }

    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        WindowUsage { used: self.used_at(now), limit: self.budget.limit, resets_in: Some(Self::to_month_start(now, 0)) }
    }

    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        let month = Self::month_of(now);
        if month != self.month {
            self.month = month;
            self.used = 0.0;
        }
        let server = report.used_of(self.budget.limit);
        if server > self.used + EPSILON {
            self.used = server;
            true
        } else {
            false
        }
    }

    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.budget = Budget::new(limit, margin);
    }
}

// ---------------------------------------------------------------------------------------------

/// Any window, chosen by a rule's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    Fixed(FixedWindow),
    Sliding(SlidingWindow),
    Decaying(DecayingCounter),
    Pool(PoolWindow),
    Monthly(MonthlyQuota),
}

/// Interval used when a rule that needs one has none (validation rejects such specs; this only
/// keeps a hand-built rule from dividing by zero).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(1);

impl Window {
    /// The window a rule describes, with `limit` and `margin` (the rule's own limit, or a share
    /// of it for the health-check cap) and the fixed-window sync grace.
    pub fn for_rule(rule: &RateLimitRule, limit: f64, margin: f64, sync_grace: Duration) -> Window {
        let interval = rule.interval_ms.map_or(FALLBACK_INTERVAL, Duration::from_millis);
        match rule.kind {
            RateLimitKind::FixedWindow => {
                Window::Fixed(FixedWindow::new(limit, margin, interval).with_sync_grace(sync_grace))
            }
            RateLimitKind::SlidingWindow => Window::Sliding(SlidingWindow::new(limit, margin, interval)),
            RateLimitKind::DecayingCounter => {
                // A counter with no decay given drains its whole limit per interval (or never).
                let rate = rule
                    .decay_per_sec
                    .or_else(|| rule.interval_ms.map(|ms| rule.limit / (ms as f64 / 1000.0)))
                    .unwrap_or(0.0);
                let rate = if rule.limit > 0.0 { rate * limit / rule.limit } else { rate };
                Window::Decaying(DecayingCounter::new(limit, margin, rate))
            }
            RateLimitKind::PoolWindow => Window::Pool(PoolWindow::new(limit, margin, interval)),
            RateLimitKind::MonthlyQuota => Window::Monthly(MonthlyQuota::new(limit, margin)),
        }
    }

    fn inner(&self) -> &dyn WindowMath {
        match self {
            Window::Fixed(w) => w,
            Window::Sliding(w) => w,
            Window::Decaying(w) => w,
            Window::Pool(w) => w,
            Window::Monthly(w) => w,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn WindowMath {
        match self {
            Window::Fixed(w) => w,
            Window::Sliding(w) => w,
            Window::Decaying(w) => w,
            Window::Pool(w) => w,
            Window::Monthly(w) => w,
        }
    }
}

impl WindowMath for Window {
    fn eta(&self, weight: f64, now: DateTime<Utc>) -> Duration {
        self.inner().eta(weight, now)
    }
    fn eta_after(&self, ahead: f64, weight: f64, now: DateTime<Utc>) -> Duration {
        self.inner().eta_after(ahead, weight, now)
    }
    fn take(&mut self, weight: f64, now: DateTime<Utc>) {
        self.inner_mut().take(weight, now)
    }
    fn usage(&self, now: DateTime<Utc>) -> WindowUsage {
        self.inner().usage(now)
    }
    fn sync(&mut self, report: ServerReport, now: DateTime<Utc>) -> bool {
        self.inner_mut().sync(report, now)
    }
    fn set_budget(&mut self, limit: f64, margin: f64) {
        self.inner_mut().set_budget(limit, margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid date") + chrono::Duration::milliseconds(ms)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn margin_is_two_percent_at_least_one_unit_and_leaves_one_call() {
        assert_eq!(margin_for(6000.0, 0.02, 1.0), 120.0);
        assert_eq!(margin_for(10.0, 0.02, 1.0), 1.0);
        assert_eq!(margin_for(1.0, 0.02, 1.0), 0.0);
        assert!((margin_for(120.0, 0.02, 1.0) - 2.4).abs() < 1e-9);
    }

    #[test]
    fn fixed_window_is_aligned_to_the_epoch_and_resets_exactly_at_the_boundary() {
        let clock = FakeClock::at(at(2026, 3, 1, 12, 0, 59, 0));
        let mut w = FixedWindow::new(10.0, 0.0, Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(w.can_take(1.0, clock.now()), Fit::Ok);
            w.take(1.0, clock.now());
        }
        // One second before :01:00 the minute is spent; the wait is exactly to the boundary,
        // not 60 s from the first request.
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(secs(1.0)));
        clock.advance(Duration::from_millis(999));
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(Duration::from_millis(1)));
        assert_eq!(w.usage(clock.now()).used, 10.0);
        clock.advance(Duration::from_millis(1));
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Ok);
        let u = w.usage(clock.now());
        assert_eq!((u.used, u.limit, u.resets_in), (0.0, 10.0, Some(secs(60.0))));
    }

    #[test]
    fn a_grant_just_before_the_boundary_also_counts_in_the_next_window() {
        // A request sent 100 ms before :01:00 may reach the exchange after it, where the
        // exchange counts it; one sent earlier in the minute cannot.
        let clock = FakeClock::at(at(2026, 3, 1, 12, 0, 30, 0));
        let mut w = FixedWindow::new(10.0, 0.0, Duration::from_secs(60));
        w.take(3.0, clock.now());
        clock.advance(Duration::from_millis(29_900));
        w.take(2.0, clock.now());
        assert_eq!(w.usage(clock.now()).used, 5.0);
        clock.advance(Duration::from_millis(100));
        assert_eq!(w.usage(clock.now()).used, 2.0, "only the straddling grant carries over");
        assert_eq!(w.can_take(8.0, clock.now()), Fit::Ok);
        assert_ne!(w.can_take(9.0, clock.now()), Fit::Ok);
        // Two windows on, nothing is left.
        clock.advance(Duration::from_secs(60));
        assert_eq!(w.usage(clock.now()).used, 0.0);
    }

    #[test]
    fn fixed_window_keeps_the_safety_margin_free() {
        let now = at(2026, 3, 1, 0, 0, 0, 0);
        let mut w = FixedWindow::new(120.0, margin_for(120.0, 0.02, 1.0), Duration::from_secs(5));
        w.take(117.0, now);
        // 117 + 1 = 118 > 120 - 2.4: the exchange would still accept it, the limiter does not.
        assert_eq!(w.can_take(1.0, now), Fit::Wait(secs(5.0)));
        let mut w = FixedWindow::new(120.0, 2.4, Duration::from_secs(5));
        w.take(116.0, now);
        assert_eq!(w.can_take(1.0, now), Fit::Ok);
    }

    #[test]
    fn fixed_window_lets_an_oversized_request_run_alone_in_an_empty_window() {
        let now = at(2026, 3, 1, 0, 0, 1, 0);
        let mut w = FixedWindow::new(10.0, 1.0, Duration::from_secs(10));
        assert_eq!(w.can_take(50.0, now), Fit::Ok);
        w.take(1.0, now);
        assert_eq!(w.can_take(50.0, now), Fit::Wait(secs(9.0)));
    }

    #[test]
    fn fixed_window_sync_raises_usage_but_never_lowers_it() {
        let now = at(2026, 3, 1, 0, 0, 30, 0);
        let mut w = FixedWindow::new(6000.0, 120.0, Duration::from_secs(60)).with_sync_grace(secs(1.0));
        w.take(100.0, now);
        assert!(w.sync(ServerReport::used(5000.0), now));
        assert_eq!(w.usage(now).used, 5000.0);
        assert!(!w.sync(ServerReport::used(10.0), now));
        assert_eq!(w.usage(now).used, 5000.0);
        assert!(w.sync(ServerReport::remaining(500.0), now));
        assert_eq!(w.usage(now).used, 5500.0);
    }

    #[test]
    fn fixed_window_ignores_reports_just_after_a_boundary() {
        let mut w = FixedWindow::new(120.0, 2.0, Duration::from_secs(5)).with_sync_grace(secs(1.0));
        let boundary = at(2026, 3, 1, 0, 0, 5, 0);
        // grace is capped at a tenth of the interval: 500 ms.
        assert!(!w.sync(ServerReport::used(117.0), boundary + chrono::Duration::milliseconds(499)));
        assert_eq!(w.usage(boundary).used, 0.0);
        assert!(w.sync(ServerReport::used(7.0), boundary + chrono::Duration::milliseconds(500)));
    }

    #[test]
    fn fixed_window_estimates_the_wait_behind_a_queue_in_whole_windows() {
        let now = at(2026, 3, 1, 0, 0, 2, 0);
        let mut w = FixedWindow::new(10.0, 0.0, Duration::from_secs(10));
        w.take(10.0, now);
        assert_eq!(w.eta_after(0.0, 1.0, now), secs(8.0));
        assert_eq!(w.eta_after(9.0, 1.0, now), secs(8.0));
        assert_eq!(w.eta_after(10.0, 1.0, now), secs(18.0));
        assert_eq!(w.eta_after(25.0, 1.0, now), secs(28.0));
    }

    #[test]
    fn sliding_window_frees_budget_as_each_entry_ages_out() {
        let clock = FakeClock::at(at(2026, 3, 1, 0, 0, 0, 0));
        let mut w = SlidingWindow::new(5.0, 0.0, Duration::from_secs(10));
        w.take(2.0, clock.now());
        clock.advance(secs(3.0));
        w.take(3.0, clock.now());
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(secs(7.0)));
        // Three units need the second entry gone too.
        assert_eq!(w.can_take(3.0, clock.now()), Fit::Wait(secs(10.0)));
        assert_eq!(w.usage(clock.now()).resets_in, Some(secs(7.0)));
        clock.advance(secs(7.0));
        assert_eq!(w.usage(clock.now()).used, 3.0);
        assert_eq!(w.can_take(2.0, clock.now()), Fit::Ok);
        assert_eq!(w.can_take(3.0, clock.now()), Fit::Wait(secs(3.0)));
        clock.advance(secs(3.0));
        assert_eq!(w.usage(clock.now()).used, 0.0);
    }

    #[test]
    fn sliding_window_does_not_reset_at_a_boundary() {
        let clock = FakeClock::at(at(2026, 3, 1, 0, 0, 59, 500));
        let mut w = SlidingWindow::new(2.0, 0.0, Duration::from_secs(60));
        w.take(2.0, clock.now());
        clock.advance(secs(1.0));
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(secs(59.0)));
    }

    #[test]
    fn sliding_window_sync_places_unknown_usage_to_expire_at_the_server_reset() {
        let now = at(2026, 3, 1, 0, 0, 0, 0);
        let mut w = SlidingWindow::new(20.0, 0.0, Duration::from_secs(1));
        w.take(1.0, now);
        assert!(w.sync(ServerReport::remaining(5.0).resetting_in(Duration::from_millis(300)), now));
        assert_eq!(w.usage(now).used, 15.0);
        assert_eq!(w.usage(now).resets_in, Some(Duration::from_millis(300)));
        assert!(!w.sync(ServerReport::remaining(10.0), now));
        let later = now + chrono::Duration::milliseconds(300);
        assert_eq!(w.usage(later).used, 1.0);
    }

    /// Kraken's verification tiers: (maximum, decay per second).
    const KRAKEN_TIERS: [(&str, f64, f64); 3] =
        [("starter", 15.0, 0.33), ("intermediate", 20.0, 0.5), ("pro", 20.0, 1.0)];

    #[test]
    fn decaying_counter_drains_at_each_kraken_tier_rate() {
        for (tier, max, rate) in KRAKEN_TIERS {
            let clock = FakeClock::at(at(2026, 3, 1, 0, 0, 0, 0));
            let mut w = DecayingCounter::new(max, 0.0, rate);
            for _ in 0..max as u32 {
                assert_eq!(w.can_take(1.0, clock.now()), Fit::Ok, "{tier}");
                w.take(1.0, clock.now());
            }
            // Full: one more call needs one unit drained; a ledger query (cost 2) needs two.
            assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(dur_secs_f64(1.0 / rate)), "{tier}");
            assert_eq!(w.can_take(2.0, clock.now()), Fit::Wait(dur_secs_f64(2.0 / rate)), "{tier}");
            clock.advance(dur_secs_f64(1.0 / rate));
            assert_eq!(w.can_take(1.0, clock.now()), Fit::Ok, "{tier}");
            assert!(matches!(w.can_take(2.0, clock.now()), Fit::Wait(_)), "{tier}");
            let u = w.usage(clock.now());
            assert!((u.used - (max - 1.0)).abs() < 0.01, "{tier}: {}", u.used);
            assert_eq!(u.resets_in, Some(dur_secs_f64(u.used / rate)), "{tier}");
            clock.advance(secs(1000.0));
            assert_eq!(w.usage(clock.now()).used, 0.0, "{tier}");
        }
    }

    #[test]
    fn decaying_counter_with_the_default_margin_stops_one_below_the_kraken_maximum() {
        let now = at(2026, 3, 1, 0, 0, 0, 0);
        let mut w = DecayingCounter::new(15.0, margin_for(15.0, 0.02, 1.0), 0.33);
        w.take(14.0, now);
        assert_eq!(w.can_take(1.0, now), Fit::Wait(dur_secs_f64(1.0 / 0.33)));
        assert!(w.sync(ServerReport::used(14.5), now));
        assert!(!w.sync(ServerReport::used(3.0), now));
    }

    #[test]
    fn pool_window_starts_at_the_first_request_not_at_a_boundary() {
        let clock = FakeClock::at(at(2026, 3, 1, 0, 0, 7, 250));
        let mut w = PoolWindow::new(4.0, 0.0, Duration::from_secs(30));
        assert_eq!(w.usage(clock.now()).resets_in, None);
        w.take(4.0, clock.now());
        assert_eq!(w.usage(clock.now()).resets_in, Some(secs(30.0)));
        clock.advance(secs(10.0));
        assert_eq!(w.can_take(1.0, clock.now()), Fit::Wait(secs(20.0)));
        clock.advance(secs(20.0));
        assert_eq!(w.can_take(4.0, clock.now()), Fit::Ok);
        assert_eq!(w.usage(clock.now()).resets_in, None);
        // Idle for a while: the next window starts at the next request, 30 s from then.
        clock.advance(secs(12.345));
        w.take(1.0, clock.now());
        assert_eq!(w.usage(clock.now()).resets_in, Some(secs(30.0)));
    }

    #[test]
    fn pool_window_sync_adopts_the_server_reset_time() {
        let now = at(2026, 3, 1, 0, 0, 0, 0);
        let mut w = PoolWindow::new(2000.0, 40.0, Duration::from_secs(30));
        w.take(10.0, now);
        assert!(w.sync(ServerReport::remaining(1500.0).resetting_in(Duration::from_millis(12_000)), now));
        let u = w.usage(now);
        assert_eq!((u.used, u.resets_in), (500.0, Some(secs(12.0))));
        // No window locally, the server says one is running: start it.
        let mut idle = PoolWindow::new(2000.0, 40.0, Duration::from_secs(30));
        assert!(idle.sync(ServerReport::remaining(1990.0), now));
        assert_eq!(idle.usage(now).resets_in, Some(secs(30.0)));
    }

    #[test]
    fn monthly_quota_rolls_over_at_the_start_of_the_utc_month() {
        let end_of_jan = at(2026, 1, 31, 23, 59, 59, 0);
        let mut w = MonthlyQuota::new(10_000.0, 0.0);
        w.take(10_000.0, end_of_jan);
        assert_eq!(w.can_take(1.0, end_of_jan), Fit::Wait(secs(1.0)));
        assert_eq!(w.usage(end_of_jan).resets_in, Some(secs(1.0)));
        let feb = at(2026, 2, 1, 0, 0, 0, 0);
        assert_eq!(w.can_take(1.0, feb), Fit::Ok);
        assert_eq!(w.usage(feb).used, 0.0);
        // February 2026 has 28 days.
        assert_eq!(w.usage(feb).resets_in, Some(secs(28.0 * 86400.0)));
        let dec = at(2026, 12, 31, 12, 0, 0, 0);
        assert_eq!(MonthlyQuota::new(1.0, 0.0).usage(dec).resets_in, Some(secs(12.0 * 3600.0)));
    }

    #[test]
    fn window_for_rule_picks_the_kind_of_the_rule() {
        let rule = |kind, interval_ms, decay_per_sec| RateLimitRule {
            id: "r".into(),
            published: None,
            kind,
            scope: crate::provider::RateLimitScope::Ip,
            limit: 10.0,
            interval_ms,
            decay_per_sec,
            counts: Default::default(),
            applies_to: vec![],
            weight_header: None,
            remaining_header: None,
        };
        let g = Duration::ZERO;
        assert!(matches!(
            Window::for_rule(&rule(RateLimitKind::FixedWindow, Some(1000), None), 10.0, 0.0, g),
            Window::Fixed(_)
        ));
        assert!(matches!(
            Window::for_rule(&rule(RateLimitKind::SlidingWindow, Some(1000), None), 10.0, 0.0, g),
            Window::Sliding(_)
        ));
        assert!(matches!(
            Window::for_rule(&rule(RateLimitKind::PoolWindow, Some(1000), None), 10.0, 0.0, g),
            Window::Pool(_)
        ));
        assert!(matches!(
            Window::for_rule(&rule(RateLimitKind::MonthlyQuota, None, None), 10.0, 0.0, g),
            Window::Monthly(_)
        ));
        // A share of a counter drains at the same share of the rate.
        let now = at(2026, 3, 1, 0, 0, 0, 0);
        let mut share = Window::for_rule(&rule(RateLimitKind::DecayingCounter, None, Some(2.0)), 1.0, 0.0, g);
        share.take(1.0, now);
        assert_eq!(share.can_take(1.0, now), Fit::Wait(secs(5.0)));
    }
}
