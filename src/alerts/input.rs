//! What the other subsystems tell the alert engine, and how each input maps to a severity and
//! a deduplication key.
//!
//! A dedup key is `family/variant`. The family names one condition of one thing (the health
//! state of provider `binance`, the `REQUEST_WEIGHT` limit of `binance`, the expiry of key
//! `main`); the variant says which state of it this is (`down`, `critical`, `expired`). When
//! one variant of a family fires, the other open variants of the same family are resolved
//! (degraded → down closes the "degraded" alert). Components are escaped so that a `/` or `:`
//! inside a provider id or key label cannot make one family a prefix of another.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// How bad an alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// A provider's health state as the monitor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportedHealth {
    Up,
    Degraded,
    Down,
    Maintenance,
    Unknown,
}

impl ReportedHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportedHealth::Up => "up",
            ReportedHealth::Degraded => "degraded",
            ReportedHealth::Down => "down",
            ReportedHealth::Maintenance => "maintenance",
            ReportedHealth::Unknown => "unknown",
        }
    }
}

/// Where a rate limit stands against its thresholds (default warn 80 %, critical 95 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitLevel {
    /// Back under the warn threshold: resolves the limit's open alerts.
    Normal,
    Warn,
    Critical,
}

impl RateLimitLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitLevel::Normal => "normal",
            RateLimitLevel::Warn => "warn",
            RateLimitLevel::Critical => "critical",
        }
    }
}

/// Something another subsystem observed. The monitor, the rate limiter and the key vault send
/// these; the engine decides (by the rules) whether they raise or resolve alerts.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertInput {
    /// The monitor's (confirmed) state of a provider. `consecutive_checks` counts the
    /// consecutive checks that have observed `to`, so "down for N checks" can be decided here.
    /// Send it after every check while the provider is not up, and once when it is up again.
    /// `to: Up` resolves the provider's state alerts (and raises "recovered" if any were open);
    /// `to: Unknown` neither raises nor resolves.
    ProviderState {
        provider: String,
        from: ReportedHealth,
        to: ReportedHealth,
        cause: Option<String>,
        consecutive_checks: u32,
    },
    /// A latency sample or rolling figure; at or under a rule's threshold it resolves that
    /// rule's latency alert.
    Latency { provider: String, ms: u64 },
    /// The provider's recent error rate in percent (0–100); at or under a rule's threshold it
    /// resolves that rule's alert.
    ErrorRate { provider: String, percent: f64 },
    /// A maintenance window announced by the exchange's status endpoint. Repeats of the same
    /// announcement are deduplicated; the alert expires [`ANNOUNCEMENT_TTL_HOURS`] after the
    /// start (or after it was first seen, when no start is given).
    MaintenanceAnnounced { provider: String, message: String, starts_at: Option<DateTime<Utc>> },
    /// A rate limit crossed a threshold (or, with `Normal`, fell back under it).
    RateLimit { provider: String, limit: String, level: RateLimitLevel, used_pct: f64 },
    /// The exchange banned this IP/account (HTTP 418 or equivalent) until `until`. An input
    /// whose `until` is not in the future lifts the ban; the alert also expires at `until`.
    RateLimitBan { provider: String, until: DateTime<Utc> },
    /// A key's expiry date. The vault sends it for every key with an expiry (daily, and after
    /// edits/rotations); outside every rule's window it resolves the key's expiry alerts.
    KeyExpiring { provider: String, label: String, expires_at: DateTime<Utc> },
    /// A key's rotate-by date, sent like `KeyExpiring`.
    RotationDue { provider: String, label: String, due: DateTime<Utc> },
    /// A risk found by "check permissions" (`Some("withdrawals enabled")`). `None` means the
    /// last check found no risk: it resolves every open risk alert of the key.
    KeyRisk { provider: String, label: String, risk: Option<String> },
    /// The provider is healthy again: resolves its state alerts (like `ProviderState` to up).
    Recovered { provider: String },
    /// A circuit breaker of the provider (`operation: None`) or of one endpoint opened
    /// (`open: true`, until when and why) or closed again (`open: false`, resolving it).
    CircuitBreaker {
        provider: String,
        operation: Option<String>,
        open: bool,
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    /// What another service reports: an incoming webhook or a provider's status page. `origin`
    /// names where it came from (the hook's name, `status feed`), `subject` the thing it is
    /// about (`incident lbkhbwn21v5q`): later reports on the same subject escalate or, with
    /// `resolved`, resolve its alert. `provider` is empty when the report names none. The
    /// alert ends by itself [`ANNOUNCEMENT_TTL_HOURS`] after it was raised.
    Incoming {
        origin: String,
        subject: String,
        provider: String,
        title: String,
        message: String,
        severity: Severity,
        resolved: bool,
    },
    /// A provider's month-to-date `cost` reached `threshold_pct` % of its monthly `budget`
    /// (`month`: `2026-12`). A higher threshold replaces the lower one's alert; a new month
    /// resolves the last month's.
    Budget { provider: String, month: String, threshold_pct: u32, cost: f64, budget: f64, currency: String },
    /// Usage of one endpoint (and key) left its usual pattern in an hour (a
    /// [`crate::usage::anomaly::Anomaly`]): `kind` is the anomaly's kind (`calls_spike`, …).
    /// Repeats for the same kind, endpoint and key are one alert while it is open; it ends by
    /// itself [`ANOMALY_TTL_HOURS`] after it was raised.
    UsageAnomaly { provider: String, kind: String, operation: String, key: Option<String>, message: String },
}

