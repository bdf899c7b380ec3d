//! The [`Limiter`]: per-provider rule sets, charged atomically, a priority queue with FIFO
//! order within a priority, and reconciliation with what the exchange reports.
//!
//! All state sits behind one `std::sync::Mutex` that is never held across an `.await`: a
//! caller that fits is charged under the lock and returns; one that does not enqueues a waiter
//! and waits, outside the lock, on a `watch` channel (granted, failed, or a new wake time) and
//! on the [`Timer`] until the earliest time its limits could fit. Whoever changes the state (a
//! new caller, a timer, `observe`, a cancelled waiter) re-runs the provider's queue ("pump"),
//! which grants in order: priority first, then arrival.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName};

use crate::http_headers::{number, reset_in, retry_after};
use tokio::sync::{broadcast, watch};

use super::published::{PublishedLimit, PublishedSource, RuleUpdate};
use super::status::{ClearReason, Level, LimitBreakdown, LimitEvent, LimitStatus};
use super::window::{margin_for, ServerReport, Window, WindowMath, EPSILON, FOREVER};
use crate::clock::Clock;
use crate::pipeline::limit::{Acquire, Answered, LimitError, LimitFuture, Priority, RateLimiter};
use crate::provider::{ProviderError, ProviderSpec, RateLimitCounts, RateLimitRule, RateLimitScope, Registry};
use crate::timer::{Timer, TokioTimer};

/// The name a 429 pause goes by in errors.
pub const PAUSE_LIMIT: &str = "HTTP 429 Retry-After";
/// The scope a 418 ban blocks.
pub const BAN_SCOPE: &str = "ip";
/// The scope key of account and key limits used without a key.
pub const DEFAULT_SCOPE_KEY: &str = "default";
/// Where [`LimitBreakdown::by_key`] counts calls made without a key.
pub const NO_KEY: &str = "(no key)";

/// Tunables. Every field has a default matching the figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Part of each limit kept free (0.02 = 2 %) ...
    pub margin_fraction: f64,
    /// ... and at least this many units (but never the last unit of a limit).
    pub margin_min: f64,
    /// Default warn threshold, percent of the limit.
    pub warn_pct: f64,
    /// Default critical threshold, percent of the limit.
    pub critical_pct: f64,
    /// Part of each limit the provider's `health_check` operation may use (1 = no cap).
    pub monitor_share: f64,
    /// Pause after a 429 without Retry-After.
    pub default_retry_after: Duration,
    /// Ban after a 418 without Retry-After (Binance bans for 2 minutes at the least).
    pub default_ban: Duration,
    /// Usage reports this soon after a fixed window's boundary are ignored, since they may
    /// describe the window that just ended (capped at a tenth of the window).
    pub sync_grace: Duration,
    /// Events buffered per subscriber before a slow one starts missing them.
    pub event_capacity: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            margin_fraction: 0.02,
            margin_min: 1.0,
            warn_pct: 80.0,
            critical_pct: 95.0,
            monitor_share: 0.10,
            default_retry_after: Duration::from_secs(1),
            default_ban: Duration::from_secs(120),
            sync_grace: Duration::from_secs(1),
            event_capacity: 256,
        }
    }
}

impl LimiterConfig {
    /// The safety margin of a limit.
    pub fn margin(&self, limit: f64) -> f64 {
        margin_for(limit, self.margin_fraction, self.margin_min)
    }
}

/// Reloading a provider's rules failed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("could not read the spec of provider \"{provider}\": {message}")]
    Task { provider: String, message: String },
}

/// The exchange-accurate rate limiter. Cheap to clone; clones share all state.
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

