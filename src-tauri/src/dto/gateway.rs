//! Gateway DTOs for the Gateway page: where the gateway listens and the new-token form. Tokens
//! and bots' numbers are the core's views (`GatewayTokenView`, `IssuedTokenView`, `BotStats`),
//! shared with the CLI.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::gateway::{BotStats, GatewayTokenView, TokenError};

use crate::dto::CommandError;

impl From<TokenError> for CommandError {
    fn from(e: TokenError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// The "New bot token" form.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NewGatewayTokenDto {
    pub name: String,
    pub provider: String,
    /// `null` or "": no key, market data only.
    #[ts(optional)]
    pub key_label: Option<String>,
    pub scopes: Vec<String>,
    /// Addresses or CIDRs; empty: this machine only.
    #[ts(optional)]
    pub allow_ips: Option<Vec<String>>,
    /// How long a request may wait for budget; `null`: the default.
    #[ts(optional, type = "number")]
    pub max_wait_ms: Option<u64>,
    /// The most of each limit the bot may use, in percent (1–100); `null`: no cap.
    #[ts(optional)]
    pub max_share_pct: Option<f64>,
    /// The user confirmed the withdraw scope.
    #[ts(optional)]
    pub allow_withdraw: Option<bool>,
}

/// Everything the Gateway page shows.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayStatusDto {
    /// `http://127.0.0.1:<port>` where this app's gateway listens; `null` when it does not.
    pub url: Option<String>,
    /// Why it does not listen in this app (with `url` null).
    pub problem: Option<String>,
    /// The base URL for a bot on this machine: the running gateway's (127.0.0.1 when it is
    /// bound to every address), else what the configuration gives after a start.
    pub bot_url: String,
    /// The configured port (used from the next start).
    pub port: u16,
    pub default_port: u16,
    /// The configured bind address (used from the next start); `127.0.0.1` by default.
    pub bind: String,
    pub default_bind: String,
    /// The running gateway serves HTTPS (it is bound beyond loopback).
    pub tls: bool,
    /// SHA-256 of the certificate bots must trust (`AB:CD:…`): the running gateway's, or the
    /// one the next start serves when the bind address is beyond loopback; `null` for the
    /// plain-HTTP loopback default.
    pub fingerprint: Option<String>,
    /// That certificate (PEM, public), for the bot's trust store.
    pub certificate_pem: Option<String>,
    #[ts(type = "number")]
    pub default_max_wait_ms: u64,
    pub tokens: Vec<GatewayTokenView>,
    pub bots: Vec<BotStats>,
}

/// Why the gateway does not listen in this process (shown after "Gateway "): the services problem (e.g. `keyward
/// serve` runs on the same data directory and serves bots itself), else its port.
pub fn problem(services_problem: Option<String>, port: u16) -> String {
    match services_problem {
        Some(p) => format!(
            "not running in this window: {p}. If another Keyward runs on this data directory, bots use its \
             gateway (port {port} unless it was started with another)"
        ),
        None => format!(
            "not listening: port {port} may be taken by another program (or Keyward is still starting). \
             Choose another port below and restart Keyward"
        ),
    }
}