/// How long a usage anomaly stays an open alert.
pub const ANOMALY_TTL_HOURS: i64 = 24;

/// How long an announced maintenance stays an open alert after it starts.
pub const ANNOUNCEMENT_TTL_HOURS: i64 = 12;

/// The firing half of an input: which condition it is and how bad by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signal {
    pub family: String,
    pub variant: String,
    pub severity: Severity,
}

impl Signal {
    pub fn dedup_key(&self) -> String {
        format!("{}/{}", self.family, self.variant)
    }
}

/// Escapes one dedup-key component.
pub(crate) fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F").replace(':', "%3A")
}

pub(crate) fn state_family(provider: &str) -> String {
    format!("state:{}", esc(provider))
}

fn breaker_family(provider: &str, operation: Option<&str>) -> String {
    format!("breaker:{}:{}", esc(provider), esc(operation.unwrap_or("*")))
}

fn incoming_family(origin: &str, subject: &str) -> String {
    format!("incoming:{}:{}", esc(origin), esc(subject))
}

fn risk_prefix(provider: &str, label: &str) -> String {
    format!("key-risk:{}:{}:", esc(provider), esc(label))
}

/// A short stable slug for free text (risk names, announcement messages).
fn slug(text: &str) -> String {
    let digest = Sha256::digest(text.trim().as_bytes());
    hex::encode(&digest[..6])
}

impl AlertInput {
    pub fn provider(&self) -> &str {
        match self {
            AlertInput::ProviderState { provider, .. }
            | AlertInput::Latency { provider, .. }
            | AlertInput::ErrorRate { provider, .. }
            | AlertInput::MaintenanceAnnounced { provider, .. }
            | AlertInput::RateLimit { provider, .. }
            | AlertInput::RateLimitBan { provider, .. }
            | AlertInput::KeyExpiring { provider, .. }
            | AlertInput::RotationDue { provider, .. }
            | AlertInput::KeyRisk { provider, .. }
            | AlertInput::CircuitBreaker { provider, .. }
            | AlertInput::Recovered { provider }
            | AlertInput::Budget { provider, .. }
            | AlertInput::Incoming { provider, .. }
            | AlertInput::UsageAnomaly { provider, .. } => provider,
        }
    }