struct Shared {
    registry: Registry,
    clock: Arc<dyn Clock>,
    timer: Arc<dyn Timer>,
    events: broadcast::Sender<LimitEvent>,
    state: Mutex<State>,
    /// Where the limits a provider publishes are read on its first use (see
    /// [`Limiter::set_published_source`]).
    published_source: OnceLock<Arc<dyn PublishedSource>>,
    /// One reader of a provider's published limits at a time; the other callers wait for it.
    published_gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct State {
    config: LimiterConfig,
    providers: HashMap<String, ProviderState>,
    /// Per provider, per limit id: (warn, critical) overriding the defaults.
    thresholds: HashMap<String, HashMap<String, (f64, f64)>>,
    next_seq: u64,
}

struct ProviderState {
    id: String,
    /// Rules read from the spec (or found missing); until then only pauses and bans are kept.
    loaded: bool,
    rules: Vec<RuleState>,
    /// Operation -> indices of the rules that apply to it.
    ops: HashMap<String, Vec<usize>>,
    /// Rules that apply to every operation (for operations the spec does not name).
    any_op: Vec<usize>,
    health_op: String,
    /// Callers held to a part of each limit (gateway bots with a maximum share), by caller.
    caller_shares: HashMap<String, f64>,
    headers: Vec<HeaderBinding>,
    queue: BTreeMap<(Priority, u64), Waiter>,
    pause: Option<DateTime<Utc>>,
    ban: Option<DateTime<Utc>>,
    /// What the exchange last published about its limits (replaces matching rules' numbers).
    published: Vec<PublishedLimit>,
    /// Rules whose numbers come from `published`.
    following: Vec<String>,
    /// The operation that reads the published limits (the spec's `published_limits`).
    published_op: Option<String>,
    /// The published limits have not been read yet: calls other than `published_op` wait for
    /// them (a call charged on the preset's numbers could overrun a smaller published budget).
    awaiting_published: bool,
}

struct RuleState {
    rule: RateLimitRule,
    margin: f64,
    warn_pct: f64,
    critical_pct: f64,
    /// Per scope key (`ip`, or a key label). Few entries: a linear search beats hashing.
    limits: Vec<(String, LimitState)>,
}

/// A part of each limit one kind of caller keeps to: the health checks' share
/// ([`LimiterConfig::monitor_share`]) or a bot's maximum share (a gateway token's
/// `max_share`). Its window is of the same kind as the limit's, over that part of it.
#[derive(Debug, Clone, PartialEq)]
struct Cap {
    name: String,
    fraction: f64,
}

/// The cap name of the health checks' share.
const HEALTH_CAP: &str = "(health checks)";

struct LimitState {
    window: Window,
    /// Capped callers' windows, by cap name (few: a linear search).
    caps: Vec<(String, Window)>,
    level: Level,
    by_op: Vec<(String, f64)>,
    by_key: Vec<(String, f64)>,
    by_caller: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reports {
    Used,
    Remaining,
}

struct HeaderBinding {
    name: HeaderName,
    rule: usize,
    reports: Reports,
    /// Several rules name this header (Bybit's X-Bapi-Limit-Status, KuCoin's pools).
    shared: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Charge {
    rule: usize,
    scope: String,
    amount: f64,
}

struct Waiter {
    operation: String,
    key_label: Option<String>,
    caller: String,
    weight: u32,
    cap: Option<Cap>,
    charges: Vec<Charge>,
    deadline: Option<DateTime<Utc>>,
    /// When a waiter at the head of its limits can go, and the limit it waits for.
    ready_at: Option<(DateTime<Utc>, String)>,
    /// Whether later callers on the same limits must wait behind this one. A health check
    /// that waits only for its own share does not hold anyone up.
    holds: bool,
    tx: watch::Sender<WaitState>,
}

#[derive(Debug, Clone, PartialEq)]
enum WaitState {
    Pending { wake_at: Option<DateTime<Utc>> },
    Granted,
    Failed(Denial),
}

#[derive(Debug, Clone, PartialEq)]
enum Denial {
    Deadline { limit: String, wait: Duration },
    Blocked { limit: String, remaining: Duration },
}

impl Denial {
    fn into_error(self, provider: &str) -> LimitError {
        match self {
            Denial::Deadline { limit, wait } => {
                LimitError::WouldExceedDeadline { provider: provider.to_string(), limit, wait }
            }
            Denial::Blocked { limit, remaining } => {
                LimitError::Blocked { provider: provider.to_string(), limit, remaining }
            }
        }
    }
}

enum Attempt {
    NotLoaded,
    Granted,
    Denied(Denial),
    Queued { key: (Priority, u64), rx: watch::Receiver<WaitState> },
}

fn to_std(d: chrono::TimeDelta) -> Duration {
    d.to_std().unwrap_or(Duration::ZERO)
}

fn to_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d.min(FOREVER)).unwrap_or(chrono::TimeDelta::MAX)
}

fn scope_key(scope: RateLimitScope, key_label: Option<&str>) -> &str {
    match scope {
        RateLimitScope::Ip => "ip",
        RateLimitScope::Account | RateLimitScope::Key => key_label.unwrap_or(DEFAULT_SCOPE_KEY),
    }
}

fn amount(rule: &RateLimitRule, weight: u32) -> f64 {
    match rule.counts {
        RateLimitCounts::Weight => f64::from(weight),
        RateLimitCounts::Requests => 1.0,
    }
}

fn add_to(tally: &mut Vec<(String, f64)>, name: &str, amount: f64) {
    match tally.iter_mut().find(|(n, _)| n == name) {
        Some((_, total)) => *total += amount,
        None => tally.push((name.to_string(), amount)),
    }
}

fn top(tally: &[(String, f64)], n: usize) -> Vec<(String, f64)> {
    let mut sorted = tally.to_vec();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

impl LimitState {
    fn new(rule: &RateLimitRule, margin: f64, cfg: &LimiterConfig) -> Self {
        Self {
            window: Window::for_rule(rule, rule.limit, margin, cfg.sync_grace),
            caps: Vec::new(),
            level: Level::Normal,
            by_op: Vec::new(),
            by_key: Vec::new(),
            by_caller: Vec::new(),
        }
    }

    fn ensure_cap(&mut self, rule: &RateLimitRule, cap: &Cap, cfg: &LimiterConfig) {
        if cap.fraction < 1.0 && !self.caps.iter().any(|(n, _)| *n == cap.name) {
            self.caps.push((cap.name.clone(), Window::for_rule(rule, rule.limit * cap.fraction, 0.0, cfg.sync_grace)));
        }
    }

    fn cap_window(&self, cap: Option<&Cap>) -> Option<&Window> {
        let cap = cap?;
        self.caps.iter().find(|(n, _)| *n == cap.name).map(|(_, w)| w)
    }

    fn eta(&self, amount: f64, cap: Option<&Cap>, now: DateTime<Utc>) -> Duration {
        let own = self.window.eta(amount, now);
        match self.cap_window(cap) {
            Some(m) => own.max(m.eta(amount, now)),
            None => own,
        }
    }
}

/// The limit state of `scope` under a rule, created on first use.
fn limit_in<'a>(
    limits: &'a mut Vec<(String, LimitState)>,
    rule: &RateLimitRule,
    margin: f64,
    scope: &str,
    cap: Option<&Cap>,
    cfg: &LimiterConfig,
) -> &'a mut LimitState {
    let index = match limits.iter().position(|(k, _)| k == scope) {
        Some(i) => i,
        None => {
            limits.push((scope.to_string(), LimitState::new(rule, margin, cfg)));
            limits.len() - 1
        }
    };
    let state = &mut limits[index].1;
    if let Some(cap) = cap {
        state.ensure_cap(rule, cap, cfg);
    }
    state
}

#[allow(clippy::too_many_arguments)]
fn update_level(
    ls: &mut LimitState,
    rs_id: &str,
    warn: f64,
    critical: f64,
    provider: &str,
    scope: &str,
    now: DateTime<Utc>,
    events: &mut Vec<LimitEvent>,
) {
    let used_pct = ls.window.usage(now).percent();
    let level = Level::of(used_pct, warn, critical);
    if level == ls.level {
        return;
    }
    ls.level = level;
    events.push(match level {
        Level::Normal => LimitEvent::Cleared {
            provider: provider.to_string(),
            limit: Some(rs_id.to_string()),
            scope_key: Some(scope.to_string()),
            reason: ClearReason::BelowThresholds,
        },
        level => LimitEvent::Threshold {
            provider: provider.to_string(),
            limit: rs_id.to_string(),
            scope_key: scope.to_string(),
            level,
            used_pct,
        },
    });
}

/// What one granted call charges on one limit.
struct Spend<'a> {
    amount: f64,
    cap: Option<&'a Cap>,
    operation: &'a str,
    key_label: Option<&'a str>,
    caller: &'a str,
}

