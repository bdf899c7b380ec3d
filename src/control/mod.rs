//! The local control API: how a `keyward` command reaches the Keyward that is already running
//! on the same data directory (the desktop app or `keyward serve`), so that every caller shares
//! that process's live rate-limit budget and its unlocked vault.
//!
//! ```text
//!  keyward call / limits / vault lock|unlock|status
//!     │ reads <data dir>/control.json  {url, token, pid, version}   (0600, removed at stop)
//!     ▼
//!  HTTP on 127.0.0.1:<random port>, `Authorization: Bearer <token>`
//!     ▼
//!  server.rs (axum) → the running process's Pipeline, Limiter, vault file
//! ```
//!
//! The listener binds the loopback interface only, and every request needs the token from the
//! file, which only the user can read. A browser page cannot send the header without a CORS
//! preflight, which this server never approves. Secrets never travel over it, except the vault
//! passphrase of `keyward vault unlock`, which is read into a zeroised buffer and never logged.
//!
//! One data directory has one running Keyward: `service::start` refuses to start a second one
//! while the first answers here (two processes would be two budgets).

mod client;
pub mod limits;
mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pipeline::CallOutcome;

pub use client::{ControlClient, RemoteError};
pub use limits::RemoteLimiter;
pub use server::{serve, ControlServer, MAX_BODY_BYTES};

/// The file, in the data directory, that says where the running Keyward listens.
pub const CONTROL_FILE: &str = "control.json";

/// The contents of [`CONTROL_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlInfo {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub token: String,
    pub pid: u32,
    pub version: String,
}

pub fn control_file(data_dir: &Path) -> PathBuf {
    data_dir.join(CONTROL_FILE)
}

/// What `GET /v1/hello` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    pub pid: u32,
    pub version: String,
    pub data_dir: String,
    /// `ui` for the desktop app, `cli` for `keyward serve`.
    pub actor: String,
}

/// A call as a `keyward` command sends it (`POST /v1/call`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallBody {
    pub provider: String,
    pub operation: String,
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub raw: bool,
    #[serde(default)]
    pub no_cache: bool,
    #[serde(default)]
    pub failover: Vec<String>,
    /// Call through this failover group instead of `provider` (market data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl CallBody {
    /// The pipeline request, with `caller` as the name usage is recorded under.
    pub fn request(self, caller: crate::caller::Caller) -> crate::pipeline::CallRequest {
        crate::pipeline::CallRequest {
            provider: self.provider,
            operation: self.operation,
            params: self.params,
            options: crate::pipeline::CallOptions {
                key: self.key,
                key_version: None,
                environment: self.environment,
                caller,
                raw: self.raw,
                no_cache: self.no_cache,
                failover: self.failover,
                max_wait: None,
            },
        }
    }
}

/// A call's result as the CLI prints it and the Failover page shows it, the same whether the
/// call ran in the command's own process or in the running Keyward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CallReply {
    pub provider: String,
    pub environment: String,
    pub operation: String,
    pub status: u16,
    pub attempts: u32,
    #[ts(type = "number")]
    pub latency_ms: u64,
    pub from_cache: bool,
    /// Set when every provider failed and this is the last good answer: its age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub stale_age_ms: Option<u64>,
    /// Why no fresh answer could be had, with `stale_age_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_because: Option<String>,
    /// Which providers were tried and what each did (with failover or a group).
    #[serde(default)]
    pub route: Vec<crate::pipeline::RouteStep>,
    /// The normalised result (the raw body with `raw`).
    #[ts(type = "unknown")]
    pub result: serde_json::Value,
    /// A one-line human rendering of the normalised result, when there is one.
    pub text: Option<String>,
    #[ts(type = "unknown")]
    pub raw: serde_json::Value,
}

impl CallReply {
    pub fn from_outcome(out: &CallOutcome, raw: bool) -> Self {
        Self {
            provider: out.provider.clone(),
            environment: out.environment.clone(),
            operation: out.operation.clone(),
            status: out.status,
            attempts: out.attempts,
            latency_ms: u64::try_from(out.latency.as_millis()).unwrap_or(u64::MAX),
            from_cache: out.from_cache,
            stale_age_ms: out.stale_age.map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
            stale_because: out.stale_because.clone(),
            route: out.route.clone(),
            result: if raw { out.raw.clone() } else { out.data.to_json() },
            text: if raw { None } else { out.data.to_text() },
            raw: out.raw.clone(),
        }
    }
}

pub use crate::ratelimit::{LimitView, Spent};

/// How many top endpoints and callers a [`LimitView`] lists.
pub const TOP_SPENDERS: usize = 3;

/// Every limit of `provider` (or of every enabled provider) in this process's limiter, loading
/// the rules first so limits show before the first call. Blocking (reads the registry).
pub fn limit_views(
    kw: &crate::Keyward,
    provider: Option<&str>,
) -> Result<Vec<LimitView>, crate::provider::ProviderError> {
    kw.load_limit_rules(provider)?;
    let spent = |list: &[(String, f64)]| {
        list.iter().map(|(name, amount)| Spent { name: name.clone(), amount: *amount }).collect()
    };
    let mut views: Vec<LimitView> = kw
        .limiter()
        .snapshot()
        .iter()
        .filter(|s| provider.map_or(true, |p| s.provider == p))
        .map(|s| {
            let mut view = LimitView::from(s);
            if let Some(b) = kw
                .limiter()
                .breakdown(&s.provider, &s.limit_id, TOP_SPENDERS)
                .into_iter()
                .find(|b| b.scope_key == s.scope_key)
            {
                view.top_operations = spent(&b.by_operation);
                view.top_callers = spent(&b.by_caller);
            }
            view
        })
        .collect();
    kw.mark_shared(&mut views);
    Ok(views)
}

/// `POST /v1/vault/unlock`.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockBody {
    pub passphrase: String,
    pub seconds: u64,
}

impl std::fmt::Debug for UnlockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockBody").field("passphrase", &"[redacted]").field("seconds", &self.seconds).finish()
    }
}

/// The longest unlock a command may ask the running Keyward for.
pub const MAX_UNLOCK: std::time::Duration = crate::MAX_VAULT_UNLOCK;

/// An error as the server sends it: `{"error": {"kind", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(deserialize_with = "crate::error::lenient_kind")]
    pub kind: crate::ErrorKind,
    pub message: String,
}
