//! Alert rules: what is worth an alert, for which providers, through which channels.
//!
//! Rules are rows in `alert_rules` (kind + JSON params), editable from the UI and the CLI.
//! [`default_rules`] are written once, the first time the engine opens a database; deleting
//! them later does not bring them back (there is [`super::Alerts::restore_default_rules`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::input::{AlertInput, RateLimitLevel, ReportedHealth};
use super::Severity;

/// Cooldown of a new rule: the same rule and dedup key notify at most once per this period.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15 * 60);
/// The longest cooldown a rule may have.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a rule watches, with its thresholds.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The provider has been down for at least `checks` consecutive checks.
    ProviderDown { checks: u32 },
    /// The provider has been degraded for at least `checks` consecutive checks.
    ProviderDegraded { checks: u32 },
    /// The provider is up again after a state alert (down, degraded, maintenance).
    Recovered,
    /// Latency above `ms` milliseconds.
    LatencyAbove { ms: u64 },
    /// Error rate above `percent` %.
    ErrorRateAbove { percent: f64 },
    /// Maintenance announced, or the provider is in maintenance now.
    Maintenance,
    /// A rate limit reached its warn threshold.
    RateLimitWarn,
    /// A rate limit reached its critical threshold.
    RateLimitCritical,
    /// The exchange banned this IP or account.
    RateLimitBan,
    /// A key expires within `days` days (or has expired).
    KeyExpiring { days: u32 },
    /// A key's rotate-by date is within `days` days (or has passed).
    RotationDue { days: u32 },
    /// "Check permissions" found a risk on a key.
    KeyRisk,
    /// A circuit breaker stopped calls to a failing provider (or one of its endpoints).
    CircuitOpen,
    /// An incoming webhook or a provider's status page reports something.
    Incoming,
    /// A provider's month-to-date cost crossed one of its budget percentages.
    Budget,
    /// Usage of an endpoint or key left its usual pattern (the hourly anomaly scan).
    UsageAnomaly,
}

impl RuleKind {
    /// The stable name stored in the database and used by the CLI (`provider_down`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::ProviderDown { .. } => "provider_down",
            RuleKind::ProviderDegraded { .. } => "provider_degraded",
            RuleKind::Recovered => "recovered",
            RuleKind::LatencyAbove { .. } => "latency_above",
            RuleKind::ErrorRateAbove { .. } => "error_rate_above",
            RuleKind::Maintenance => "maintenance",
            RuleKind::RateLimitWarn => "rate_limit_warn",
            RuleKind::RateLimitCritical => "rate_limit_critical",
            RuleKind::RateLimitBan => "rate_limit_ban",
            RuleKind::KeyExpiring { .. } => "key_expiring",
            RuleKind::RotationDue { .. } => "rotation_due",
            RuleKind::KeyRisk => "key_risk",
            RuleKind::CircuitOpen => "circuit_open",
            RuleKind::Incoming => "incoming",
            RuleKind::Budget => "budget",
            RuleKind::UsageAnomaly => "usage_anomaly",
        }
    }

    /// Every kind name, for help texts and pickers.
    pub const NAMES: &'static [&'static str] = &[
        "provider_down",
        "provider_degraded",
        "recovered",
        "latency_above",
        "error_rate_above",
        "maintenance",
        "rate_limit_warn",
        "rate_limit_critical",
        "rate_limit_ban",
        "key_expiring",
        "rotation_due",
        "key_risk",
        "circuit_open",
        "incoming",
        "budget",
        "usage_anomaly",
    ];

    /// The threshold parameters as JSON (`{"checks":3}`, `{}`).
    pub fn params(&self) -> Value {
        match self {
            RuleKind::ProviderDown { checks } | RuleKind::ProviderDegraded { checks } => json!({ "checks": checks }),
            RuleKind::LatencyAbove { ms } => json!({ "ms": ms }),
            RuleKind::ErrorRateAbove { percent } => json!({ "percent": percent }),
            RuleKind::KeyExpiring { days } | RuleKind::RotationDue { days } => json!({ "days": days }),
            _ => json!({}),
        }
    }

    /// Builds a kind from its name and parameters (as stored, or as typed in the CLI).
    pub fn from_parts(name: &str, params: &Value) -> Result<RuleKind, String> {
        let uint = |field: &str| -> Result<u64, String> {
            params
                .get(field)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("rule kind \"{name}\" needs a whole-number parameter \"{field}\""))
        };
        let small = |field: &str| -> Result<u32, String> {
            let v = uint(field)?;
            u32::try_from(v).map_err(|_| format!("parameter \"{field}\" = {v} is too large"))
        };
        Ok(match name {
            "provider_down" => RuleKind::ProviderDown { checks: small("checks")? },
            "provider_degraded" => RuleKind::ProviderDegraded { checks: small("checks")? },
            "recovered" => RuleKind::Recovered,
            "latency_above" => RuleKind::LatencyAbove { ms: uint("ms")? },
            "error_rate_above" => RuleKind::ErrorRateAbove {
                percent: params
                    .get("percent")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("rule kind \"{name}\" needs a number parameter \"percent\""))?,
            },
            "maintenance" => RuleKind::Maintenance,
            "rate_limit_warn" => RuleKind::RateLimitWarn,
            "rate_limit_critical" => RuleKind::RateLimitCritical,
            "rate_limit_ban" => RuleKind::RateLimitBan,
            "key_expiring" => RuleKind::KeyExpiring { days: small("days")? },
            "rotation_due" => RuleKind::RotationDue { days: small("days")? },
            "key_risk" => RuleKind::KeyRisk,
            "circuit_open" => RuleKind::CircuitOpen,
            "incoming" => RuleKind::Incoming,
            "budget" => RuleKind::Budget,
            "usage_anomaly" => RuleKind::UsageAnomaly,
            other => {
                return Err(format!("\"{other}\" is not a rule kind; expected one of {}", RuleKind::NAMES.join(", ")))
            }
        })
    }

    /// Checks the thresholds; the message names the parameter and the value.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            RuleKind::ProviderDown { checks } | RuleKind::ProviderDegraded { checks } if *checks == 0 => {
                Err(format!("{}: checks = 0 must be at least 1", self.name()))
            }
            RuleKind::LatencyAbove { ms: 0 } => Err("latency_above: ms = 0 must be at least 1".into()),
            RuleKind::ErrorRateAbove { percent } if !(percent.is_finite() && *percent >= 0.0 && *percent < 100.0) => {
                Err(format!("error_rate_above: percent = {percent} must be from 0 to under 100"))
            }
            RuleKind::KeyExpiring { days } | RuleKind::RotationDue { days } if *days == 0 || *days > 3650 => {
                Err(format!("{}: days = {days} must be from 1 to 3650", self.name()))
            }
            _ => Ok(()),
        }
    }
}

