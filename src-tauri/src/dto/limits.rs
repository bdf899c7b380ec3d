//! Rate-limit DTOs for the Rate limits page: the limiter's snapshot and its breakdown, with
//! durations in milliseconds.

use serde::Serialize;
use ts_rs::TS;

use keyward::ratelimit::LimitBreakdown;

/// One limit as it stands: the core's view, the same shape `keyward limits --json` prints.
pub use keyward::ratelimit::LimitView;

/// Weight (or requests) one operation or one key spent.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SpendDto {
    pub name: String,
    pub amount: f64,
}

/// Who spent a limit, for one scope key, since the app loaded the provider's rules.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LimitBreakdownDto {
    pub provider: String,
    pub limit_id: String,
    pub scope_key: String,
    /// Largest first.
    pub by_operation: Vec<SpendDto>,
    /// By key label, largest first; calls made without a key are under "(no key)".
    pub by_key: Vec<SpendDto>,
    /// By caller (ui, cli, monitor, a bot), largest first.
    pub by_caller: Vec<SpendDto>,
}

fn spends(v: &[(String, f64)]) -> Vec<SpendDto> {
    v.iter().map(|(name, amount)| SpendDto { name: name.clone(), amount: *amount }).collect()
}

pub fn breakdown(b: &LimitBreakdown) -> LimitBreakdownDto {
    LimitBreakdownDto {
        provider: b.provider.clone(),
        limit_id: b.limit_id.clone(),
        scope_key: b.scope_key.clone(),
        by_operation: spends(&b.by_operation),
        by_key: spends(&b.by_key),
        by_caller: spends(&b.by_caller),
    }
}
