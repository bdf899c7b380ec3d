//! Classification (what kind of failure is this?) kept apart from policy (what do we do about
//! it?). Placing an order is never retried blindly: a 5xx or a lost response after the
//! request left is "status unknown".

use std::time::Duration;

use rand::Rng;

/// What one attempt's failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth another attempt (after `retry_after` when the server said so).
    Transient { retry_after: Option<Duration> },
    /// Retrying cannot help (4xx, bad signature, bad parameters).
    Fatal,
    /// The request may have been executed; the outcome is unknown.
    Unknown,
}

/// How an attempt failed, as seen by the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made: nothing reached the server.
    Connect,
    /// Timed out or the connection broke after the request was sent.
    AfterSend,
    /// The server answered with this status.
    Status { status: u16, retry_after: Option<Duration> },
}

/// Classifies a failure. `mutating` is true for operations that change state (orders).
pub fn classify(failure: Failure, mutating: bool) -> Class {
    match failure {
        Failure::Connect => Class::Transient { retry_after: None },
        Failure::AfterSend if mutating => Class::Unknown,
        Failure::AfterSend => Class::Transient { retry_after: None },
        Failure::Status { status: 429, retry_after } => Class::Transient { retry_after },
        // 418: an IP ban. Never hammer a banned IP.
        Failure::Status { status: 418, .. } => Class::Fatal,
        Failure::Status { status, .. } if status >= 500 && mutating => Class::Unknown,
        Failure::Status { status: 500 | 502 | 503 | 504, retry_after } => Class::Transient { retry_after },
        Failure::Status { .. } => Class::Fatal,
    }
}

/// Exponential backoff with full jitter, capped, from the provider's retry settings.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before attempt `next_attempt` (2 for the first retry). A server-given
    /// Retry-After wins when it is longer.
    pub fn delay(&self, next_attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let exp = self.base.saturating_mul(1u32 << next_attempt.saturating_sub(2).min(16));
        let cap = exp.min(self.max);
        let jittered = if cap.is_zero() {
            cap
        } else {
            Duration::from_millis(rng.gen_range(cap.as_millis() as u64 / 2..=cap.as_millis() as u64))
        };
        match retry_after {
            Some(ra) if ra > jittered => ra,
            _ => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_5xx_on_an_order_is_unknown_not_retried() {
        assert_eq!(classify(Failure::Status { status: 503, retry_after: None }, true), Class::Unknown);
        assert_eq!(classify(Failure::AfterSend, true), Class::Unknown);
        assert_eq!(
            classify(Failure::Status { status: 503, retry_after: None }, false),
            Class::Transient { retry_after: None }
        );
    }

    #[test]
    fn connection_failures_are_retryable_even_for_orders() {
        assert_eq!(classify(Failure::Connect, true), Class::Transient { retry_after: None });
    }

    #[test]
    fn client_errors_and_bans_are_fatal() {
        assert_eq!(classify(Failure::Status { status: 400, retry_after: None }, false), Class::Fatal);
        assert_eq!(classify(Failure::Status { status: 401, retry_after: None }, false), Class::Fatal);
        assert_eq!(classify(Failure::Status { status: 418, retry_after: None }, false), Class::Fatal);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_millis(1000) };
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let d2 = b.delay(2, None, &mut rng);
            assert!(d2 >= Duration::from_millis(50) && d2 <= Duration::from_millis(100), "{d2:?}");
            let d5 = b.delay(5, None, &mut rng);
            assert!(d5 >= Duration::from_millis(400) && d5 <= Duration::from_millis(800), "{d5:?}");
            let d20 = b.delay(20, None, &mut rng);
            assert!(d20 <= Duration::from_millis(1000), "{d20:?}");
        }
        assert_eq!(b.delay(2, Some(Duration::from_secs(3)), &mut rng), Duration::from_secs(3));
    }
}
