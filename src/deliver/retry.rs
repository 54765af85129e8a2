//! Retry policy: which responses are worth retrying, how long to wait before
//! the next attempt, and what a server's `Retry-After` asks for.
//!
//! Kept free of I/O so the policy can be tested exactly; the sender decides
//! how many attempts to make and combines [`backoff`] with [`retry_after`].

use std::time::{Duration, SystemTime};

/// The longest exponential delay before jitter. Longer schedules (hours to
/// days, as Svix uses) belong to a durable engine, not an interactive run.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The jitter applied to every backoff delay, as a fraction either way, so
/// many contacts failing together do not retry in lockstep.
pub const JITTER: f64 = 0.2;

/// What to do after an HTTP response, so every caller treats status codes
/// the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// 2xx: the request was delivered.
    Success,
    /// 408, 429 or 5xx: transient; try again if attempts remain.
    Retry,
    /// Any other status, 3xx included (redirects are not followed): retrying
    /// would get the same answer.
    Fail,
    /// 410 Gone: the endpoint is dead; send nothing more to it this run.
    Gone,
}

/// Classifies a response status: 2xx succeeds; 408, 429 and 5xx are retried;
/// 410 marks the endpoint gone; everything else (1xx, 3xx, other 4xx, and
/// codes outside 100-599) fails without retrying.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        408 | 429 | 500..=599 => Verdict::Retry,
        410 => Verdict::Gone,
        _ => Verdict::Fail,
    }
}

/// The exponential part of the delay before retry number `retry` (1-based):
/// `first * 2^(retry - 1)`, capped at [`MAX_BACKOFF`]. Retry 0 is treated as
/// retry 1. Exposed so callers and tests can reason about the bounds.
pub fn backoff_base(retry: u32, first: Duration) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    first
        .checked_mul(1u32 << doublings)
        .map_or(MAX_BACKOFF, |delay| delay.min(MAX_BACKOFF))
}

/// The delay before retry number `retry` (1-based): [`backoff_base`] with
/// ±[`JITTER`] applied, so retries spread out. Jitter comes after the cap,
/// so the longest delay is 72 s. Never negative; `first` of zero gives zero.
pub fn backoff(retry: u32, first: Duration) -> Duration {
    let factor = 1.0 - JITTER + 2.0 * JITTER * fastrand::f64();
    // The base is at most 60 s and the factor in [0.8, 1.2), so this cannot
    // overflow or go negative (which would make `mul_f64` panic).
    backoff_base(retry, first).mul_f64(factor)
}

/// Parses a `Retry-After` header value, so a 429 or 503 waits as long as the
/// server asked: either delay-seconds (`120`) or an HTTP-date (IMF-fixdate,
/// RFC 850 or asctime, as RFC 9110 allows). A date at or before `now` gives
/// zero. Returns `None` for anything else (negative or fractional numbers,
/// junk), in which case the caller falls back to [`backoff`].
///
/// There is deliberately no upper bound here: the caller decides whether a
/// long wait is honoured, capped, or turned into a failure.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits; only overflow can fail, and such a wait is unbounded.
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(classify(status), Verdict::Success, "{status}");
        }
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(status), Verdict::Retry, "{status}");
        }
        assert_eq!(classify(410), Verdict::Gone);
        for status in [
            0, 100, 101, 199, 300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 409, 411, 422, 428,
            431, 499, 600, 999,
        ] {
            assert_eq!(classify(status), Verdict::Fail, "{status}");
        }
    }

    #[test]
    fn base_doubles_and_caps() {
        let first = Duration::from_millis(5);
        assert_eq!(backoff_base(0, first), Duration::from_millis(5));
        assert_eq!(backoff_base(1, first), Duration::from_millis(5));
        assert_eq!(backoff_base(2, first), Duration::from_millis(10));
        assert_eq!(backoff_base(3, first), Duration::from_millis(20));
        assert_eq!(backoff_base(10, first), Duration::from_millis(2560));
        assert_eq!(backoff_base(20, first), MAX_BACKOFF);
        assert_eq!(backoff_base(u32::MAX, first), MAX_BACKOFF);
        let second = Duration::from_secs(1);
        assert_eq!(backoff_base(6, second), Duration::from_secs(32));
        assert_eq!(backoff_base(7, second), MAX_BACKOFF);
        assert_eq!(backoff_base(1, Duration::MAX), MAX_BACKOFF);
        assert_eq!(backoff_base(40, Duration::MAX), MAX_BACKOFF);
        assert_eq!(backoff_base(5, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let first = Duration::from_millis(100);
        for retry in [1, 2, 3, 5, 12, 100] {
            let base = backoff_base(retry, first);
            let low = base.mul_f64(1.0 - JITTER);
            let high = base.mul_f64(1.0 + JITTER);
            let mut below = false;
            let mut above = false;
            for _ in 0..2000 {
                let delay = backoff(retry, first);
                assert!(delay >= low && delay <= high, "{retry}: {delay:?}");
                below |= delay < base.mul_f64(0.9);
                above |= delay > base.mul_f64(1.1);
            }
            // The jitter really spreads both ways.
            assert!(below && above, "retry {retry}");
        }
        assert_eq!(backoff(3, Duration::ZERO), Duration::ZERO);
        assert!(backoff(u32::MAX, Duration::MAX) <= MAX_BACKOFF.mul_f64(1.0 + JITTER));
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("007", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
        for junk in ["", " ", "-1", "1.5", "+3", "1e3", "soon", "12 s", "0x10"] {
            assert_eq!(retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn retry_after_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let before = date - Duration::from_secs(90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                retry_after(form, before),
                Some(Duration::from_secs(90)),
                "{form}"
            );
            assert_eq!(retry_after(form, date), Some(Duration::ZERO), "{form}");
            let later = date + Duration::from_secs(5);
            assert_eq!(retry_after(form, later), Some(Duration::ZERO), "{form}");
        }
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37", before), None);
        assert_eq!(retry_after("Sun, 32 Nov 1994 08:49:37 GMT", before), None);
    }
}
