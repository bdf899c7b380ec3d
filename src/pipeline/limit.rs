//! The rate-limit layer's seam. The pipeline acquires an operation's weight before every
//! attempt and reports the response headers after it; the exchange-accurate limiter plugs in
//! behind [`RateLimiter`].

use std::time::{Duration, Instant};

use async_trait_free::BoxFuture;

/// Who goes first when the budget is short: cancels, then orders, then account reads, then
/// market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    CancelOrder = 0,
    Order = 1,
    Account = 2,
    MarketData = 3,
}

/// What is about to be spent.
#[derive(Debug, Clone)]
pub struct Acquire<'a> {
    pub provider: &'a str,
    pub operation: &'a str,
    pub key_label: Option<&'a str>,
    /// Who is calling (`ui`, `cli`, `monitor`, a bot): shown in "who spent the budget".
    pub caller: &'a crate::caller::Caller,
    pub weight: u32,
    pub priority: Priority,
    /// Give up rather than wait past this instant.
    pub deadline: Option<Instant>,
}

/// The call a response answers (so a usage header shared by several budgets lands on the
/// budget of that call, and per-key counts on its key, even with many calls in flight).
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub provider: &'a str,
    pub operation: &'a str,
    pub key_label: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("rate limit \"{limit}\" of {provider} would make this call wait {wait:?}, past its deadline")]
    WouldExceedDeadline { provider: String, limit: String, wait: Duration },
    #[error("{provider} is blocked until the exchange lifts a ban or pause on \"{limit}\" (in {remaining:?})")]
    Blocked { provider: String, limit: String, remaining: Duration },
}

/// The rate-limit layer.
pub trait RateLimiter: Send + Sync + 'static {
    /// Waits until `req.weight` fits on every limit that applies, and charges it.
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> BoxFuture<'a, Result<(), LimitError>>;
    /// Reconciles with what the server reported (usage headers, 429/418 with Retry-After).
    fn observe(&self, call: Answered<'_>, status: u16, headers: &reqwest::header::HeaderMap);
}

/// No limits at all (providers without rules, and tests of other layers).
#[derive(Debug, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn acquire<'a>(&'a self, _req: Acquire<'a>) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async { Ok(()) })
    }
    fn observe(&self, _call: Answered<'_>, _status: u16, _headers: &reqwest::header::HeaderMap) {}
}

mod async_trait_free {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}
pub use async_trait_free::BoxFuture as LimitFuture;
