//! Exchange-accurate rate limiting: the rate-limit layer of the call pipeline.
//!
//! One [`Limiter`] owns the budget of every provider for every caller in the process (the UI,
//! the CLI, health checks, the gateway's bots). Before a request is sent, the pipeline
//! acquires its weight on every limit that applies ([`crate::pipeline::RateLimiter::acquire`]);
//! after the response it reports the headers and status
//! ([`crate::pipeline::RateLimiter::observe`]).
//!
//! - Rules come from the provider specs (`rate_limits` in the catalog TOML, editable by the
//!   user), read from the [`Registry`](crate::provider::Registry) on a provider's first use and
//!   again on [`Limiter::reload`].
//! - Each rule kind has its own window math in [`window`]: clock-aligned fixed windows
//!   (Binance), sliding logs, continuously decaying counters (Kraken), pools that start at the
//!   first request (KuCoin) and calendar-month quotas. All of it is pure: `now` is a parameter.
//! - A safety margin (default 2 % of each limit, at least one unit) keeps the limiter below
//!   the point where the exchange answers 429.
//! - A call is charged on all its limits at once, or on none, before it is sent. One that does
//!   not fit waits in a queue ordered by [`Priority`](crate::pipeline::Priority) (cancels,
//!   orders, account reads, market data) and, within one priority, by arrival. A caller with a
//!   deadline it cannot meet fails at once with the wait it would have had.
//! - Server truth wins: usage headers raise the local count (never lower it), a 429 pauses
//!   the provider until Retry-After, a 418 blocks it until the ban ends.
//! - [`Limiter::subscribe`] streams [`LimitEvent`]s (thresholds, pauses, bans) and
//!   [`Limiter::snapshot`] / [`Limiter::breakdown`] show live usage.
//!
//! ## Why this is written here
//!
//! The rate-limit crates (governor, leaky-bucket, ratelimit) implement one algorithm — GCRA or
//! a token bucket — for one budget, with the clock inside or a local permit count. An exchange
//! needs several budgets per call with different window semantics (clock-aligned windows are
//! not a token bucket: a bucket would let a full burst through at :59 and again at :00, which
//! Binance counts in one window only if they fall in it), charged atomically, reconciled with
//! the usage the exchange reports, paused by 429s, blocked by bans, and served in priority
//! order. No crate models those together, so the window math here is small, pure and tested
//! to the millisecond, and the queue is a `BTreeMap` behind one mutex.

mod limiter;
pub mod published;
pub mod settings;
pub mod shared;
mod slot;
mod status;
mod view;
pub mod window;

pub use crate::timer::{BoxFuture, ManualTimer, Timer, TokioTimer};
pub use limiter::{
    ChargedRule, Limiter, LimiterConfig, ReloadError, BAN_SCOPE, DEFAULT_SCOPE_KEY, NO_KEY, PAUSE_LIMIT,
};
pub use settings::LimitSettings;
pub use slot::LimiterSlot;
pub use status::{ClearReason, LimitBreakdown, LimitEvent, LimitStatus, UsageLevel};
pub use view::{LimitView, Spent};
pub use window::{Fit, ServerReport, ServerUsage, Window, WindowMath, WindowUsage};

#[cfg(test)]
mod tests;
