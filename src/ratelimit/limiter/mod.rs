//! The [`Limiter`]: per-provider rule sets, charged atomically, a priority queue with FIFO
//! order within a priority, and reconciliation with what the exchange reports.
//!
//! All state sits behind one `std::sync::Mutex` that is never held across an `.await`. This
//! file holds the handle, its configuration and the loading of rules; the rest is split by
//! concern:
//!
//! - [`state`]: what is kept per provider (rules, limits per scope key, waiters) and how a
//!   spec's rules are read into it;
//! - [`engine`]: acquire, queue, wait and grant;
//! - [`sync`]: usage headers, 429 pauses and 418 bans from the exchange's answers;
//! - [`report`]: snapshots and breakdowns of live usage.

mod engine;
mod report;
mod state;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use tokio::sync::broadcast;

use self::state::{ProviderState, HEALTH_CAP};
use super::published::{PublishedLimit, PublishedSource, RuleUpdate};
use super::status::LimitEvent;
use super::window::{margin_for, WindowMath};
use crate::clock::Clock;
use crate::pipeline::limit::{Acquire, Answered, LimitError, LimitFuture, RateLimiter};
use crate::provider::{ProviderError, ProviderSpec, Registry};
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

/// A rule one call charges (see [`Limiter::rules_charged`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChargedRule {
    pub rule: crate::provider::RateLimitRule,
    /// Units kept free on this rule.
    pub margin: f64,
    /// What the call adds to it.
    pub amount: f64,
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

    /// The default warn and critical thresholds (percent), for every limit without its own.
    pub fn set_default_thresholds(&self, warn_pct: f64, critical_pct: f64) {
        let mut st = self.lock();
        st.config.warn_pct = warn_pct;
        st.config.critical_pct = critical_pct;
        let State { providers, thresholds, .. } = &mut *st;
        for (name, ps) in providers.iter_mut() {
            let own = thresholds.get(name);
            for rs in ps.rules.iter_mut().filter(|rs| own.map_or(true, |t| !t.contains_key(&rs.rule.id))) {
                rs.warn_pct = warn_pct;
                rs.critical_pct = critical_pct;
            }
        }
    }

    /// The safety margin and default thresholds the user set (see
    /// [`LimitSettings`](crate::ratelimit::LimitSettings)).
    pub fn apply_settings(&self, s: &crate::ratelimit::LimitSettings) {
        let min_units = self.lock().config.margin_min;
        self.set_margin(s.margin_pct / 100.0, min_units);
        self.set_default_thresholds(s.warn_pct, s.critical_pct);
    }

    /// The rules a call charges, with its amount on each and each rule's safety margin (the
    /// shared budget charges the same ones across machines). Empty before the provider's rules
    /// were loaded, which the call's local acquire does first.
    pub fn rules_charged(&self, provider: &str, operation: &str, weight: u32) -> Vec<ChargedRule> {
        let st = self.lock();
        let Some(ps) = st.providers.get(provider) else { return Vec::new() };
        ps.charges_for(operation, None, weight)
            .into_iter()
            .filter_map(|c| {
                ps.rules.get(c.rule).map(|rs| ChargedRule {
                    rule: rs.rule.clone(),
                    margin: rs.margin,
                    amount: c.amount,
                })
            })
            .collect()
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
}

impl RateLimiter for Limiter {
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> LimitFuture<'a, Result<(), LimitError>> {
        Box::pin(self.acquire_in_order(req))
    }

    fn observe(&self, call: Answered<'_>, status: u16, headers: &HeaderMap) {
        self.sync_response(call, status, headers);
    }
}
