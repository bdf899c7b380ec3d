//! Usage DTOs for the Usage page: one row per group and their totals.

use serde::Serialize;
use ts_rs::TS;

use keyward::usage::{UsageError, UsageRow};

use crate::dto::CommandError;

impl From<UsageError> for CommandError {
    fn from(e: UsageError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// One group's calls (every attempt), errors (attempts that did not end `ok`), weight, cost
/// and average latency.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageRowDto {
    /// `binance ticker`, a key label or `(no key)`, a caller, a provider id; `total` for totals.
    pub group: String,
    #[ts(type = "number")]
    pub calls: u64,
    #[ts(type = "number")]
    pub errors: u64,
    #[ts(type = "number")]
    pub weight: u64,
    pub cost: f64,
    pub avg_latency_ms: f64,
}

impl From<&UsageRow> for UsageRowDto {
    fn from(r: &UsageRow) -> Self {
        Self {
            group: r.group.clone(),
            calls: r.calls,
            errors: r.errors,
            weight: r.weight,
            cost: r.cost,
            avg_latency_ms: r.avg_latency_ms,
        }
    }
}

/// The Usage table: rows most calls first, and their totals.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageSummaryDto {
    /// `24h`, `7d` or `30d`.
    pub range: String,
    /// `endpoint`, `key`, `caller` or `provider`.
    pub group_by: String,
    /// RFC 3339 UTC.
    pub since: String,
    pub until: String,
    pub rows: Vec<UsageRowDto>,
    pub totals: UsageRowDto,
}
