//! What exchanges say in response headers about when to come back, shared by the call
//! pipeline (retry backoff), the rate limiter (pauses, window resets) and webhook delivery.
//! Kept apart from all three so none of them imports another for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

/// The longest wait any header can ask for (a century: "never" for practical purposes).
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A header's value as a finite, non-negative number.
pub(crate) fn number(v: &HeaderValue) -> Option<f64> {
    v.to_str().ok()?.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
}

/// `Retry-After`: seconds (whole or decimal) or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(LONGEST.as_secs_f64())));
    }
    let at = DateTime::parse_from_rfc2822(text).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// When the exchange says its window resets: KuCoin's `gw-ratelimit-reset` (milliseconds from
/// now) or Bybit's `X-Bapi-Limit-Reset-Timestamp` (Unix milliseconds).
pub fn reset_in(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(ms) = headers.get("gw-ratelimit-reset").and_then(number) {
        return Some(Duration::from_millis(ms as u64));
    }
    let at_ms = headers.get("x-bapi-limit-reset-timestamp").and_then(number)?;
    Some(Duration::from_millis((at_ms as i64 - now.timestamp_millis()).max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_ignores_garbage() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("time").with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Thu, 01 Jan 2026 00:00:30 GMT"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&h, now), Some(LONGEST));
    }
}