fn charge_one(
    rs: &mut RuleState,
    scope: &str,
    spend: &Spend<'_>,
    provider: &str,
    cfg: &LimiterConfig,
    now: DateTime<Utc>,
    events: &mut Vec<LimitEvent>,
) {
    let RuleState { rule, margin, warn_pct, critical_pct, limits } = rs;
    let ls = limit_in(limits, rule, *margin, scope, spend.cap, cfg);
    ls.window.take(spend.amount, now);
    if let Some(cap) = spend.cap {
        if let Some((_, m)) = ls.caps.iter_mut().find(|(n, _)| *n == cap.name) {
            m.take(spend.amount, now);
        }
    }
    add_to(&mut ls.by_op, spend.operation, spend.amount);
    add_to(&mut ls.by_key, spend.key_label.unwrap_or(NO_KEY), spend.amount);
    add_to(&mut ls.by_caller, spend.caller, spend.amount);
    update_level(ls, &rule.id, *warn_pct, *critical_pct, provider, scope, now, events);
}

impl ProviderState {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            loaded: false,
            rules: Vec::new(),
            ops: HashMap::new(),
            any_op: Vec::new(),
            health_op: String::new(),
            caller_shares: HashMap::new(),
            headers: Vec::new(),
            queue: BTreeMap::new(),
            pause: None,
            ban: None,
            published: Vec::new(),
            following: Vec::new(),
            published_op: None,
            awaiting_published: false,
        }
    }

    fn rule_indices(&self, operation: &str) -> &[usize] {
        self.ops.get(operation).map_or(self.any_op.as_slice(), Vec::as_slice)
    }

    fn charges_for(&self, operation: &str, key_label: Option<&str>, weight: u32) -> Vec<Charge> {
        self.rule_indices(operation)
            .iter()
            .filter_map(|&i| self.rules.get(i).map(|rs| (i, rs)))
            .map(|(i, rs)| Charge {
                rule: i,
                scope: scope_key(rs.rule.scope, key_label).to_string(),
                amount: amount(&rs.rule, weight),
            })
            .collect()
    }

    /// Reads a spec's rules, keeping the usage of rules whose timing did not change.
    fn apply(
        &mut self,
        spec: &ProviderSpec,
        cfg: &LimiterConfig,
        thresholds: Option<&HashMap<String, (f64, f64)>>,
        now: DateTime<Utc>,
    ) {
        let merged;
        let spec = if self.published.is_empty() {
            self.following.clear();
            spec
        } else {
            let (m, _, following) = super::published::apply(spec, &self.published);
            self.following = following;
            merged = m;
            &merged
        };
        let mut old = std::mem::take(&mut self.rules);
        self.rules = spec
            .rate_limits
            .iter()
            .map(|rule| {
                let margin = cfg.margin(rule.limit);
                let (warn_pct, critical_pct) =
                    thresholds.and_then(|t| t.get(&rule.id)).copied().unwrap_or((cfg.warn_pct, cfg.critical_pct));
                let same = old.iter().position(|o| {
                    o.rule.id == rule.id
                        && o.rule.kind == rule.kind
                        && o.rule.interval_ms == rule.interval_ms
                        && o.rule.decay_per_sec == rule.decay_per_sec
                });
                // A rule whose window changed (the exchange published another one) starts with
                // what its old window had spent: those requests reached the exchange, which
                // counts them in the window it is in now.
                let spent: Vec<(String, f64)> = match same {
                    None => old
                        .iter()
                        .filter(|o| o.rule.id == rule.id)
                        .flat_map(|o| o.limits.iter().map(|(k, ls)| (k.clone(), ls.window.usage(now).used)))
                        .filter(|(_, used)| *used > 0.0)
                        .collect(),
                    Some(_) => Vec::new(),
                };
                match same.map(|i| old.swap_remove(i)) {
                    Some(mut rs) => {
                        for (_, ls) in &mut rs.limits {
                            ls.window.set_budget(rule.limit, margin);
                            for (name, m) in &mut ls.caps {
                                let fraction = if name == HEALTH_CAP {
                                    cfg.monitor_share
                                } else {
                                    self.caller_shares.get(name).copied().unwrap_or(1.0)
                                };
                                m.set_budget(rule.limit * fraction, 0.0);
                            }
                        }
                        RuleState { rule: rule.clone(), margin, warn_pct, critical_pct, limits: rs.limits }
                    }
                    None => {
                        let mut limits = Vec::new();
                        for (scope, used) in spent {
                            limit_in(&mut limits, rule, margin, &scope, None, cfg).window.take(used, now);
                        }
                        RuleState { rule: rule.clone(), margin, warn_pct, critical_pct, limits }
                    }
                }
            })
            .collect();

        let mut names: Vec<&str> = spec.endpoints.keys().map(String::as_str).collect();
        names.extend(spec.rate_limits.iter().flat_map(|r| r.applies_to.iter().map(String::as_str)));
        self.ops = names
            .into_iter()
            .map(|op| {
                let idx =
                    self.rules.iter().enumerate().filter(|(_, rs)| rs.rule.applies_to_operation(op)).map(|(i, _)| i);
                (op.to_string(), idx.collect())
            })
            .collect();
        self.any_op =
            self.rules.iter().enumerate().filter(|(_, rs)| rs.rule.applies_to.is_empty()).map(|(i, _)| i).collect();
        self.health_op = spec.health_check.clone();
        self.published_op = spec.published_limits.as_ref().map(|p| p.operation.clone());

        let mut bindings = Vec::new();
        for (i, rs) in self.rules.iter().enumerate() {
            let named = [(&rs.rule.weight_header, Reports::Used), (&rs.rule.remaining_header, Reports::Remaining)];
            for (header, reports) in named {
                let Some(header) = header else { continue };
                match HeaderName::from_bytes(header.trim().to_ascii_lowercase().as_bytes()) {
                    Ok(name) => bindings.push(HeaderBinding { name, rule: i, reports, shared: false }),
                    Err(_) => {
                        tracing::warn!(provider = %spec.id, rule = %rs.rule.id, header = %header, "ignoring a rate-limit header that is not a valid header name")
                    }
                }
            }
        }
        let names: Vec<HeaderName> = bindings.iter().map(|b| b.name.clone()).collect();
        for b in &mut bindings {
            b.shared = names.iter().filter(|n| **n == b.name).count() > 1;
        }
        self.headers = bindings;
        self.loaded = true;

        // Queued callers keep their place; what they will be charged follows the new rules.
        let recharged: Vec<((Priority, u64), Vec<Charge>)> = self
            .queue
            .iter()
            .map(|(k, w)| (*k, self.charges_for(&w.operation, w.key_label.as_deref(), w.weight)))
            .collect();
        for (k, charges) in recharged {
            if let Some(w) = self.queue.get_mut(&k) {
                w.charges = charges;
            }
        }
    }

    fn clear_expired(&mut self, now: DateTime<Utc>, events: &mut Vec<LimitEvent>) {
        if self.pause.is_some_and(|until| until <= now) {
            self.pause = None;
            events.push(LimitEvent::Cleared {
                provider: self.id.clone(),
                limit: None,
                scope_key: None,
                reason: ClearReason::PauseEnded,
            });
        }
        if self.ban.is_some_and(|until| until <= now) {
            self.ban = None;
            events.push(LimitEvent::Cleared {
                provider: self.id.clone(),
                limit: None,
                scope_key: None,
                reason: ClearReason::BanEnded,
            });
        }
    }

    /// The wait `charges` would face behind the waiters queued before `before`, and the limit
    /// that causes it (a fluid estimate; exact for an empty queue).
    fn estimate(
        &self,
        charges: &[Charge],
        before: (Priority, u64),
        cap: Option<&Cap>,
        now: DateTime<Utc>,
    ) -> (Duration, String) {
        let mut worst = match self.pause {
            Some(until) => (to_std(until - now), PAUSE_LIMIT.to_string()),
            // Named after the first limit even when no wait is expected (a deadline that has
            // already passed).
            None => {
                let first = charges.first().and_then(|c| self.rules.get(c.rule)).map(|rs| rs.rule.id.clone());
                (Duration::ZERO, first.unwrap_or_else(|| PAUSE_LIMIT.to_string()))
            }
        };
        for c in charges {
            let Some(rs) = self.rules.get(c.rule) else { continue };
            let Some((_, ls)) = rs.limits.iter().find(|(k, _)| *k == c.scope) else { continue };
            let ahead: f64 = self
                .queue
                .range(..before)
                .filter(|(_, w)| w.holds)
                .flat_map(|(_, w)| w.charges.iter())
                .filter(|o| o.rule == c.rule && o.scope == c.scope)
                .map(|o| o.amount)
                .sum();
            let mut eta = ls.window.eta_after(ahead, c.amount, now);
            if let Some(m) = ls.cap_window(cap) {
                eta = eta.max(m.eta(c.amount, now));
            }
            if eta > worst.0 {
                worst = (eta, rs.rule.id.clone());
            }
        }
        // A caller ahead that waits on a limit of its own holds this one up as long.
        let ahead = self.queue.range(..before).map(|(_, w)| w).filter(|w| {
            w.holds && w.charges.iter().any(|o| charges.iter().any(|c| c.rule == o.rule && c.scope == o.scope))
        });
        for w in ahead {
            if let Some((at, limit)) = &w.ready_at {
                let wait = to_std(*at - now);
                if wait > worst.0 {
                    worst = (wait, limit.clone());
                }
            }
        }
        worst
    }

    /// The cap `req` keeps to, if any: the health checks' share, or its caller's maximum.
    fn cap_for(&self, req: &Acquire<'_>, cfg: &LimiterConfig) -> Option<Cap> {
        let health = req.operation == self.health_op || req.caller == crate::monitor::MONITOR_CALLER;
        if health {
            return (cfg.monitor_share < 1.0)
                .then(|| Cap { name: HEALTH_CAP.to_string(), fraction: cfg.monitor_share });
        }
        let fraction = *self.caller_shares.get(req.caller)?;
        (fraction < 1.0).then(|| Cap { name: req.caller.to_string(), fraction })
    }

    fn try_acquire(
        &mut self,
        req: &Acquire<'_>,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
        cfg: &LimiterConfig,
        next_seq: &mut u64,
        events: &mut Vec<LimitEvent>,
    ) -> Attempt {
        if !self.loaded || (self.awaiting_published && self.published_op.as_deref() != Some(req.operation)) {
            return Attempt::NotLoaded;
        }
        self.clear_expired(now, events);
        if let Some(until) = self.ban {
            return Attempt::Denied(Denial::Blocked { limit: BAN_SCOPE.to_string(), remaining: to_std(until - now) });
        }
        // Health checks keep to their share (the spec's health-check operation, and anything
        // the monitor calls); a bot with a maximum share keeps to its own.
        let cap = self.cap_for(req, cfg);
        let cap = cap.as_ref();
        {
            let Self { id, rules, ops, any_op, queue, pause, .. } = self;
            let idxs = ops.get(req.operation).map_or(any_op.as_slice(), Vec::as_slice);
            if idxs.is_empty() && pause.is_none() {
                return Attempt::Granted;
            }
            // Earlier callers of the same or a higher priority on a shared limit go first.
            let behind = queue.iter().take_while(|((p, _), _)| *p <= req.priority).any(|(_, w)| {
                w.holds
                    && w.charges.iter().any(|c| {
                        idxs.contains(&c.rule)
                            && rules.get(c.rule).is_some_and(|rs| c.scope == scope_key(rs.rule.scope, req.key_label))
                    })
            });
            if pause.is_none() && !behind {
                let fits = idxs.iter().all(|&i| {
                    let Some(RuleState { rule, margin, limits, .. }) = rules.get_mut(i) else { return true };
                    let scope = scope_key(rule.scope, req.key_label);
                    let ls = limit_in(limits, rule, *margin, scope, cap, cfg);
                    ls.eta(amount(rule, req.weight), cap, now).is_zero()
                });
                if fits {
                    for &i in idxs {
                        let Some(rs) = rules.get_mut(i) else { continue };
                        let spend = Spend {
                            amount: amount(&rs.rule, req.weight),
                            cap,
                            operation: req.operation,
                            key_label: req.key_label,
                            caller: req.caller,
                        };
                        let scope = scope_key(rs.rule.scope, req.key_label);
                        charge_one(rs, scope, &spend, id, cfg, now, events);
                    }
                    return Attempt::Granted;
                }
            }
        }

        let charges = self.charges_for(req.operation, req.key_label, req.weight);
        for c in &charges {
            if let Some(RuleState { rule, margin, limits, .. }) = self.rules.get_mut(c.rule) {
                limit_in(limits, rule, *margin, &c.scope, cap, cfg);
            }
        }
        let key = (req.priority, *next_seq);
        *next_seq += 1;
        let (wait, limit) = self.estimate(&charges, key, cap, now);
        if deadline.is_some_and(|d| now + to_delta(wait) > d) {
            return Attempt::Denied(Denial::Deadline { limit, wait });
        }
        let (tx, rx) = watch::channel(WaitState::Pending { wake_at: None });
        self.queue.insert(
            key,
            Waiter {
                operation: req.operation.to_string(),
                key_label: req.key_label.map(str::to_string),
                caller: req.caller.to_string(),
                weight: req.weight,
                cap: cap.cloned(),
                charges,
                deadline,
                ready_at: None,
                holds: true,
                tx,
            },
        );
        self.pump(now, cfg, events);
        Attempt::Queued { key, rx }
    }

    /// Grants every waiter that fits, in order; sets the others' wake times; fails those that
    /// can no longer meet their deadline, and all of them during a ban.
    fn pump(&mut self, now: DateTime<Utc>, cfg: &LimiterConfig, events: &mut Vec<LimitEvent>) {
        self.clear_expired(now, events);
        if self.queue.is_empty() {
            return;
        }
        let Self { id, rules, queue, pause, ban, .. } = self;
        if let Some(until) = *ban {
            let remaining = to_std(until - now);
            for (_, w) in std::mem::take(queue) {
                w.tx.send_replace(WaitState::Failed(Denial::Blocked { limit: BAN_SCOPE.to_string(), remaining }));
            }
            return;
        }
        let pause_left = pause.map(|until| to_std(until - now));
        let mut blocked: Vec<(usize, String)> = Vec::new();
        queue.retain(|_, w| {
            if w.charges.iter().any(|c| blocked.iter().any(|(r, s)| *r == c.rule && *s == c.scope)) {
                w.ready_at = None;
                w.holds = true;
                blocked.extend(w.charges.iter().map(|c| (c.rule, c.scope.clone())));
                set_wake(&w.tx, None);
                return true;
            }
            // The wait for the limits themselves, and for the health-check share.
            let mut budget_eta = pause_left.unwrap_or(Duration::ZERO);
            let mut eta = budget_eta;
            let mut cause: Option<usize> = None;
            for c in &w.charges {
                let Some(RuleState { rule, margin, limits, .. }) = rules.get_mut(c.rule) else { continue };
                let ls = limit_in(limits, rule, *margin, &c.scope, w.cap.as_ref(), cfg);
                let own = ls.window.eta(c.amount, now);
                budget_eta = budget_eta.max(own);
                let e = ls.eta(c.amount, w.cap.as_ref(), now);
                if e > eta {
                    eta = e;
                    cause = Some(c.rule);
                }
            }
            if eta.is_zero() {
                for c in &w.charges {
                    let Some(rs) = rules.get_mut(c.rule) else { continue };
                    let spend = Spend {
                        amount: c.amount,
                        cap: w.cap.as_ref(),
                        operation: &w.operation,
                        key_label: w.key_label.as_deref(),
                        caller: &w.caller,
                    };
                    charge_one(rs, &c.scope, &spend, id, cfg, now, events);
                }
                w.tx.send_replace(WaitState::Granted);
                return false;
            }
            let limit = match cause.and_then(|i| rules.get(i)) {
                Some(rs) => rs.rule.id.as_str(),
                None => PAUSE_LIMIT,
            };
            if w.deadline.is_some_and(|d| now + to_delta(eta) > d) {
                w.tx.send_replace(WaitState::Failed(Denial::Deadline { limit: limit.to_string(), wait: eta }));
                return false;
            }
            let at = now + to_delta(eta);
            let unchanged = matches!(&w.ready_at, Some((t, l)) if *t == at && l == limit);
            if !unchanged {
                w.ready_at = Some((at, limit.to_string()));
            }
            set_wake(&w.tx, Some(at));
            w.holds = !budget_eta.is_zero();
            if w.holds {
                blocked.extend(w.charges.iter().map(|c| (c.rule, c.scope.clone())));
            }
            true
        });
    }

    /// Applies the usage headers of one response.
    fn sync_headers(
        &mut self,
        headers: &HeaderMap,
        operation: &str,
        key_label: Option<&str>,
        now: DateTime<Utc>,
        cfg: &LimiterConfig,
        events: &mut Vec<LimitEvent>,
    ) {
        if self.headers.is_empty() {
            return;
        }
        // Only remaining-style reports come with a reset time (KuCoin, Bybit).
        let resets_in =
            if self.headers.iter().any(|b| b.reports == Reports::Remaining) { reset_in(headers, now) } else { None };
        let Self { id, rules, headers: bindings, .. } = self;
        for b in bindings.iter() {
            let Some(value) = headers.get(&b.name).and_then(number) else { continue };
            let Some(RuleState { rule, margin, warn_pct, critical_pct, limits }) = rules.get_mut(b.rule) else {
                continue;
            };
            // A header several rules share belongs to the rule of the call it answered.
            if b.shared && !rule.applies_to_operation(operation) {
                continue;
            }
            let mut report = match b.reports {
                Reports::Used => ServerReport::used(value),
                // More left than this rule's whole limit: the report is about another budget.
                Reports::Remaining if value > rule.limit + EPSILON => continue,
                Reports::Remaining => ServerReport::remaining(value),
            };
            if let Some(r) = resets_in {
                report = report.resetting_in(r);
            }
            let scope: String = match rule.scope {
                RateLimitScope::Ip => "ip".to_string(),
                _ if limits.len() == 1 => limits[0].0.clone(),
                _ => scope_key(rule.scope, key_label).to_string(),
            };
            let ls = limit_in(limits, rule, *margin, &scope, None, cfg);
            if ls.window.sync(report, now) {
                update_level(ls, &rule.id, *warn_pct, *critical_pct, id, &scope, now, events);
            }
        }
    }
}