/// Which providers a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderFilter {
    All,
    Only(Vec<String>),
}

impl ProviderFilter {
    pub fn matches(&self, provider: &str) -> bool {
        match self {
            ProviderFilter::All => true,
            ProviderFilter::Only(list) => list.iter().any(|p| p == provider),
        }
    }
}

/// Where a rule's alerts go. Every alert is recorded and shown in the in-app alert centre;
/// these choose the notifications on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChannels {
    /// A desktop (OS) notification.
    pub desktop: bool,
    /// Ids of outgoing webhooks.
    pub webhooks: Vec<i64>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub kind: RuleKind,
    pub enabled: bool,
    pub providers: ProviderFilter,
    pub channels: RuleChannels,
    pub cooldown: Duration,
    /// Replaces the input's default severity.
    pub severity: Option<Severity>,
}

/// A rule to add (or the new content of a rule being edited).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    pub name: String,
    pub kind: RuleKind,
    pub enabled: bool,
    pub providers: ProviderFilter,
    pub channels: RuleChannels,
    pub cooldown: Duration,
    pub severity: Option<Severity>,
}

impl NewRule {
    /// An enabled rule for all providers, desktop notifications, the default cooldown.
    pub fn new(name: impl Into<String>, kind: RuleKind) -> Self {
        Self {
            name: name.into(),
            kind,
            enabled: true,
            providers: ProviderFilter::All,
            channels: RuleChannels { desktop: true, webhooks: Vec::new() },
            cooldown: DEFAULT_COOLDOWN,
            severity: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("rule name \"\" is empty; give the rule a name".into());
        }
        self.kind.validate()?;
        if let ProviderFilter::Only(list) = &self.providers {
            if list.is_empty() {
                return Err(format!("rule \"{}\": the provider list is empty; use all providers instead", self.name));
            }
            if let Some(bad) = list.iter().find(|p| p.trim().is_empty()) {
                return Err(format!("rule \"{}\": provider id {bad:?} is empty", self.name));
            }
        }
        if self.cooldown > MAX_COOLDOWN {
            return Err(format!(
                "rule \"{}\": cooldown {} s is longer than the maximum {} s",
                self.name,
                self.cooldown.as_secs(),
                MAX_COOLDOWN.as_secs()
            ));
        }
        Ok(())
    }
}

