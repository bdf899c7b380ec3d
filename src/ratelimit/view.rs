//! The one serialisable view of a limit, shared by the desktop (Rate limits page),
//! `keyward limits --json` and the control API's `GET /v1/limits`.

use serde::{Deserialize, Serialize};

use super::LimitStatus;

/// One limit (a provider's rule for one scope key) as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LimitView {
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
    /// The level under the limit's thresholds: normal, warn (≥ 80 %) or critical (≥ 95 %).
    pub level: String,
    /// What a gauge shows: "banned", "paused", or the level.
    pub state: String,
    /// The limit and window are what the exchange publishes (Binance exchangeInfo), not the
    /// spec's numbers.
    #[serde(default)]
    pub from_exchange: bool,
    /// Charged across machines through the shared budget (Redis): account and key limits, and
    /// IP limits of an egress group.
    #[serde(default)]
    pub shared: bool,
    /// Who spent it since the rules were loaded: top endpoints (operations) and callers
    /// (filled by `keyward limits` and the control API; the desktop asks for the breakdown).
    #[serde(default)]
    pub top_operations: Vec<Spent>,
    #[serde(default)]
    pub top_callers: Vec<Spent>,
}

/// Weight (or requests) one operation or caller spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Spent {
    pub name: String,
    pub amount: f64,
}

impl From<&LimitStatus> for LimitView {
    fn from(s: &LimitStatus) -> Self {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let level = s.level.as_str().to_string();
        Self {
            provider: s.provider.clone(),
            limit_id: s.limit_id.clone(),
            kind: s.kind.as_str().into(),
            scope: s.scope.as_str().into(),
            scope_key: s.scope_key.clone(),
            used: s.used,
            limit: s.limit,
            percent: s.percent,
            resets_in_ms: s.resets_in.map(ms),
            queue_len: u32::try_from(s.queue_len).unwrap_or(u32::MAX),
            paused_for_ms: s.paused_for.map(ms),
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
            shared: false,
            top_operations: Vec::new(),
            top_callers: Vec::new(),
        }
    }
}