fn set_wake(tx: &watch::Sender<WaitState>, wake_at: Option<DateTime<Utc>>) {
    tx.send_if_modified(|s| {
        let next = WaitState::Pending { wake_at };
        if *s == next {
            false
        } else {
            *s = next;
            true
        }
    });
}

/// Cancels a queued waiter whose future was dropped.
struct QueueGuard<'a> {
    limiter: &'a Limiter,
    provider: &'a str,
    key: (Priority, u64),
    armed: bool,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.limiter.with_provider(self.provider, |ps, now, cfg, events| {
                if ps.queue.remove(&self.key).is_some() {
                    ps.pump(now, cfg, events);
                }
            });
        }
    }
}

impl Limiter {
    /// A limiter reading rules from `registry`, telling time by `clock` and sleeping on tokio.
    pub fn new(registry: Registry, clock: Arc<dyn Clock>) -> Self {
        let timer = Arc::new(TokioTimer::new(Arc::clone(&clock)));
        Self::with_parts(registry, clock, timer, LimiterConfig::default())
    }

    /// Like [`Limiter::new`] with a configuration.
    pub fn with_config(registry: Registry, clock: Arc<dyn Clock>, config: LimiterConfig) -> Self {
        let timer = Arc::new(TokioTimer::new(Arc::clone(&clock)));
        Self::with_parts(registry, clock, timer, config)
    }

