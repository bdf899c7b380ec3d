//! Monitor DTOs for the Status page: provider states, uptime, incidents, checks.

use keyward::ErrorKind;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::charts::ChartError;
use keyward::monitor::{CheckConfig, CheckKind, Incident, MonitorError, NewCheck, StateConfig, Uptime, UptimeWindow};
use keyward::provider::ProviderSpec;

use crate::dto::CommandError;

impl From<MonitorError> for CommandError {
    fn from(e: MonitorError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<ChartError> for CommandError {
    fn from(e: ChartError) -> Self {
        Self::new(ErrorKind::Internal, e.to_string())
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

/// A check as the Status page shows it: the core's view (`keyward checks list --json` prints
/// the same).
pub use keyward::monitor::{CheckRunView, CheckView, ProviderStatusView};

/// What the Status page's check form sends, for a new check and for a change.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckInputDto {
    /// One of the provider's operations.
    pub operation: String,
    /// Seconds between two runs (fractions allowed; the core's minimum is 1 s).
    pub interval_secs: f64,
    /// Seconds before a run counts as failed (the core's minimum is 0.1 s).
    pub timeout_secs: f64,
    /// `null`: any 2xx.
    pub expect_status: Option<u32>,
    #[ts(type = "number | null")]
    pub degraded_above_ms: Option<u64>,
    pub enabled: bool,
}

fn bad(message: String) -> CommandError {
    CommandError::new(ErrorKind::Invalid, message)
}

/// Larger than any sensible interval (about 31 years); keeps the conversion from overflowing.
const MAX_SECS: f64 = 1e9;

fn seconds(field: &str, v: f64) -> Result<Duration, CommandError> {
    if !(0.0..=MAX_SECS).contains(&v) {
        return Err(bad(format!("{field} {v} s is not a number of seconds")));
    }
    // Whole milliseconds, as the core stores them.
    Ok(Duration::from_millis((v * 1000.0).round() as u64))
}

/// The form's values, checked against the provider spec and converted.
struct CheckFields {
    kind: CheckKind,
    interval: Duration,
    timeout: Duration,
    expect_status: Option<u16>,
    degraded_above: Option<Duration>,
}

impl CheckInputDto {
    /// The operation must be one of `spec`'s, and the spec's status operation makes a status
    /// check. Ranges (minimum interval and timeout, HTTP status) are the core's to check.
    fn fields(&self, spec: &ProviderSpec) -> Result<CheckFields, CommandError> {
        Ok(CheckFields {
            kind: keyward::monitor::check_kind_for(spec, &self.operation).map_err(|e| bad(e.to_string()))?,
            interval: seconds("interval", self.interval_secs)?,
            timeout: seconds("timeout", self.timeout_secs)?,
            expect_status: self
                .expect_status
                .map(|s| u16::try_from(s).map_err(|_| bad(format!("expected status {s} is not an HTTP status"))))
                .transpose()?,
            degraded_above: self.degraded_above_ms.map(Duration::from_millis),
        })
    }

    /// A new check of `spec`'s provider (named after its operation).
    pub fn new_check(&self, spec: &ProviderSpec) -> Result<NewCheck, CommandError> {
        let f = self.fields(spec)?;
        Ok(NewCheck {
            kind: f.kind,
            interval: f.interval,
            timeout: f.timeout,
            expect_status: f.expect_status,
            degraded_above: f.degraded_above,
            enabled: self.enabled,
            ..NewCheck::operation(&spec.id, &self.operation)
        })
    }

    /// `check` changed by the form; its id, params and body condition stay. A check named
    /// after its operation follows it when the operation changes.
    pub fn changed(&self, spec: &ProviderSpec, check: CheckConfig) -> Result<CheckConfig, CommandError> {
        let f = self.fields(spec)?;
        let name = if check.name == check.operation { self.operation.clone() } else { check.name.clone() };
        Ok(CheckConfig {
            name,
            kind: f.kind,
            operation: self.operation.clone(),
            interval: f.interval,
            timeout: f.timeout,
            expect_status: f.expect_status,
            degraded_above: f.degraded_above,
            enabled: self.enabled,
            ..check
        })
    }
}

/// The provider's state-machine settings the Status page edits.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MonitorSettingsDto {
    /// Consecutive agreeing results before the state changes.
    pub confirmations: u32,
    /// Share of failed results in the window (0 to 1) that makes the provider degraded.
    pub error_rate: f64,
    /// Slower than the provider's own baseline × this: degraded.
    pub latency_factor: f64,
}

impl From<&StateConfig> for MonitorSettingsDto {
    fn from(c: &StateConfig) -> Self {
        Self { confirmations: c.confirmations, error_rate: c.error_rate, latency_factor: c.latency_factor }
    }
}

impl MonitorSettingsDto {
    /// `base` with the three fields the page edits replaced.
    pub fn apply(&self, base: StateConfig) -> StateConfig {
        StateConfig {
            confirmations: self.confirmations,
            error_rate: self.error_rate,
            latency_factor: self.latency_factor,
            ..base
        }
    }
}

/// The detail of one provider: state, uptime per window, incidents, checks.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderHealthDto {
    /// `null` when the provider is not monitored.
    pub status: Option<ProviderStatusView>,
    /// 24h, 7d, 30d, 90d, 1y.
    pub uptime: Vec<UptimeDto>,
    /// Incidents of the last 90 days, newest first.
    pub incidents: Vec<IncidentDto>,
    pub checks: Vec<CheckView>,
}
