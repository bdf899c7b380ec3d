//! What the limiter tells the outside: events on a broadcast channel, and snapshots of every
//! limit for the Rate limits page and `keyward limits`.

use std::time::Duration;

use crate::provider::{RateLimitKind, RateLimitScope};

/// How close a limit is to being spent (thresholds are percentages of the exchange's limit;
/// defaults warn 80 %, critical 95 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum UsageLevel {
    #[default]
    Normal,
    Warn,
    Critical,
}

impl UsageLevel {
    /// The level of `used_pct` under the thresholds `warn_pct` and `critical_pct`.
    pub fn of(used_pct: f64, warn_pct: f64, critical_pct: f64) -> UsageLevel {
        if used_pct >= critical_pct {
            UsageLevel::Critical
        } else if used_pct >= warn_pct {
            UsageLevel::Warn
        } else {
            UsageLevel::Normal
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UsageLevel::Normal => "normal",
            UsageLevel::Warn => "warn",
            UsageLevel::Critical => "critical",
        }
    }
}

impl std::fmt::Display for UsageLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a condition ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClearReason {
    /// A limit's usage fell below its warn threshold.
    BelowThresholds,
    /// The pause a 429 started is over.
    PauseEnded,
    /// The ban a 418 started is over.
    BanEnded,
}

/// Something the UI, the tray or the alerts module may want to tell the user. Sent on the
/// channel from [`Limiter::subscribe`](super::Limiter::subscribe), only when something
/// changes (a threshold event fires once per level change, not per request).
#[derive(Debug, Clone, PartialEq)]
pub enum LimitEvent {
    /// A limit reached a level (Warn or Critical, rising or falling between them).
    Threshold { provider: String, limit: String, scope_key: String, level: UsageLevel, used_pct: f64 },
    /// The exchange answered 429: every limit of the provider waits until `retry_after` has
    /// passed.
    Paused { provider: String, status: u16, retry_after: Duration },
    /// The exchange banned this IP (Binance 418): calls to the provider fail at once until the
    /// ban ends. Always critical.
    Banned { provider: String, scope: String, retry_after: Duration },
    /// A threshold (`limit` and `scope_key` set), a pause or a ban (both `None`) ended.
    Cleared { provider: String, limit: Option<String>, scope_key: Option<String>, reason: ClearReason },
    /// The exchange published its limits; `updates` are the rules whose numbers now differ
    /// from the spec.
    Published { provider: String, updates: Vec<crate::ratelimit::published::RuleUpdate> },
}

impl LimitEvent {
    /// How loudly to tell the user: a ban is critical, a 429 pause a warning.
    pub fn severity(&self) -> UsageLevel {
        match self {
            LimitEvent::Threshold { level, .. } => *level,
            LimitEvent::Paused { .. } => UsageLevel::Warn,
            LimitEvent::Banned { .. } => UsageLevel::Critical,
            LimitEvent::Cleared { .. } | LimitEvent::Published { .. } => UsageLevel::Normal,
        }
    }

    pub fn provider(&self) -> &str {
        match self {
            LimitEvent::Threshold { provider, .. }
            | LimitEvent::Paused { provider, .. }
            | LimitEvent::Banned { provider, .. }
            | LimitEvent::Cleared { provider, .. }
            | LimitEvent::Published { provider, .. } => provider,
        }
    }
}

/// One limit (a rule of a provider, for one scope key) as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitStatus {
    pub provider: String,
    pub limit_id: String,
    pub kind: RateLimitKind,
    pub scope: RateLimitScope,
    /// `ip`, or the key label for account and key scopes (`default` when no key was used).
    pub scope_key: String,
    pub used: f64,
    /// The exchange's limit (the safety margin is not subtracted).
    pub limit: f64,
    /// `used` as a percentage of `limit`.
    pub percent: f64,
    /// Time to the next window, the oldest entry's expiry or the counter's drain.
    pub resets_in: Option<Duration>,
    /// Callers waiting on this limit.
    pub queue_len: usize,
    /// How long the provider stays paused (429) or banned (418).
    pub paused_for: Option<Duration>,
    /// True while a 418 ban is in force.
    pub banned: bool,
    pub level: UsageLevel,
    /// The limit and window are what the exchange published, not the spec's numbers.
    pub from_exchange: bool,
}

/// Who spent a limit: weight charged by operation, by key label and by caller, largest first, since the
/// limiter loaded the provider's rules. (Time-ranged usage lives in the usage recorder.)
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBreakdown {
    pub provider: String,
    pub limit_id: String,
    pub scope_key: String,
    pub by_operation: Vec<(String, f64)>,
    /// By key label; calls made without a key are under `(no key)`.
    pub by_key: Vec<(String, f64)>,
    /// By caller (`ui`, `cli`, `monitor`, a bot).
    pub by_caller: Vec<(String, f64)>,
}
