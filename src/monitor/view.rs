//! The one serialisable view of a health check, a provider's state and a check run, shared by
//! the Status page, `keyward status|checks … --json` and anything else that shows them.

use serde::{Deserialize, Serialize};

use super::{CheckConfig, CheckResult, LastCheck, ProviderSnapshot, Uptime};

/// A health check as every front end shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckView {
    #[ts(type = "number")]
    pub id: i64,
    pub provider: String,
    pub name: String,
    /// "operation" or "status".
    pub kind: String,
    pub operation: String,
    #[ts(type = "number")]
    pub interval_ms: u64,
    #[ts(type = "number")]
    pub timeout_ms: u64,
    /// `null`: any 2xx counts as healthy.
    pub expect_status: Option<u16>,
    /// Slower than this counts as degraded; `null`: only the provider's own baseline decides.
    #[ts(type = "number | null")]
    pub degraded_above_ms: Option<u64>,
    pub enabled: bool,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&CheckConfig> for CheckView {
    fn from(c: &CheckConfig) -> Self {
        Self {
            id: c.id,
            provider: c.provider.clone(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_string(),
            operation: c.operation.clone(),
            interval_ms: millis(c.interval),
            timeout_ms: millis(c.timeout),
            expect_status: c.expect_status,
            degraded_above_ms: c.degraded_above.map(millis),
            enabled: c.enabled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LastCheckView {
    /// RFC 3339.
    pub at: String,
    pub ok: bool,
    #[ts(type = "number")]
    pub latency_ms: u64,
}

impl From<&LastCheck> for LastCheckView {
    fn from(l: &LastCheck) -> Self {
        Self { at: l.at.to_rfc3339(), ok: l.ok, latency_ms: millis(l.latency) }
    }
}

/// One monitored provider as the Status page and `keyward status` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderStatusView {
    pub provider: String,
    /// The display name from the provider spec (the id when the spec is gone).
    pub name: String,
    /// "up", "degraded", "down", "maintenance" or "unknown".
    pub state: String,
    pub since: Option<String>,
    pub cause: String,
    pub last_check: Option<LastCheckView>,
    /// Uptime over the last 24 hours, `null` without data.
    pub uptime24h: Option<f64>,
    /// The provider's circuit breakers that are not closed (its own, and its endpoints').
    pub breakers: Vec<crate::pipeline::BreakerView>,
}

impl ProviderStatusView {
    /// `s` with the provider's display `name` and its last 24 h uptime `day`.
    pub fn new(s: &ProviderSnapshot, name: String, day: &Uptime) -> Self {
        Self {
            provider: s.provider.clone(),
            name,
            state: s.state.as_str().to_string(),
            since: s.since.map(|t| t.to_rfc3339()),
            cause: s.cause.clone(),
            last_check: s.last_check.as_ref().map(LastCheckView::from),
            uptime24h: day.percent(),
            breakers: Vec::new(),
        }
    }
}

/// The result of one check run ("Run checks now", `keyward checks run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckRunView {
    #[ts(type = "number")]
    pub check_id: i64,
    pub operation: String,
    pub ok: bool,
    pub status: Option<u16>,
    #[ts(type = "number")]
    pub latency_ms: u64,
    pub error: Option<String>,
    /// What a status operation reported ("maintenance", with the exchange's message).
    pub system_status: Option<String>,
    /// RFC 3339.
    pub at: String,
}

impl From<&CheckResult> for CheckRunView {
    fn from(r: &CheckResult) -> Self {
        Self {
            check_id: r.check_id,
            operation: r.operation.clone(),
            ok: r.ok,
            status: r.status,
            latency_ms: millis(r.latency),
            error: r.error.as_ref().map(|e| e.message.clone()),
            system_status: r.system.as_ref().map(|(state, msg)| match msg {
                Some(m) if !m.is_empty() => format!("{}: {m}", state.as_str()),
                _ => state.as_str().to_string(),
            }),
            at: r.at.to_rfc3339(),
        }
    }
}