    /// Everything explicit (tests pass a [`ManualTimer`](super::ManualTimer) on a fake clock).
    pub fn with_parts(registry: Registry, clock: Arc<dyn Clock>, timer: Arc<dyn Timer>, config: LimiterConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        Self {
            shared: Arc::new(Shared {
                registry,
                clock,
                timer,
                events,
                state: Mutex::new(State { config, providers: HashMap::new(), thresholds: HashMap::new(), next_seq: 0 }),
                published_source: OnceLock::new(),
                published_gates: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, events: Vec<LimitEvent>) {
        for e in events {
            match &e {
                LimitEvent::Banned { provider, retry_after, .. } => {
                    tracing::error!(provider = %provider, ?retry_after, "the exchange banned this IP (HTTP 418); calls are blocked until it ends")
                }
                LimitEvent::Paused { provider, retry_after, .. } => {
                    tracing::warn!(provider = %provider, ?retry_after, "rate limited (HTTP 429); pausing the provider's limits")
                }
                _ => tracing::debug!(event = ?e, "rate-limit event"),
            }
            // No subscriber is not an error.
            let _ = self.shared.events.send(e);
        }
    }

    /// Runs `f` on a provider's state (created empty if unknown), then sends its events.
    fn with_provider<T>(
        &self,
        provider: &str,
        f: impl FnOnce(&mut ProviderState, DateTime<Utc>, &LimiterConfig, &mut Vec<LimitEvent>) -> T,
    ) -> T {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        let out = {
            let mut st = self.lock();
            let cfg = st.config;
            if !st.providers.contains_key(provider) {
                st.providers.insert(provider.to_string(), ProviderState::new(provider));
            }
            match st.providers.get_mut(provider) {
                Some(ps) => f(ps, now, &cfg, &mut events),
                None => f(&mut ProviderState::new(provider), now, &cfg, &mut events),
            }
        };
        self.emit(events);
        out
    }

    /// Events: thresholds crossed, pauses, bans, and their end.
    pub fn subscribe(&self) -> broadcast::Receiver<LimitEvent> {
        self.shared.events.subscribe()
    }

    pub fn config(&self) -> LimiterConfig {
        self.lock().config
    }

    /// Loads (or replaces) a provider's rules from a spec. Usage of rules whose id and timing
    /// are unchanged is kept; queued callers keep their place.
    pub fn apply_spec(&self, spec: &ProviderSpec) {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        {
            let mut st = self.lock();
            let cfg = st.config;
            let State { providers, thresholds, .. } = &mut *st;
            let ps = providers.entry(spec.id.clone()).or_insert_with(|| ProviderState::new(&spec.id));
            let first = !ps.loaded;
            ps.apply(spec, &cfg, thresholds.get(&spec.id), now);
            if first && ps.published_op.is_some() && ps.published.is_empty() {
                ps.awaiting_published = self.shared.published_source.get().is_some();
            }
            ps.pump(now, &cfg, &mut events);
        }
        self.emit(events);
    }

    /// Takes what the exchange published about its limits: from now on they replace the
    /// numbers of `spec`'s rules that name them (see [`super::published`]). Returns the rules
    /// whose numbers differ from the spec, and sends [`LimitEvent::Published`].
    pub fn set_published(&self, spec: &ProviderSpec, published: Vec<PublishedLimit>) -> Vec<RuleUpdate> {
        let (_, updates, _) = super::published::apply(spec, &published);
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        {
            let mut st = self.lock();
            let cfg = st.config;
            let State { providers, thresholds, .. } = &mut *st;
            let ps = providers.entry(spec.id.clone()).or_insert_with(|| ProviderState::new(&spec.id));
            ps.published = published;
            ps.apply(spec, &cfg, thresholds.get(&spec.id), now);
            ps.loaded = true;
            ps.awaiting_published = false;
            ps.pump(now, &cfg, &mut events);
        }
        events.push(LimitEvent::Published { provider: spec.id.clone(), updates: updates.clone() });
        self.emit(events);
        updates
    }

    /// Re-reads a provider's spec from the registry (after the user edited it).
    pub async fn reload(&self, provider: &str) -> Result<(), ReloadError> {
        let registry = self.shared.registry.clone();
        let id = provider.to_string();
        let entry = tokio::task::spawn_blocking(move || registry.get(&id))
            .await
            .map_err(|e| ReloadError::Task { provider: provider.to_string(), message: e.to_string() })??;
        self.apply_spec(&entry.spec);
        Ok(())
    }

    /// First use of a provider: read its rules, then what it publishes about its limits. A
    /// provider the registry cannot give is treated as having no rules (the pipeline reports
    /// the real problem) until `reload`.
    async fn load(&self, provider: &str, operation: &str) {
        if !self.lock().providers.get(provider).is_some_and(|ps| ps.loaded) {
            if let Err(e) = self.reload(provider).await {
                tracing::warn!(provider = %provider, error = %e, "no rate-limit rules for this provider; calls are not throttled");
                self.with_provider(provider, |ps, _, _, _| ps.loaded = true);
            }
        }
        self.await_published(provider, operation).await;
    }

    /// Where the limits providers publish are read on their first use, whether or not they are
    /// enabled or monitored. Set once, before the first call; without it the spec's numbers
    /// apply until [`Limiter::set_published`].
    pub fn set_published_source(&self, source: Arc<dyn PublishedSource>) {
        if self.shared.published_source.set(source).is_err() {
            tracing::warn!("the published-limits source was already set; keeping the first");
        }
    }

    /// Waits until the provider's published limits are read (one reader; the others wait for
    /// it). The call that reads them is let through on the spec's numbers. If they cannot be
    /// read, the spec's numbers stay and usage headers keep the count honest.
    async fn await_published(&self, provider: &str, operation: &str) {
        let awaiting = |lim: &Limiter| {
            lim.lock()
                .providers
                .get(provider)
                .is_some_and(|ps| ps.awaiting_published && ps.published_op.as_deref() != Some(operation))
        };
        if !awaiting(self) {
            return;
        }
        let gate = {
            let mut gates = self.shared.published_gates.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(gates.entry(provider.to_string()).or_default())
        };
        let _reading = gate.lock().await;
        if !awaiting(self) {
            return;
        }
        let Some(source) = self.shared.published_source.get().cloned() else {
            self.with_provider(provider, |ps, _, _, _| ps.awaiting_published = false);
            return;
        };
        let registry = self.shared.registry.clone();
        let id = provider.to_string();
        let spec = match tokio::task::spawn_blocking(move || registry.get(&id)).await {
            Ok(Ok(entry)) => entry.spec,
            _ => {
                self.with_provider(provider, |ps, _, _, _| ps.awaiting_published = false);
                return;
            }
        };
        match source.limits(&spec).await {
            Ok(list) => {
                for u in self.set_published(&spec, list) {
                    tracing::info!(provider = %provider, rule = %u.rule, from = ?u.from, to = ?u.to,
                        "the exchange publishes a different limit; using it");
                }
            }
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e,
                    "could not read the limits the exchange publishes; using the provider settings' numbers");
                self.with_provider(provider, |ps, _, _, _| ps.awaiting_published = false);
            }
        }
    }

    /// Providers whose rules this limiter has read (so far in this process).
    pub fn loaded_providers(&self) -> Vec<String> {
        self.lock().providers.values().filter(|ps| ps.loaded).map(|ps| ps.id.clone()).collect()
    }

    /// Holds `caller` to `share` (0–1) of each of `provider`'s limits, or lifts its cap
    /// (`None`). The gateway sets it for bots whose token has a maximum share.
    pub fn set_caller_share(&self, provider: &str, caller: &str, share: Option<f64>) {
        let share = share.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0));
        let mut st = self.lock();
        let ps = st.providers.entry(provider.to_string()).or_insert_with(|| ProviderState::new(provider));
        if ps.caller_shares.get(caller).copied() == share {
            return;
        }
        match share {
            Some(f) if f < 1.0 => {
                ps.caller_shares.insert(caller.to_string(), f);
            }
            _ => {
                ps.caller_shares.remove(caller);
            }
        }
        for rs in &mut ps.rules {
            for (_, ls) in &mut rs.limits {
                match share.filter(|f| *f < 1.0) {
                    Some(f) => {
                        if let Some((_, m)) = ls.caps.iter_mut().find(|(n, _)| n == caller) {
                            m.set_budget(rs.rule.limit * f, 0.0);
                        }
                    }
                    None => ls.caps.retain(|(n, _)| n != caller),
                }
            }
        }
    }

    /// The part of each limit that calls of a provider's `health_check` operation may use
    /// (default 0.10; 1 removes the cap). Monitoring never starves trading.
    pub fn set_monitor_share(&self, fraction: f64) {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 1.0 };
        let mut st = self.lock();
        st.config.monitor_share = fraction;
        for ps in st.providers.values_mut() {
            for rs in &mut ps.rules {
                for (_, ls) in &mut rs.limits {
                    if fraction >= 1.0 {
                        ls.caps.retain(|(n, _)| n != HEALTH_CAP);
                    } else if let Some((_, m)) = ls.caps.iter_mut().find(|(n, _)| n == HEALTH_CAP) {
                        m.set_budget(rs.rule.limit * fraction, 0.0);
                    }
                }
            }
        }
    }

    /// The safety margin: `fraction` of each limit, at least `min_units`.
    pub fn set_margin(&self, fraction: f64, min_units: f64) {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        {
            let mut st = self.lock();
            st.config.margin_fraction = fraction;
            st.config.margin_min = min_units;
            let cfg = st.config;
            for ps in st.providers.values_mut() {
                for rs in &mut ps.rules {
                    rs.margin = cfg.margin(rs.rule.limit);
                    for (_, ls) in &mut rs.limits {
                        ls.window.set_budget(rs.rule.limit, rs.margin);
                    }
                }
                ps.pump(now, &cfg, &mut events);
            }
        }
        self.emit(events);
    }

    /// Warn and critical thresholds (percent) of one limit.
    pub fn set_thresholds(&self, provider: &str, limit_id: &str, warn_pct: f64, critical_pct: f64) {
        let mut st = self.lock();
        st.thresholds.entry(provider.to_string()).or_default().insert(limit_id.to_string(), (warn_pct, critical_pct));
        if let Some(ps) = st.providers.get_mut(provider) {
            for rs in ps.rules.iter_mut().filter(|rs| rs.rule.id == limit_id) {
                rs.warn_pct = warn_pct;
                rs.critical_pct = critical_pct;
            }
        }
    }

    /// Every limit in use (and every loaded rule not used yet), sorted by provider, limit and
    /// scope key. Also notices levels that fell as windows reset, and sends those events.
    pub fn snapshot(&self) -> Vec<LimitStatus> {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            for ps in st.providers.values_mut() {
                ps.clear_expired(now, &mut events);
                let banned = ps.ban.is_some();
                let paused_for = ps.ban.or(ps.pause).map(|until| to_std(until - now));
                let ProviderState { id, rules, queue, following, .. } = ps;
                for (i, rs) in rules.iter_mut().enumerate() {
                    let RuleState { rule, warn_pct, critical_pct, limits, .. } = rs;
                    if limits.is_empty() {
                        out.push(LimitStatus {
                            provider: id.clone(),
                            limit_id: rule.id.clone(),
                            kind: rule.kind,
                            scope: rule.scope,
                            scope_key: scope_key(rule.scope, None).to_string(),
                            used: 0.0,
                            limit: rule.limit,
                            percent: 0.0,
                            resets_in: None,
                            queue_len: 0,
                            paused_for,
                            banned,
                            level: Level::Normal,
                            from_exchange: following.contains(&rule.id),
                        });
                    }
                    for (scope, ls) in limits.iter_mut() {
                        update_level(ls, &rule.id, *warn_pct, *critical_pct, id, scope, now, &mut events);
                        let usage = ls.window.usage(now);
                        let queue_len = queue
                            .values()
                            .filter(|w| w.charges.iter().any(|c| c.rule == i && c.scope == *scope))
                            .count();
                        out.push(LimitStatus {
                            provider: id.clone(),
                            limit_id: rule.id.clone(),
                            kind: rule.kind,
                            scope: rule.scope,
                            scope_key: scope.clone(),
                            used: usage.used,
                            limit: usage.limit,
                            percent: usage.percent(),
                            resets_in: usage.resets_in,
                            queue_len,
                            paused_for,
                            banned,
                            level: ls.level,
                            from_exchange: following.contains(&rule.id),
                        });
                    }
                }
            }
        }
        self.emit(events);
        out.sort_by(|a, b| (&a.provider, &a.limit_id, &a.scope_key).cmp(&(&b.provider, &b.limit_id, &b.scope_key)));
        out
    }

    /// Who spent a limit: the top `n` operations, key labels and callers per scope key.
    pub fn breakdown(&self, provider: &str, limit_id: &str, n: usize) -> Vec<LimitBreakdown> {
        let st = self.lock();
        let Some(ps) = st.providers.get(provider) else { return Vec::new() };
        ps.rules
            .iter()
            .filter(|rs| rs.rule.id == limit_id)
            .flat_map(|rs| rs.limits.iter())
            .map(|(scope, ls)| LimitBreakdown {
                provider: provider.to_string(),
                limit_id: limit_id.to_string(),
                scope_key: scope.clone(),
                by_operation: top(&ls.by_op, n),
                by_key: top(&ls.by_key, n),
                by_caller: top(&ls.by_caller, n),
            })
            .collect()
    }

    fn try_acquire(&self, req: &Acquire<'_>, deadline: Option<DateTime<Utc>>) -> Attempt {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        let attempt = {
            let mut st = self.lock();
            let cfg = st.config;
            let State { providers, next_seq, .. } = &mut *st;
            match providers.get_mut(req.provider) {
                Some(ps) => ps.try_acquire(req, now, deadline, &cfg, next_seq, &mut events),
                None => Attempt::NotLoaded,
            }
        };
        self.emit(events);
        attempt
    }

    /// A timer fired for the waiter `key`: re-run the queue, and fail the waiter if its
    /// deadline has come.
    fn on_timer(&self, provider: &str, key: (Priority, u64)) {
        self.with_provider(provider, |ps, now, cfg, events| {
            ps.pump(now, cfg, events);
            let expired = ps.queue.get(&key).and_then(|w| w.deadline).is_some_and(|d| d <= now);
            if expired {
                if let Some(w) = ps.queue.remove(&key) {
                    let (wait, limit) = ps.estimate(&w.charges, key, w.cap.as_ref(), now);
                    let limit = if limit.is_empty() { PAUSE_LIMIT.to_string() } else { limit };
                    w.tx.send_replace(WaitState::Failed(Denial::Deadline { limit, wait }));
                    ps.pump(now, cfg, events);
                }
            }
        });
    }

    async fn wait(
        &self,
        provider: &str,
        key: (Priority, u64),
        mut rx: watch::Receiver<WaitState>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), LimitError> {
        let mut guard = QueueGuard { limiter: self, provider, key, armed: true };
        loop {
            let state = rx.borrow_and_update().clone();
            let wake_at = match state {
                WaitState::Granted => {
                    guard.armed = false;
                    return Ok(());
                }
                WaitState::Failed(denial) => {
                    guard.armed = false;
                    return Err(denial.into_error(provider));
                }
                WaitState::Pending { wake_at } => wake_at,
            };
            let until = match (wake_at, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let closed = match until {
                Some(at) => {
                    let sleep = self.shared.timer.sleep_until(at);
                    tokio::select! {
                        changed = rx.changed() => changed.is_err(),
                        () = sleep => {
                            self.on_timer(provider, key);
                            false
                        }
                    }
                }
                None => rx.changed().await.is_err(),
            };
            if closed {
                // Only a dropped limiter closes the channel without a final answer.
                guard.armed = false;
                return Err(LimitError::Blocked {
                    provider: provider.to_string(),
                    limit: "limiter".into(),
                    remaining: Duration::ZERO,
                });
            }
        }
    }
}