impl From<Rule> for NewRule {
    fn from(r: Rule) -> Self {
        Self {
            name: r.name,
            kind: r.kind,
            enabled: r.enabled,
            providers: r.providers,
            channels: r.channels,
            cooldown: r.cooldown,
            severity: r.severity,
        }
    }
}

/// The rules a new database starts with.
pub fn default_rules() -> Vec<NewRule> {
    vec![
        NewRule::new("Provider down", RuleKind::ProviderDown { checks: 3 }),
        NewRule::new("Provider degraded", RuleKind::ProviderDegraded { checks: 3 }),
        NewRule::new("Provider recovered", RuleKind::Recovered),
        NewRule::new("High latency", RuleKind::LatencyAbove { ms: 2000 }),
        NewRule::new("High error rate", RuleKind::ErrorRateAbove { percent: 10.0 }),
        NewRule::new("Maintenance", RuleKind::Maintenance),
        NewRule::new("Rate limit warning", RuleKind::RateLimitWarn),
        NewRule::new("Rate limit critical", RuleKind::RateLimitCritical),
        NewRule::new("Rate limit ban", RuleKind::RateLimitBan),
        NewRule::new("Key expiring", RuleKind::KeyExpiring { days: 14 }),
        NewRule::new("Key rotation due", RuleKind::RotationDue { days: 7 }),
        NewRule::new("Key risk", RuleKind::KeyRisk),
        NewRule::new("Circuit breaker open", RuleKind::CircuitOpen),
        NewRule::new("Incoming reports", RuleKind::Incoming),
        NewRule::new("Monthly budget", RuleKind::Budget),
        NewRule::new("Usage anomaly", RuleKind::UsageAnomaly),
    ]
}

/// What one rule makes of one input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Raise an alert (subject to dedup, cooldown and quiet hours).
    Fire,
    /// The condition is over for this rule: resolve its open alerts under this key prefix.
    Resolve { prefix: String },
    /// Not this rule's business, or below its threshold without anything to resolve.
    Ignore,
}

