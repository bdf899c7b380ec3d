//! The one serialisable view of a bot token, shared by the Gateway page and `keyward gateway
//! token …|status --json`. A token's text appears only in [`IssuedTokenView`], once, right after
//! it was created or rotated; it is never logged (the view's `Debug` leaves it out).

use secrecy::ExposeSecret;

use super::{BotToken, IssuedToken, TokenScope};

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A bot token as listed (never its text).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayTokenView {
    pub name: String,
    pub provider: String,
    /// The key it signs with; `null`: public market data only.
    pub key_label: Option<String>,
    /// market, read, trade, withdraw (in that order).
    pub scopes: Vec<String>,
    /// Addresses and CIDRs allowed; empty: this machine (loopback) only.
    pub allow_ips: Vec<String>,
    #[ts(type = "number")]
    pub max_wait_ms: u64,
    /// The most of each limit the bot may use, in percent; `null`: no cap.
    pub max_share_pct: Option<f64>,
    /// The token's first characters, to tell tokens apart.
    pub hint: String,
    /// RFC 3339.
    pub created_at: String,
    pub rotated_at: Option<String>,
    pub disabled: bool,
}

impl From<&BotToken> for GatewayTokenView {
    fn from(t: &BotToken) -> Self {
        Self {
            name: t.name.clone(),
            provider: t.provider.clone(),
            key_label: t.key_label.clone(),
            scopes: TokenScope::ALL.iter().filter(|s| t.scopes.allows(**s)).map(|s| s.as_str().to_string()).collect(),
            allow_ips: t.allow_ips.iter().map(ToString::to_string).collect(),
            max_wait_ms: millis(t.max_wait),
            max_share_pct: t.max_share.map(|f| (f * 1000.0).round() / 10.0),
            hint: t.hint.clone(),
            created_at: t.created_at.to_rfc3339(),
            rotated_at: t.rotated_at.map(|t| t.to_rfc3339()),
            disabled: t.disabled,
        }
    }
}

/// A token just created or rotated: its text, shown once.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IssuedTokenView {
    /// The token text (`kwg_…`). Only here, only now.
    pub secret: String,
    pub token: GatewayTokenView,
}

impl std::fmt::Debug for IssuedTokenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokenView").field("token", &self.token).finish_non_exhaustive()
    }
}

impl From<&IssuedToken> for IssuedTokenView {
    fn from(i: &IssuedToken) -> Self {
        Self { secret: i.secret.expose_secret().to_string(), token: GatewayTokenView::from(&i.token) }
    }
}
