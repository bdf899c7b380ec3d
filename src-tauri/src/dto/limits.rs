//! Rate-limit DTOs for the Rate limits page: the limiter's snapshot and its breakdown, with
//! durations in milliseconds.

use std::time::Duration;

use serde::Serialize;
use ts_rs::TS;

use keyward::ratelimit::{LimitBreakdown, LimitStatus};

/// One limit (a provider's rule for one scope key) as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LimitStatusDto {
    pub provider: String,
    pub limit_id: String,
    /// fixed_window, sliding_window, decaying_counter, pool_window or monthly_quota.
    pub kind: String,
    /// ip, account or key.
    pub scope: String,
    /// `ip`, or the key label for account and key scopes (`default` before a key was used).
    pub scope_key: String,
    pub used: f64,
    /// The exchange's limit (the safety margin is not subtracted).
    pub limit: f64,
    pub percent: f64,
    /// Time to the next window, the oldest entry's expiry or the counter's drain.
    #[ts(type = "number | null")]
    pub resets_in_ms: Option<u64>,
    /// Callers waiting on this limit.
    pub queue_len: u32,
    /// How long the exchange holds the provider back (429 pause or 418 ban).
    #[ts(type = "number | null")]
    pub paused_for_ms: Option<u64>,
    pub banned: bool,
    /// The core's level under the limit's thresholds: normal, warn (≥ 80 %) or critical (≥ 95 %).
    pub level: String,
    /// What the gauge shows: "banned", "paused", or the level.
    pub state: String,
    /// The limit and window are what the exchange publishes (Binance exchangeInfo), not the
    /// spec's numbers.
    pub from_exchange: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn status(s: &LimitStatus) -> LimitStatusDto {
    let level = s.level.as_str().to_string();
    LimitStatusDto {
        provider: s.provider.clone(),
        limit_id: s.limit_id.clone(),
        kind: s.kind.as_str().to_string(),
        scope: s.scope.as_str().to_string(),
        scope_key: s.scope_key.clone(),
        used: s.used,
        limit: s.limit,
        percent: s.percent,
        resets_in_ms: s.resets_in.map(millis),
        queue_len: u32::try_from(s.queue_len).unwrap_or(u32::MAX),
        paused_for_ms: s.paused_for.map(millis),
        banned: s.banned,
        state: if s.banned {
            "banned".into()
        } else if s.paused_for.is_some() {
            "paused".into()
        } else {
            level.clone()
        },
        level,
        from_exchange: s.from_exchange,
    }
}

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