/// Decides what `kind` makes of `input`. `recovered_something` says whether this input
/// resolved an open provider-state alert (the "recovered" rule fires only then).
pub(crate) fn judge(kind: &RuleKind, input: &AlertInput, now: DateTime<Utc>, recovered_something: bool) -> Verdict {
    use super::input::esc;
    match (kind, input) {
        (
            RuleKind::ProviderDown { checks },
            AlertInput::ProviderState { to: ReportedHealth::Down, consecutive_checks, .. },
        )
        | (
            RuleKind::ProviderDegraded { checks },
            AlertInput::ProviderState { to: ReportedHealth::Degraded, consecutive_checks, .. },
        ) => {
            if consecutive_checks >= checks {
                Verdict::Fire
            } else {
                Verdict::Ignore
            }
        }
        (RuleKind::Maintenance, AlertInput::ProviderState { to: ReportedHealth::Maintenance, .. })
        | (RuleKind::Maintenance, AlertInput::MaintenanceAnnounced { .. }) => Verdict::Fire,
        (RuleKind::Recovered, i) if i.is_recovery() && recovered_something => Verdict::Fire,
        (RuleKind::LatencyAbove { ms: limit }, AlertInput::Latency { provider, ms }) => {
            if ms > limit {
                Verdict::Fire
            } else {
                Verdict::Resolve { prefix: format!("latency:{}/", esc(provider)) }
            }
        }
        (RuleKind::ErrorRateAbove { percent: limit }, AlertInput::ErrorRate { provider, percent }) => {
            if percent > limit {
                Verdict::Fire
            } else {
                Verdict::Resolve { prefix: format!("error-rate:{}/", esc(provider)) }
            }
        }
        (RuleKind::RateLimitWarn, AlertInput::RateLimit { level: RateLimitLevel::Warn, .. })
        | (RuleKind::RateLimitCritical, AlertInput::RateLimit { level: RateLimitLevel::Critical, .. }) => Verdict::Fire,
        (RuleKind::RateLimitBan, AlertInput::RateLimitBan { until, .. }) if *until > now => Verdict::Fire,
        (RuleKind::KeyExpiring { days }, AlertInput::KeyExpiring { provider, label, expires_at }) => {
            if *expires_at - now <= chrono::Duration::days(i64::from(*days)) {
                Verdict::Fire
            } else {
                Verdict::Resolve { prefix: format!("key-expiry:{}:{}/", esc(provider), esc(label)) }
            }
        }
        (RuleKind::RotationDue { days }, AlertInput::RotationDue { provider, label, due }) => {
            if *due - now <= chrono::Duration::days(i64::from(*days)) {
                Verdict::Fire
            } else {
                Verdict::Resolve { prefix: format!("key-rotation:{}:{}/", esc(provider), esc(label)) }
            }
        }
        (RuleKind::KeyRisk, AlertInput::KeyRisk { risk: Some(_), .. }) => Verdict::Fire,
        (RuleKind::CircuitOpen, AlertInput::CircuitBreaker { open: true, .. }) => Verdict::Fire,
        (RuleKind::Incoming, AlertInput::Incoming { resolved: false, .. }) => Verdict::Fire,
        (RuleKind::Budget, AlertInput::Budget { .. }) => Verdict::Fire,
        (RuleKind::UsageAnomaly, AlertInput::UsageAnomaly { .. }) => Verdict::Fire,
        _ => Verdict::Ignore,
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn fmt_span(d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    match mins {
        0 => "under a minute".to_string(),
        1..=119 => format!("{mins} min"),
        120..=2879 => format!("{} h {} min", mins / 60, mins % 60),
        _ => format!("{} days", mins / 1440),
    }
}

/// Title and body of the alert `kind` raises for `input`. `down_since` is when the resolved
/// state alert began (for "recovered").
pub(crate) fn describe(
    kind: &RuleKind,
    input: &AlertInput,
    now: DateTime<Utc>,
    down_since: Option<(DateTime<Utc>, String)>,
) -> (String, String) {
    match input {
        AlertInput::ProviderState { provider, from, to, cause, consecutive_checks } => {
            let title = match to {
                ReportedHealth::Maintenance => format!("{provider} is in maintenance"),
                ReportedHealth::Up => format!("{provider} recovered"),
                other => format!("{provider} is {}", other.as_str()),
            };
            if *to == ReportedHealth::Up {
                return (title, recovered_body(provider, now, down_since));
            }
            let mut body = format!(
                "{provider} has been {} for {consecutive_checks} consecutive check{} (was {}).",
                to.as_str(),
                if *consecutive_checks == 1 { "" } else { "s" },
                from.as_str()
            );
            if let Some(c) = cause.as_deref().filter(|c| !c.trim().is_empty()) {
                body.push_str(&format!(" Cause: {c}"));
            }
            (title, body)
        }
        AlertInput::Recovered { provider } => (format!("{provider} recovered"), recovered_body(provider, now, down_since)),
        AlertInput::Latency { provider, ms } => {
            let limit = match kind {
                RuleKind::LatencyAbove { ms } => *ms,
                _ => 0,
            };
            (format!("{provider} latency {ms} ms"), format!("{provider} answered in {ms} ms, above the {limit} ms threshold."))
        }
        AlertInput::ErrorRate { provider, percent } => {
            let limit = match kind {
                RuleKind::ErrorRateAbove { percent } => *percent,
                _ => 0.0,
            };
            (
                format!("{provider} error rate {percent:.1} %"),
                format!("{percent:.1} % of recent calls to {provider} failed, above the {limit} % threshold."),
            )
        }
        AlertInput::MaintenanceAnnounced { provider, message, starts_at } => {
            let body = match starts_at {
                Some(t) => format!("{provider} announced maintenance starting {}. {message}", fmt_time(*t)),
                None => format!("{provider} announced maintenance. {message}"),
            };
            (format!("{provider} announced maintenance"), body.trim_end().to_string())
        }
        AlertInput::RateLimit { provider, limit, level, used_pct } => (
            format!("{provider} {limit} at {used_pct:.0} %"),
            format!(
                "{provider} rate limit {limit} is at {used_pct:.1} % of its budget ({} threshold). Keyward is throttling callers.",
                match level {
                    RateLimitLevel::Critical => "critical",
                    RateLimitLevel::Warn => "warning",
                    RateLimitLevel::Normal => "normal",
                }
            ),
        ),
        AlertInput::RateLimitBan { provider, until } => (
            format!("{provider} banned this IP"),
            format!(
                "{provider} refused calls (IP or account ban) until {} ({} from now). Keyward stops every call to it until then.",
                fmt_time(*until),
                fmt_span(*until - now)
            ),
        ),
        AlertInput::KeyExpiring { provider, label, expires_at } => {
            if *expires_at <= now {
                (
                    format!("Key \"{label}\" for {provider} has expired"),
                    format!("Key \"{label}\" for {provider} expired {}; it is no longer used. Rotate it or add a new key.", fmt_time(*expires_at)),
                )
            } else {
                (
                    format!("Key \"{label}\" for {provider} expires in {}", fmt_span(*expires_at - now)),
                    format!("Key \"{label}\" for {provider} expires {}. Rotate it before then.", fmt_time(*expires_at)),
                )
            }
        }
        AlertInput::RotationDue { provider, label, due } => {
            if *due <= now {
                (
                    format!("Key \"{label}\" for {provider} is overdue for rotation"),
                    format!("Key \"{label}\" for {provider} was due for rotation {}.", fmt_time(*due)),
                )
            } else {
                (
                    format!("Key \"{label}\" for {provider} is due for rotation in {}", fmt_span(*due - now)),
                    format!("Key \"{label}\" for {provider} should be rotated by {}.", fmt_time(*due)),
                )
            }
        }
        AlertInput::KeyRisk { provider, label, risk } => {
            let risk = risk.as_deref().unwrap_or("risk");
            (
                format!("Key \"{label}\" for {provider}: {risk}"),
                format!("Checking the permissions of key \"{label}\" for {provider} found a risk: {risk}."),
            )
        }
        AlertInput::CircuitBreaker { provider, operation, open, until, reason } => {
            let what = match operation {
                Some(op) => format!("{provider} {op}"),
                None => provider.clone(),
            };
            if *open {
                let retry = until.map(|u| format!(" It tries again at {} ({} from now).", fmt_time(u), fmt_span(u - now)));
                (
                    format!("Calls to {what} stopped: circuit breaker open"),
                    format!(
                        "Keyward stopped calling {what} after {reason}. Calls fail over where a failover is set, or are refused at once.{}",
                        retry.unwrap_or_default()
                    ),
                )
            } else {
                (format!("Calls to {what} resumed"), format!("The circuit breaker of {what} closed: its probe calls succeeded."))
            }
        }
        AlertInput::Budget { provider, month, threshold_pct, cost, budget, currency } => (
            format!("{provider} used {threshold_pct} % of its monthly budget"),
            format!(
                "{provider} has cost {cost:.2} {currency} so far in {month}, {:.0} % of its {budget:.2} {currency} budget. \
                 The Usage page shows where it went and the forecast to the month's end.",
                if *budget > 0.0 { cost / budget * 100.0 } else { 0.0 }
            ),
        ),
        AlertInput::Incoming { origin, title, message, .. } => {
            let body = if message.trim().is_empty() {
                format!("Reported by {origin}.")
            } else {
                format!("{} (reported by {origin})", message.trim())
            };
            (title.clone(), body)
        }
        AlertInput::UsageAnomaly { provider, kind, operation, message, .. } => {
            let what = crate::usage::anomaly::AnomalyKind::parse(kind).map_or("Usage anomaly", |k| k.title());
            (format!("{what}: {provider} {operation}"), message.clone())
        }
    }
}

fn recovered_body(provider: &str, now: DateTime<Utc>, down_since: Option<(DateTime<Utc>, String)>) -> String {
    match down_since {
        Some((since, what)) => {
            format!("{provider} is up again after {what} since {} ({}).", fmt_time(since), fmt_span(now - since))
        }
        None => format!("{provider} is up again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_stored_form() {
        for rule in default_rules() {
            let back = RuleKind::from_parts(rule.kind.name(), &rule.kind.params()).expect("parses");
            assert_eq!(back, rule.kind);
            assert!(RuleKind::NAMES.contains(&rule.kind.name()));
        }
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_list_of_kinds() {
        let err = RuleKind::from_parts("provider_on_fire", &json!({})).expect_err("unknown");
        assert!(err.contains("\"provider_on_fire\"") && err.contains("provider_down"), "{err}");
    }

    #[test]
    fn thresholds_are_validated_with_the_value_in_the_message() {
        let err = RuleKind::ProviderDown { checks: 0 }.validate().expect_err("zero checks");
        assert!(err.contains("checks = 0"), "{err}");
        let err = RuleKind::ErrorRateAbove { percent: 140.0 }.validate().expect_err("over 100");
        assert!(err.contains("140"), "{err}");
    }
}
