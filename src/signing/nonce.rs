//! Nonces and server-time correction for the signer.
//!
//! [`NonceSource`] hands out strictly increasing values per source (use one per API key, since
//! exchanges such as Kraken reject a nonce that is not above the last one they saw for the key).
//! [`TimeOffset`] keeps the measured difference between the exchange's clock and ours, so
//! timestamps stay inside the exchange's receive window on a machine whose clock drifts.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// Microseconds since the Unix epoch; 0 before it.
fn micros(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

/// Strictly increasing `u64` nonces, safe to share between threads.
///
/// Each value is the current time in microseconds, or one more than the previous value when
/// the clock has not moved on (or went backwards), so values never repeat and never decrease.
#[derive(Debug)]
pub struct NonceSource {
    last: AtomicU64,
}

impl NonceSource {
    /// A source seeded from the wall clock (`now`, normally `Utc::now()`): its first nonce is
    /// above `now` in microseconds, so it is above any nonce an earlier run handed out from the
    /// same clock.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self::after(micros(now))
    }

    /// A source whose first nonce is above `last` (for example the last nonce persisted for a
    /// key, in case the clock was set back since).
    pub fn after(last: u64) -> Self {
        Self { last: AtomicU64::new(last) }
    }

    /// The next nonce: `max(now in µs, previous + 1)`.
    pub fn next(&self, now: DateTime<Utc>) -> u64 {
        let now = micros(now);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = now.max(last.saturating_add(1));
            match self.last.compare_exchange_weak(last, candidate, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return candidate,
                Err(actual) => last = actual,
            }
        }
    }

    /// The last nonce handed out (or the seed, before the first one).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }
}

/// The exchange clock minus ours, in milliseconds, measured from one round trip.
#[derive(Debug, Default)]
pub struct TimeOffset {
    offset_ms: AtomicI64,
}

impl TimeOffset {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a server time read from a response: the offset is the server time minus the
    /// midpoint of when the request left and when the response arrived.
    pub fn record(&self, server_time: DateTime<Utc>, local_sent: DateTime<Utc>, local_received: DateTime<Utc>) {
        let sent = local_sent.timestamp_millis();
        let received = local_received.timestamp_millis();
        // Midpoint without overflow: sent + (received - sent) / 2.
        let midpoint = sent.saturating_add(received.saturating_sub(sent) / 2);
        let offset = server_time.timestamp_millis().saturating_sub(midpoint);
        self.offset_ms.store(offset, Ordering::Release);
    }

    /// The current offset in milliseconds (positive: the exchange's clock is ahead).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }

    /// `now` moved onto the exchange's clock.
    pub fn corrected(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(TimeDelta::milliseconds(self.offset_ms())).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn at_ms(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().expect("valid time")
    }

    #[test]
    fn nonce_follows_the_clock_when_it_moves_forward() {
        let source = NonceSource::after(0);
        assert_eq!(source.next(at_ms(1_000)), 1_000_000);
        assert_eq!(source.next(at_ms(2_000)), 2_000_000);
    }

    #[test]
    fn nonce_still_increases_when_the_clock_stalls_or_goes_back() {
        let source = NonceSource::after(0);
        let a = source.next(at_ms(5_000));
        let b = source.next(at_ms(5_000));
        let c = source.next(at_ms(4_000));
        assert_eq!((a, b, c), (5_000_000, 5_000_001, 5_000_002));
        assert_eq!(source.last(), 5_000_002);
    }

    #[test]
    fn nonce_source_seeded_from_the_clock_starts_after_it() {
        let source = NonceSource::new(at_ms(1_000));
        assert_eq!(source.next(at_ms(0)), 1_000_001);
        assert_eq!(source.next(at_ms(2_000)), 2_000_000);
    }

    #[test]
    fn nonces_are_unique_and_increasing_per_thread_under_contention() {
        const THREADS: usize = 8;
        const CALLS: usize = 10_000;
        let source = Arc::new(NonceSource::new(Utc::now()));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let source = Arc::clone(&source);
                std::thread::spawn(move || (0..CALLS).map(|_| source.next(Utc::now())).collect::<Vec<u64>>())
            })
            .collect();
        let mut all = HashSet::with_capacity(THREADS * CALLS);
        for handle in handles {
            let seq = handle.join().expect("thread finished");
            assert_eq!(seq.len(), CALLS);
            assert!(seq.windows(2).all(|w| w[0] < w[1]), "a thread saw a non-increasing nonce");
            all.extend(seq);
        }
        assert_eq!(all.len(), THREADS * CALLS, "some nonce was handed out twice");
    }

    #[test]
    fn time_offset_uses_the_midpoint_of_the_round_trip() {
        let offset = TimeOffset::new();
        assert_eq!(offset.corrected(at_ms(10_000)), at_ms(10_000));
        // Sent at 1000, received at 1200 (midpoint 1100); the server said 1600: 500 ms ahead.
        offset.record(at_ms(1_600), at_ms(1_000), at_ms(1_200));
        assert_eq!(offset.offset_ms(), 500);
        assert_eq!(offset.corrected(at_ms(10_000)), at_ms(10_500));
        // A server behind us gives a negative offset.
        offset.record(at_ms(900), at_ms(1_000), at_ms(1_200));
        assert_eq!(offset.offset_ms(), -200);
        assert_eq!(offset.corrected(at_ms(10_000)), at_ms(9_800));
    }
}
