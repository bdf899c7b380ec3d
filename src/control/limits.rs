//! Rate limits across processes: a `keyward` command's pipeline acquires its weight from the
//! running Keyward's limiter (`POST /v1/limits/acquire`) and reports the exchange's answer
//! back (`POST /v1/limits/observe`), so `keyward key check` or `checks run` spend the same live
//! budget as the app, without any secret leaving the command's process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::pipeline::limit::{Acquire, Answered, LimitError, LimitFuture, Priority, RateLimiter};

/// `POST /v1/limits/acquire`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcquireBody {
    pub provider: String,
    pub operation: String,
    pub key_label: Option<String>,
    /// The command's caller name (`cli`).
    #[serde(default = "cli_caller")]
    pub caller: String,
    pub weight: u32,
    /// `cancel_order`, `order`, `account` or `market_data`.
    pub priority: String,
    /// Give up rather than wait longer than this.
    pub max_wait_ms: Option<u64>,
}

/// A refusal of `/v1/limits/acquire`, precise enough to rebuild the [`LimitError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRefusal {
    /// `deadline` or `blocked`.
    pub reason: String,
    pub provider: String,
    pub limit: String,
    pub wait_ms: u64,
}

impl LimitRefusal {
    pub fn from_error(e: &LimitError) -> Self {
        let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match e {
            LimitError::WouldExceedDeadline { provider, limit, wait } => {
                Self { reason: "deadline".into(), provider: provider.clone(), limit: limit.clone(), wait_ms: ms(wait) }
            }
            LimitError::Blocked { provider, limit, remaining } => Self {
                reason: "blocked".into(),
                provider: provider.clone(),
                limit: limit.clone(),
                wait_ms: ms(remaining),
            },
        }
    }

    pub fn into_error(self) -> LimitError {
        let d = Duration::from_millis(self.wait_ms);
        match self.reason.as_str() {
            "blocked" => LimitError::Blocked { provider: self.provider, limit: self.limit, remaining: d },
            _ => LimitError::WouldExceedDeadline { provider: self.provider, limit: self.limit, wait: d },
        }
    }
}

/// `POST /v1/limits/observe`: what the exchange answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveBody {
    pub provider: String,
    pub operation: String,
    pub key_label: Option<String>,
    pub status: u16,
    /// Response headers (name, value); cookies are left out.
    pub headers: Vec<(String, String)>,
}

fn cli_caller() -> String {
    "cli".to_string()
}

pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::CancelOrder => "cancel_order",
        Priority::Order => "order",
        Priority::Account => "account",
        Priority::MarketData => "market_data",
    }
}

pub fn parse_priority(s: &str) -> Priority {
    match s {
        "cancel_order" => Priority::CancelOrder,
        "order" => Priority::Order,
        "account" => Priority::Account,
        _ => Priority::MarketData,
    }
}

/// Charges the running Keyward's limiter over the control API. When it stops answering, calls
/// fall back to `fallback` (this process's own limiter) rather than fail.
pub struct RemoteLimiter {
    client: super::ControlClient,
    fallback: Arc<dyn RateLimiter>,
    /// Reports still on their way (see [`RemoteLimiter::settle`]).
    pending: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl RemoteLimiter {
    pub fn new(client: super::ControlClient, fallback: Arc<dyn RateLimiter>) -> Self {
        Self { client, fallback, pending: std::sync::Mutex::new(Vec::new()) }
    }

    /// Waits until every exchange answer has been reported to the running Keyward (a command
    /// calls this before it exits, so a 429 or a ban it met is not lost).
    pub async fn settle(&self) {
        let handles: Vec<_> = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.await;
        }
    }
}

impl RateLimiter for RemoteLimiter {
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> LimitFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let body = AcquireBody {
                provider: req.provider.to_string(),
                operation: req.operation.to_string(),
                key_label: req.key_label.map(str::to_string),
                caller: req.caller.to_string(),
                weight: req.weight,
                priority: priority_name(req.priority).to_string(),
                max_wait_ms: req.deadline.map(|d| {
                    u64::try_from(d.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(u64::MAX)
                }),
            };
            match self.client.acquire(&body).await {
                Ok(result) => result,
                Err(e) => {
                    tracing::warn!(error = %e, "the running Keyward did not answer; using this process's own limits");
                    self.fallback.acquire(req).await
                }
            }
        })
    }

    fn observe(&self, call: Answered<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
        let body = ObserveBody {
            provider: call.provider.to_string(),
            operation: call.operation.to_string(),
            key_label: call.key_label.map(str::to_string),
            status,
            headers: headers
                .iter()
                .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
                .filter_map(|(name, v)| Some((name.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
        };
        let client = self.client.clone();
        // Best effort: the weight was charged before sending, which is what keeps the budget;
        // this only reconciles with what the exchange counted.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let task = handle.spawn(async move {
                if let Err(e) = client.observe(&body).await {
                    tracing::debug!(error = %e, "could not report an exchange answer to the running Keyward");
                }
            });
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|h| !h.is_finished());
            pending.push(task);
        }
    }
}
