//! Gateway DTOs for the Gateway page: where the gateway listens, the bot tokens, and each bot's
//! live numbers. A token's text crosses IPC only in [`IssuedTokenDto`], once, right after it
//! was created or rotated; it is never logged (the DTO's `Debug` leaves it out).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::gateway::{BotStats, BotToken, IssuedToken, TokenError, TokenScope};
use keyward::vault::ExposeSecret;

use crate::dto::CommandError;

impl From<TokenError> for CommandError {
    fn from(e: TokenError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A bot token as listed (never its text).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayTokenDto {
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

pub fn token(t: &BotToken) -> GatewayTokenDto {
    GatewayTokenDto {
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

/// A token just created or rotated: its text, shown once.
#[derive(Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IssuedTokenDto {
    /// The token text (`kwg_…`). Only here, only now.
    pub secret: String,
    pub token: GatewayTokenDto,
}

impl std::fmt::Debug for IssuedTokenDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokenDto").field("token", &self.token).finish_non_exhaustive()
    }
}

pub fn issued(i: &IssuedToken) -> IssuedTokenDto {
    IssuedTokenDto { secret: i.secret.expose_secret().to_string(), token: token(&i.token) }
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

/// Refusals of one reason (noToken, unknownToken, disabled, wrongProvider, ip, scope,
/// deadline, badRequest).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RefusalCountDto {
    pub reason: String,
    #[ts(type = "number")]
    pub count: u64,
}

/// One bot's live numbers since the gateway started. Refusals without a valid token are
/// counted under the name "(no valid token)".
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BotStatsDto {
    pub name: String,
    /// Requests that reached the exchange.
    #[ts(type = "number")]
    pub requests: u64,
    /// Of those, answered with 2xx.
    #[ts(type = "number")]
    pub answered: u64,
    #[ts(type = "number")]
    pub exchange_errors: u64,
    /// Over the last 10 s.
    pub per_second: f64,
    #[ts(type = "number")]
    pub weight: u64,
    /// Total time spent waiting for budget, and the longest single wait.
    #[ts(type = "number")]
    pub waited_ms: u64,
    #[ts(type = "number")]
    pub max_wait_ms: u64,
    pub refused: Vec<RefusalCountDto>,
    pub last_error: Option<String>,
    pub last_seen: Option<String>,
}

pub fn bot(s: &BotStats) -> BotStatsDto {
    BotStatsDto {
        name: s.name.clone(),
        requests: s.requests,
        answered: s.answered,
        exchange_errors: s.exchange_errors,
        per_second: s.per_second,
        weight: s.weight,
        waited_ms: s.waited_ms,
        max_wait_ms: s.max_wait_ms,
        refused: s
            .refused
            .iter()
            .map(|(reason, count)| RefusalCountDto { reason: reason.clone(), count: *count })
            .collect(),
        last_error: s.last_error.clone(),
        last_seen: s.last_seen.map(|t| t.to_rfc3339()),
    }
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
    pub tokens: Vec<GatewayTokenDto>,
    pub bots: Vec<BotStatsDto>,
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
