//! Monitor DTOs for the Status page: provider states, uptime, incidents, checks.

use serde::Serialize;
use ts_rs::TS;

use keyward::charts::ChartError;
use keyward::monitor::{
    CheckConfig, CheckResult, Incident, LastCheck, MonitorError, ProviderStatus, Uptime, UptimeWindow,
};

use crate::dto::CommandError;

impl From<MonitorError> for CommandError {
    fn from(e: MonitorError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<ChartError> for CommandError {
    fn from(e: ChartError) -> Self {
        Self::new("chart", e.to_string())
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LastCheckDto {
    pub at: String,
    pub ok: bool,
    #[ts(type = "number")]
    pub latency_ms: u64,
}

impl From<&LastCheck> for LastCheckDto {
    fn from(l: &LastCheck) -> Self {
        Self { at: l.at.to_rfc3339(), ok: l.ok, latency_ms: millis(l.latency) }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UptimeDto {
    /// "24h", "7d", "30d", "90d" or "1y".
    pub window: String,
    /// `null` without check results in the window.
    pub percent: Option<f64>,
    #[ts(type = "number")]
    pub checks: u64,
    #[ts(type = "number")]
    pub failures: u64,
}

pub fn uptime(window: UptimeWindow, u: &Uptime) -> UptimeDto {
    UptimeDto { window: window.as_str().to_string(), percent: u.percent(), checks: u.checks, failures: u.failures }
}

/// One monitored provider on the Status page.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderStatusDto {
    pub provider: String,
    /// The display name from the provider spec (the id when the spec is gone).
    pub name: String,
    /// "up", "degraded", "down", "maintenance" or "unknown".
    pub state: String,
    pub since: Option<String>,
    pub cause: String,
    pub last_check: Option<LastCheckDto>,
    /// Uptime over the last 24 hours, `null` without data.
    pub uptime24h: Option<f64>,
}

pub fn status(s: &ProviderStatus, name: String, day: &Uptime) -> ProviderStatusDto {
    ProviderStatusDto {
        provider: s.provider.clone(),
        name,
        state: s.state.as_str().to_string(),
        since: s.since.map(|t| t.to_rfc3339()),
        cause: s.cause.clone(),
        last_check: s.last_check.as_ref().map(LastCheckDto::from),
        uptime24h: day.percent(),
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IncidentDto {
    #[ts(type = "number")]
    pub id: i64,
    /// The worst state during the incident.
    pub state: String,
    pub started_at: String,
    /// `null` while it lasts.
    pub ended_at: Option<String>,
    #[ts(type = "number")]
    pub duration_secs: i64,
    pub cause: String,
}

pub fn incident(i: &Incident, now: chrono::DateTime<chrono::Utc>) -> IncidentDto {
    IncidentDto {
        id: i.id,
        state: i.state.as_str().to_string(),
        started_at: i.started_at.to_rfc3339(),
        ended_at: i.ended_at.map(|t| t.to_rfc3339()),
        duration_secs: i.duration(now).num_seconds(),
        cause: i.cause.clone(),
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckConfigDto {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    /// "operation" or "status".
    pub kind: String,
    pub operation: String,
    #[ts(type = "number")]
    pub interval_ms: u64,
    #[ts(type = "number")]
    pub timeout_ms: u64,
    pub enabled: bool,
}

impl From<&CheckConfig> for CheckConfigDto {
    fn from(c: &CheckConfig) -> Self {
        Self {
            id: c.id,
            name: c.name.clone(),
            kind: c.kind.as_str().to_string(),
            operation: c.operation.clone(),
            interval_ms: millis(c.interval),
            timeout_ms: millis(c.timeout),
            enabled: c.enabled,
        }
    }
}

/// The detail of one provider: state, uptime per window, incidents, checks.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderHealthDto {
    /// `null` when the provider is not monitored.
    pub status: Option<ProviderStatusDto>,
    /// 24h, 7d, 30d, 90d, 1y.
    pub uptime: Vec<UptimeDto>,
    /// Incidents of the last 90 days, newest first.
    pub incidents: Vec<IncidentDto>,
    pub checks: Vec<CheckConfigDto>,
}

/// The result of one check run from the UI ("Run checks now").
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckRunDto {
    #[ts(type = "number")]
    pub check_id: i64,
    pub operation: String,
    pub ok: bool,
    pub status: Option<u16>,
    #[ts(type = "number")]
    pub latency_ms: u64,
    pub error: Option<String>,
    pub at: String,
}

impl From<&CheckResult> for CheckRunDto {
    fn from(r: &CheckResult) -> Self {
        Self {
            check_id: r.check_id,
            operation: r.operation.clone(),
            ok: r.ok,
            status: r.status,
            latency_ms: millis(r.latency),
            error: r.error.as_ref().map(|e| e.message.clone()),
            at: r.at.to_rfc3339(),
        }
    }
}