    /// The condition this input reports and its default severity, or `None` when the input
    /// can only resolve (up, recovered, back under a limit, ban lifted, no risk, unknown).
    pub(crate) fn signal(&self, now: DateTime<Utc>) -> Option<Signal> {
        let sig =
            |family: String, variant: &str, severity| Some(Signal { family, variant: variant.to_string(), severity });
        match self {
            AlertInput::ProviderState { provider, to, .. } => match to {
                ReportedHealth::Down => sig(state_family(provider), "down", Severity::Critical),
                ReportedHealth::Degraded => sig(state_family(provider), "degraded", Severity::Warning),
                ReportedHealth::Maintenance => sig(state_family(provider), "maintenance", Severity::Warning),
                ReportedHealth::Up | ReportedHealth::Unknown => None,
            },
            AlertInput::Latency { provider, .. } => {
                sig(format!("latency:{}", esc(provider)), "high", Severity::Warning)
            }
            AlertInput::ErrorRate { provider, .. } => {
                sig(format!("error-rate:{}", esc(provider)), "high", Severity::Warning)
            }
            AlertInput::MaintenanceAnnounced { provider, message, starts_at } => {
                let which = match starts_at {
                    Some(t) => t.timestamp().to_string(),
                    None => slug(message),
                };
                sig(format!("announced:{}:{which}", esc(provider)), "announced", Severity::Info)
            }
            AlertInput::RateLimit { provider, limit, level, .. } => {
                let family = format!("ratelimit:{}:{}", esc(provider), esc(limit));
                match level {
                    RateLimitLevel::Normal => None,
                    RateLimitLevel::Warn => sig(family, "warn", Severity::Warning),
                    RateLimitLevel::Critical => sig(family, "critical", Severity::Critical),
                }
            }
            AlertInput::RateLimitBan { provider, until } => (*until > now).then(|| Signal {
                family: format!("ban:{}", esc(provider)),
                variant: "banned".into(),
                severity: Severity::Critical,
            }),
            AlertInput::KeyExpiring { provider, label, expires_at } => {
                let family = format!("key-expiry:{}:{}", esc(provider), esc(label));
                if *expires_at <= now {
                    sig(family, "expired", Severity::Critical)
                } else {
                    sig(family, "soon", Severity::Warning)
                }
            }
            AlertInput::RotationDue { provider, label, due } => {
                let family = format!("key-rotation:{}:{}", esc(provider), esc(label));
                if *due <= now {
                    sig(family, "overdue", Severity::Warning)
                } else {
                    sig(family, "due", Severity::Info)
                }
            }
            AlertInput::KeyRisk { provider, label, risk } => risk.as_ref().map(|r| Signal {
                family: format!("{}{}", risk_prefix(provider, label), slug(r)),
                variant: "open".into(),
                severity: Severity::Warning,
            }),
            AlertInput::CircuitBreaker { provider, operation, open, .. } => open.then(|| Signal {
                family: breaker_family(provider, operation.as_deref()),
                variant: "open".into(),
                severity: Severity::Warning,
            }),
            AlertInput::Recovered { .. } => None,
            AlertInput::Budget { provider, month, threshold_pct, .. } => sig(
                format!("budget:{}:{}", esc(provider), esc(month)),
                &threshold_pct.to_string(),
                if *threshold_pct >= 100 { Severity::Critical } else { Severity::Warning },
            ),
            AlertInput::Incoming { resolved: true, .. } => None,
            AlertInput::Incoming { origin, subject, severity, .. } => {
                sig(incoming_family(origin, subject), severity.as_str(), *severity)
            }
            AlertInput::UsageAnomaly { provider, kind, operation, key, .. } => sig(
                format!(
                    "anomaly:{}:{}:{}:{}",
                    esc(kind),
                    esc(provider),
                    esc(operation),
                    key.as_deref().map_or_else(|| "-".to_string(), |k| format!("k{}", esc(k)))
                ),
                "found",
                if kind == "new_endpoint" { Severity::Info } else { Severity::Warning },
            ),
        }
    }

    /// The default severity of the alert this input would raise (before a rule's override).
    pub fn severity(&self, now: DateTime<Utc>) -> Option<Severity> {
        self.signal(now).map(|s| s.severity)
    }

    /// The key under which repeats of this input are deduplicated while an alert is open.
    pub fn dedup_key(&self, now: DateTime<Utc>) -> Option<String> {
        self.signal(now).map(|s| s.dedup_key())
    }