impl RateLimiter for Limiter {
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> LimitFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let deadline =
                req.deadline.map(|d| self.shared.clock.now() + to_delta(d.saturating_duration_since(Instant::now())));
            let mut attempt = self.try_acquire(&req, deadline);
            if matches!(attempt, Attempt::NotLoaded) {
                self.load(req.provider, req.operation).await;
                attempt = self.try_acquire(&req, deadline);
            }
            match attempt {
                Attempt::Granted | Attempt::NotLoaded => Ok(()),
                Attempt::Denied(denial) => Err(denial.into_error(req.provider)),
                Attempt::Queued { key, rx } => self.wait(req.provider, key, rx, deadline).await,
            }
        })
    }

    fn observe(&self, call: Answered<'_>, status: u16, headers: &HeaderMap) {
        self.with_provider(call.provider, |ps, now, cfg, events| {
            match status {
                429 => {
                    let retry_after = retry_after(headers, now).unwrap_or(cfg.default_retry_after);
                    let until = now + to_delta(retry_after);
                    ps.pause = Some(ps.pause.map_or(until, |p| p.max(until)));
                    events.push(LimitEvent::Paused { provider: ps.id.clone(), status, retry_after });
                }
                418 => {
                    let retry_after = retry_after(headers, now).unwrap_or(cfg.default_ban);
                    let until = now + to_delta(retry_after);
                    ps.ban = Some(ps.ban.map_or(until, |b| b.max(until)));
                    events.push(LimitEvent::Banned {
                        provider: ps.id.clone(),
                        scope: BAN_SCOPE.to_string(),
                        retry_after,
                    });
                }
                _ => {}
            }
            ps.sync_headers(headers, call.operation, call.key_label, now, cfg, events);
            ps.pump(now, cfg, events);
        });
    }
}
