//! What the limiter keeps per provider: its rules, the usage of each limit per scope key, the
//! queue's waiters and the headers bound to rules, with the charging and level helpers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderName;
use tokio::sync::watch;

use super::{LimiterConfig, DEFAULT_SCOPE_KEY, NO_KEY};
use crate::pipeline::limit::{LimitError, Priority};
use crate::provider::{ProviderSpec, RateLimitCounts, RateLimitRule, RateLimitScope};
use crate::ratelimit::published::PublishedLimit;
use crate::ratelimit::status::{ClearReason, LimitEvent, UsageLevel};
use crate::ratelimit::window::{Window, WindowMath, FOREVER};

pub(super) struct ProviderState {
    pub(super) id: String,
    /// Rules read from the spec (or found missing); until then only pauses and bans are kept.
    pub(super) loaded: bool,
    pub(super) rules: Vec<RuleState>,
    /// Operation -> indices of the rules that apply to it.
    pub(super) ops: HashMap<String, Vec<usize>>,
    /// Rules that apply to every operation (for operations the spec does not name).
    pub(super) any_op: Vec<usize>,
    pub(super) health_op: String,
    /// Callers held to a part of each limit (gateway bots with a maximum share), by caller.
    pub(super) caller_shares: HashMap<String, f64>,
    pub(super) headers: Vec<HeaderBinding>,
    pub(super) queue: BTreeMap<(Priority, u64), Waiter>,
    pub(super) pause: Option<DateTime<Utc>>,
    pub(super) ban: Option<DateTime<Utc>>,
    /// What the exchange last published about its limits (replaces matching rules' numbers).
    pub(super) published: Vec<PublishedLimit>,
    /// Rules whose numbers come from `published`.
    pub(super) following: Vec<String>,
    /// The operation that reads the published limits (the spec's `published_limits`).
    pub(super) published_op: Option<String>,
    /// The published limits have not been read yet: calls other than `published_op` wait for
    /// them (a call charged on the preset's numbers could overrun a smaller published budget).
    pub(super) awaiting_published: bool,
}

pub(super) struct RuleState {
    pub(super) rule: RateLimitRule,
    pub(super) margin: f64,
    pub(super) warn_pct: f64,
    pub(super) critical_pct: f64,
    /// Per scope key (`ip`, or a key label). Few entries: a linear search beats hashing.
    pub(super) limits: Vec<(String, LimitState)>,
}

/// A part of each limit one kind of caller keeps to: the health checks' share
/// ([`LimiterConfig::monitor_share`]) or a bot's maximum share (a gateway token's
/// `max_share`). Its window is of the same kind as the limit's, over that part of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cap {
    pub(super) name: String,
    pub(super) fraction: f64,
}

/// The cap name of the health checks' share.
pub(super) const HEALTH_CAP: &str = "(health checks)";

pub(super) struct LimitState {
    pub(super) window: Window,
    /// Capped callers' windows, by cap name (few: a linear search).
    pub(super) caps: Vec<(String, Window)>,
    pub(super) level: UsageLevel,
    pub(super) by_op: Vec<(String, f64)>,
    pub(super) by_key: Vec<(String, f64)>,
    pub(super) by_caller: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reports {
    Used,
    Remaining,
}

pub(super) struct HeaderBinding {
    pub(super) name: HeaderName,
    pub(super) rule: usize,
    pub(super) reports: Reports,
    /// Several rules name this header (Bybit's X-Bapi-Limit-Status, KuCoin's pools).
    pub(super) shared: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Charge {
    pub(super) rule: usize,
    pub(super) scope: String,
    pub(super) amount: f64,
}

pub(super) struct Waiter {
    pub(super) operation: String,
    pub(super) key_label: Option<String>,
    pub(super) caller: String,
    pub(super) weight: u32,
    pub(super) cap: Option<Cap>,
    pub(super) charges: Vec<Charge>,
    pub(super) deadline: Option<DateTime<Utc>>,
    /// When a waiter at the head of its limits can go, and the limit it waits for.
    pub(super) ready_at: Option<(DateTime<Utc>, String)>,
    /// Whether later callers on the same limits must wait behind this one. A health check
    /// that waits only for its own share does not hold anyone up.
    pub(super) holds: bool,
    pub(super) tx: watch::Sender<WaitState>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum WaitState {
    Pending { wake_at: Option<DateTime<Utc>> },
    Granted,
    Failed(Denial),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Denial {
    Deadline { limit: String, wait: Duration },
    Blocked { limit: String, remaining: Duration },
}

impl Denial {
    pub(super) fn into_error(self, provider: &str) -> LimitError {
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

pub(super) fn to_std(d: chrono::TimeDelta) -> Duration {
    d.to_std().unwrap_or(Duration::ZERO)
}

pub(super) fn to_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d.min(FOREVER)).unwrap_or(chrono::TimeDelta::MAX)
}

pub(super) fn scope_key(scope: RateLimitScope, key_label: Option<&str>) -> &str {
    match scope {
        RateLimitScope::Ip => "ip",
        RateLimitScope::Account | RateLimitScope::Key => key_label.unwrap_or(DEFAULT_SCOPE_KEY),
    }
}

pub(super) fn amount(rule: &RateLimitRule, weight: u32) -> f64 {
    match rule.counts {
        RateLimitCounts::Weight => f64::from(weight),
        RateLimitCounts::Requests => 1.0,
    }
}

pub(super) fn add_to(tally: &mut Vec<(String, f64)>, name: &str, amount: f64) {
    match tally.iter_mut().find(|(n, _)| n == name) {
        Some((_, total)) => *total += amount,
        None => tally.push((name.to_string(), amount)),
    }
}

impl LimitState {
    pub(super) fn new(rule: &RateLimitRule, margin: f64, cfg: &LimiterConfig) -> Self {
        Self {
            window: Window::for_rule(rule, rule.limit, margin, cfg.sync_grace),
            caps: Vec::new(),
            level: UsageLevel::Normal,
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

    pub(super) fn cap_window(&self, cap: Option<&Cap>) -> Option<&Window> {
        let cap = cap?;
        self.caps.iter().find(|(n, _)| *n == cap.name).map(|(_, w)| w)
    }

    pub(super) fn eta(&self, amount: f64, cap: Option<&Cap>, now: DateTime<Utc>) -> Duration {
        let own = self.window.eta(amount, now);
        match self.cap_window(cap) {
            Some(m) => own.max(m.eta(amount, now)),
            None => own,
        }
    }
}

/// The limit state of `scope` under a rule, created on first use.
pub(super) fn limit_in<'a>(
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
pub(super) fn update_level(
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
    let level = UsageLevel::of(used_pct, warn, critical);
    if level == ls.level {
        return;
    }
    ls.level = level;
    events.push(match level {
        UsageLevel::Normal => LimitEvent::Cleared {
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
pub(super) struct Spend<'a> {
    pub(super) amount: f64,
    pub(super) cap: Option<&'a Cap>,
    pub(super) operation: &'a str,
    pub(super) key_label: Option<&'a str>,
    pub(super) caller: &'a str,
}

pub(super) fn charge_one(
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
    pub(super) fn new(id: &str) -> Self {
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

    pub(super) fn charges_for(&self, operation: &str, key_label: Option<&str>, weight: u32) -> Vec<Charge> {
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
    pub(super) fn apply(
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
            let (m, _, following) = crate::ratelimit::published::apply(spec, &self.published);
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

    pub(super) fn clear_expired(&mut self, now: DateTime<Utc>, events: &mut Vec<LimitEvent>) {
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
}