    /// Prefixes of dedup keys this input resolves whatever the rules say, each with the one
    /// key to keep open (the variant it reports itself).
    pub(crate) fn resolves(&self, now: DateTime<Utc>) -> Vec<(String, Option<String>)> {
        let keep = self.signal(now).map(|s| s.dedup_key());
        match self {
            AlertInput::ProviderState { provider, to, .. } => match to {
                ReportedHealth::Unknown => Vec::new(),
                _ => vec![(format!("{}/", state_family(provider)), keep)],
            },
            AlertInput::Recovered { provider } => vec![(format!("{}/", state_family(provider)), None)],
            AlertInput::RateLimit { provider, limit, .. } => {
                vec![(format!("ratelimit:{}:{}/", esc(provider), esc(limit)), keep)]
            }
            AlertInput::RateLimitBan { provider, .. } => vec![(format!("ban:{}/", esc(provider)), keep)],
            AlertInput::KeyExpiring { provider, label, .. } => {
                // Only the other variant (soon → expired); leaving the window is per rule.
                match keep {
                    Some(k) => vec![(format!("key-expiry:{}:{}/", esc(provider), esc(label)), Some(k))],
                    None => Vec::new(),
                }
            }
            AlertInput::RotationDue { provider, label, .. } => match keep {
                Some(k) => vec![(format!("key-rotation:{}:{}/", esc(provider), esc(label)), Some(k))],
                None => Vec::new(),
            },
            AlertInput::KeyRisk { provider, label, risk: None } => vec![(risk_prefix(provider, label), None)],
            AlertInput::CircuitBreaker { provider, operation, .. } => {
                vec![(format!("{}/", breaker_family(provider, operation.as_deref())), keep)]
            }
            AlertInput::Incoming { origin, subject, .. } => {
                vec![(format!("{}/", incoming_family(origin, subject)), keep)]
            }
            // Every other threshold and month of the provider's budget.
            AlertInput::Budget { provider, .. } => vec![(format!("budget:{}:", esc(provider)), keep)],
            AlertInput::KeyRisk { risk: Some(_), .. }
            | AlertInput::Latency { .. }
            | AlertInput::ErrorRate { .. }
            | AlertInput::MaintenanceAnnounced { .. }
            | AlertInput::UsageAnomaly { .. } => Vec::new(),
        }
    }

    /// When an alert raised by this input ends by itself.
    pub(crate) fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            AlertInput::RateLimitBan { until, .. } => Some(*until),
            // Closing resolves it; the margin covers a Keyward that stopped while it was open.
            AlertInput::CircuitBreaker { until: Some(until), .. } => Some(*until + chrono::Duration::minutes(5)),
            AlertInput::MaintenanceAnnounced { starts_at, .. } => {
                let from = starts_at.map_or(now, |s| s.max(now));
                Some(from + chrono::Duration::hours(ANNOUNCEMENT_TTL_HOURS))
            }
            AlertInput::Incoming { .. } => Some(now + chrono::Duration::hours(ANNOUNCEMENT_TTL_HOURS)),
            AlertInput::UsageAnomaly { .. } => Some(now + chrono::Duration::hours(ANOMALY_TTL_HOURS)),
            _ => None,
        }
    }

    /// Whether this input says the provider is healthy again.
    pub(crate) fn is_recovery(&self) -> bool {
        matches!(self, AlertInput::Recovered { .. } | AlertInput::ProviderState { to: ReportedHealth::Up, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).single().expect("valid date")
    }

    #[test]
    fn escaped_components_keep_families_apart() {
        let a = AlertInput::KeyRisk { provider: "binance".into(), label: "a".into(), risk: None };
        let prefix = &a.resolves(t0())[0].0;
        let other = AlertInput::KeyRisk { provider: "binance".into(), label: "a:b".into(), risk: Some("x".into()) };
        let key = other.dedup_key(t0()).expect("fires");
        assert!(!key.starts_with(prefix.as_str()), "{key} must not match {prefix}");
    }

    #[test]
    fn key_expiry_escalates_from_soon_to_expired_at_the_expiry_date() {
        let input = AlertInput::KeyExpiring { provider: "kraken".into(), label: "main".into(), expires_at: t0() };
        assert_eq!(input.severity(t0() - chrono::Duration::days(1)), Some(Severity::Warning));
        assert_eq!(input.severity(t0()), Some(Severity::Critical));
        assert_eq!(input.dedup_key(t0()).as_deref(), Some("key-expiry:kraken:main/expired"));
    }
}
