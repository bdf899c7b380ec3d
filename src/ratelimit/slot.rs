//! The limiter seat of the pipeline in a process that may find a running Keyward: this
//! process's own [`Limiter`](super::Limiter) until it is pointed at the running one's
//! (`control::RemoteLimiter`, over the control API).

use std::sync::{Arc, OnceLock};

use crate::pipeline::limit::{Acquire, Answered, LimitError, LimitFuture, RateLimiter};

/// The pipeline's limiter in a process that may find a running Keyward: the local limiter
/// until [`LimiterSlot::use_remote`] points it at the running one.
pub struct LimiterSlot {
    local: Arc<dyn RateLimiter>,
    remote: OnceLock<Arc<dyn RateLimiter>>,
}

impl LimiterSlot {
    pub fn new(local: Arc<dyn RateLimiter>) -> Self {
        Self { local, remote: OnceLock::new() }
    }

    /// From now on, charge `remote` instead of the local limiter. Once only.
    pub fn use_remote(&self, remote: Arc<dyn RateLimiter>) -> bool {
        self.remote.set(remote).is_ok()
    }

    pub fn is_remote(&self) -> bool {
        self.remote.get().is_some()
    }

    fn current(&self) -> &Arc<dyn RateLimiter> {
        self.remote.get().unwrap_or(&self.local)
    }
}

impl RateLimiter for LimiterSlot {
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> LimitFuture<'a, Result<(), LimitError>> {
        self.current().acquire(req)
    }

    fn observe(&self, call: Answered<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
        self.current().observe(call, status, headers)
    }
}
