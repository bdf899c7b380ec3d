//! The one serialisable view of a health check, shared by the Status page, `keyward checks
//! list|set --json` and anything else that shows a check.

use serde::{Deserialize, Serialize};

use super::CheckConfig;

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
