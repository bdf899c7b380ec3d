//! The one serialisable view of alerts, rules, webhooks and test deliveries, shared by the
//! Alerts page and `keyward alerts … --json`. A webhook's secret never appears (only whether it
//! has one); Slack and Discord URLs are shown without their path, which is itself a credential.

use super::{Alert, DeliveryRecord, DeliveryResult, ProviderFilter, Rule, RuleKind, Webhook};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AlertView {
    #[ts(type = "number")]
    pub id: i64,
    pub ts: String,
    /// "info", "warning" or "critical".
    pub severity: String,
    pub title: String,
    pub body: String,
    pub provider: String,
    /// "active", "acknowledged" or "resolved".
    pub state: String,
    /// The rule kind that raised it (`provider_down`).
    pub rule_kind: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Why notifications were held back: "cooldown" or "quiet_hours".
    pub suppressed: Option<String>,
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id,
            ts: a.ts.to_rfc3339(),
            severity: a.severity.as_str().to_string(),
            title: a.title.clone(),
            body: a.body.clone(),
            provider: a.provider.clone(),
            state: a.state.as_str().to_string(),
            rule_kind: a.rule_kind.clone(),
            acknowledged_at: a.acknowledged_at.map(|t| t.to_rfc3339()),
            resolved_at: a.resolved_at.map(|t| t.to_rfc3339()),
            suppressed: a.suppressed.map(|s| s.as_str().to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RuleView {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    /// `provider_down`, `latency_above`, …
    pub kind: String,
    /// What fires it, in words ("down for 3 consecutive checks").
    pub condition: String,
    pub enabled: bool,
    /// Empty: every provider.
    pub providers: Vec<String>,
    pub desktop: bool,
    #[ts(type = "number[]")]
    pub webhooks: Vec<i64>,
    #[ts(type = "number")]
    pub cooldown_secs: u64,
    /// Overrides the input's severity.
    pub severity: Option<String>,
}

fn condition(kind: &RuleKind) -> String {
    match kind {
        RuleKind::ProviderDown { checks } => format!("down for {checks} consecutive checks"),
        RuleKind::ProviderDegraded { checks } => format!("degraded for {checks} consecutive checks"),
        RuleKind::Recovered => "up again after an outage".into(),
        RuleKind::LatencyAbove { ms } => format!("latency above {ms} ms"),
        RuleKind::ErrorRateAbove { percent } => format!("error rate above {percent} %"),
        RuleKind::Maintenance => "maintenance announced or under way".into(),
        RuleKind::RateLimitWarn => "a rate limit reaches its warning level".into(),
        RuleKind::RateLimitCritical => "a rate limit reaches its critical level".into(),
        RuleKind::RateLimitBan => "the exchange bans this IP or account".into(),
        RuleKind::KeyExpiring { days } => format!("a key expires within {days} days"),
        RuleKind::RotationDue { days } => format!("a key is due for rotation within {days} days"),
        RuleKind::KeyRisk => "a permission check finds a risk on a key".into(),
        RuleKind::CircuitOpen => "a circuit breaker stops calls to a failing provider or endpoint".into(),
        RuleKind::Incoming => "an incoming webhook or a status page reports something".into(),
        RuleKind::Budget => "a provider's month-to-date cost crosses a budget percentage".into(),
        RuleKind::UsageAnomaly => {
            "usage leaves its usual pattern: a calls spike, an error burst, a new endpoint, trading at an unusual hour or a jump in weight".into()
        }
    }
}

impl From<&Rule> for RuleView {
    fn from(r: &Rule) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            kind: r.kind.name().to_string(),
            condition: condition(&r.kind),
            enabled: r.enabled,
            providers: match &r.providers {
                ProviderFilter::All => Vec::new(),
                ProviderFilter::Only(list) => list.clone(),
            },
            desktop: r.channels.desktop,
            webhooks: r.channels.webhooks.clone(),
            cooldown_secs: r.cooldown.as_secs(),
            severity: r.severity.map(|s| s.as_str().to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeliveryView {
    pub ts: String,
    /// "delivered", "retrying" or "failed".
    pub status: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// "test" for a test delivery.
    pub event: String,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        Self {
            ts: d.ts.to_rfc3339(),
            status: d.status.as_str().to_string(),
            http_status: d.http_status,
            error: d.error.clone(),
            event: d.event.as_str().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WebhookView {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    /// For display: scheme and host only for Slack and Discord.
    pub url: String,
    /// "json", "slack" or "discord".
    pub format: String,
    pub has_secret: bool,
    pub enabled: bool,
    pub created_at: String,
    /// The newest delivery attempt, if any.
    pub last_delivery: Option<DeliveryView>,
}

impl WebhookView {
    /// The webhook with its newest delivery attempt, if any.
    pub fn new(w: &Webhook, last: Option<&DeliveryRecord>) -> Self {
        WebhookView {
            id: w.id,
            name: w.name.clone(),
            url: w.display_url(),
            format: w.format.as_str().to_string(),
            has_secret: w.secret_ref.is_some(),
            enabled: w.enabled,
            created_at: w.created_at.to_rfc3339(),
            last_delivery: last.map(DeliveryView::from),
        }
    }
}

/// How a test delivery went.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeliveryResultView {
    #[ts(type = "number")]
    pub webhook_id: i64,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

impl From<&DeliveryResult> for DeliveryResultView {
    fn from(r: &DeliveryResult) -> Self {
        Self {
            webhook_id: r.webhook_id,
            delivered: r.delivered,
            http_status: r.http_status,
            error: r.error.clone(),
            elapsed_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}
