//! Flood limiting per hook: a token bucket that allows a burst, then a steady rate. Pure: the
//! caller passes `now`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Requests a hook accepts in a burst.
pub const BURST: u32 = 20;
/// Then one request per this long.
pub const REFILL_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// The buckets of every hook.
#[derive(Debug, Default)]
pub struct Flood {
    buckets: HashMap<String, Bucket>,
}

impl Flood {
    /// Takes one request from `hook`'s bucket; `Err(wait)` when it is empty, with how long
    /// until the next request would be accepted.
    pub fn take(&mut self, hook: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let every = REFILL_EVERY.as_secs_f64();
        let b = self.buckets.entry(hook.to_string()).or_insert(Bucket { tokens: f64::from(BURST), at: now });
        let elapsed = (now - b.at).to_std().unwrap_or_default().as_secs_f64();
        b.tokens = (b.tokens + elapsed / every).min(f64::from(BURST));
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) * every))
        }
    }

    /// Forgets a removed hook.
    pub fn forget(&mut self, hook: &str) {
        self.buckets.remove(hook);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_burst_passes_then_one_request_per_refill() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid date");
        let mut f = Flood::default();
        for i in 0..BURST {
            assert!(f.take("h", t0).is_ok(), "request {i} of the burst");
        }
        let wait = f.take("h", t0).expect_err("the bucket is empty");
        assert_eq!(wait, REFILL_EVERY);
        assert!(f.take("other", t0).is_ok(), "each hook has its own bucket");
        let later = t0 + chrono::Duration::from_std(REFILL_EVERY).expect("fits");
        assert!(f.take("h", later).is_ok());
        assert!(f.take("h", later).is_err());
    }
}
