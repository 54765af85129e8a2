//! Rate limits (`--rate 50/s`, a webhook's `rate 10/s`), so a run never
//! floods a partner's API however many contacts run concurrently. Both are
//! read by one parser with one table of units,
//! [`crate::syntax::units::parse_rate`].
//!
//! [`RateLimiter`] is a GCRA (the "virtual scheduling" form of a token
//! bucket): it keeps one theoretical arrival time behind a mutex, hands each
//! caller the next free slot, and the caller sleeps until that slot. No task
//! polls or spins, and the lock is held only for a few arithmetic steps.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::syntax::units::{self, RateError};

/// The longest gap the limiter spaces requests by; longer intervals (only
/// possible from a hand-built [`Rate`]) are shortened to it, so the slot
/// arithmetic can never overflow.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// A rate such as 50 per second, as written after `--rate` or `rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// How many requests the period allows; parsing guarantees it is > 0.
    pub count: u32,
    /// The period the count applies to.
    pub per: Duration,
}

impl Rate {
    /// The even spacing between requests (`per / count`, rounded up to the
    /// nanosecond so `count + 1` slots never fit in one period), the
    /// steady-state gap the limiter enforces. A count of 0 is treated as 1.
    pub fn interval(&self) -> Duration {
        let nanos = self.per.as_nanos().div_ceil(u128::from(self.count.max(1)));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for Rate {
    /// Writes the rate back as `50/s`, `600/m`, `1000/h`, `5/d` for messages
    /// and summaries (as [`parse_rate`] reads it); a period that is no unit
    /// is written as a count per milliseconds (`3/250ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.per.as_millis();
        let unit = ["ms", "s", "m", "h", "d", "w"]
            .into_iter()
            .find(|u| units::unit_millis(u).map(u128::from) == Some(millis));
        match unit {
            Some(unit) if self.per.subsec_nanos().is_multiple_of(1_000_000) => {
                write!(f, "{}/{unit}", self.count)
            }
            _ => write!(f, "{}/{}ms", self.count, millis),
        }
    }
}

/// `--rate` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate `{text}`: {reason}")]
pub struct InvalidRate {
    /// The text given.
    pub text: String,
    /// Why it is not a rate.
    pub reason: RateError,
}

/// Parses `COUNT/UNIT` (`50/s`, `600/minutes`, `1000/h`) exactly as a
/// script's `rate` setting reads it ([`units::parse_rate`]): the count a
/// whole number above zero, the unit any of [`units::RATE_UNITS`].
pub fn parse_rate(text: &str) -> Result<Rate, InvalidRate> {
    let spec = units::parse_rate(text).map_err(|reason| InvalidRate {
        text: text.to_string(),
        reason,
    })?;
    Ok(Rate {
        count: spec.count,
        per: Duration::from_millis(spec.per_millis),
    })
}

/// Spaces requests to at most a [`Rate`], shared through an `Arc` by every
/// task that sends to the limited target. Callers that have no limit hold an
/// `Option<RateLimiter>` and skip it, so unlimited runs pay nothing.
///
/// Requests are evenly spaced `rate.interval()` apart. [`RateLimiter::new`]
/// allows no burst: any window of length `per` then holds at most `count`
/// requests, which is what a partner's "N per minute" quota means.
/// [`RateLimiter::with_burst`] lets up to `burst` requests through at once
/// after a quiet spell, at the price of up to `count + burst - 1` in the
/// first window.
///
/// Slots are handed out in the order callers arrive. A caller cancelled
/// while waiting (its future dropped) forfeits its slot; that can only make
/// the run slower than the limit, never faster.
#[derive(Debug)]
pub struct RateLimiter {
    /// Gap between consecutive slots.
    interval: Duration,
    /// How far ahead of its theoretical time a slot may be used (the burst
    /// tolerance): `interval * (burst - 1)`.
    tolerance: Duration,
    /// The theoretical arrival time of the next request; `None` before the
    /// first one.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `rate` with evenly spaced slots and no burst, the
    /// strictest reading of the rate. A count of 0 is treated as 1.
    pub fn new(rate: Rate) -> RateLimiter {
        RateLimiter::with_burst(rate, 1)
    }

    /// A limiter for `rate` that lets up to `burst` requests go at once after
    /// an idle spell (clamped to `1..=rate.count`), for targets whose limit
    /// is a token bucket of that size.
    pub fn with_burst(rate: Rate, burst: u32) -> RateLimiter {
        let count = rate.count.max(1);
        let burst = burst.clamp(1, count);
        let interval = rate.interval().min(MAX_INTERVAL);
        RateLimiter {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            next: Mutex::new(None),
        }
    }

    /// Waits until the caller may send one request. Returns at once while
    /// under the limit; otherwise sleeps (without blocking the runtime)
    /// until the caller's slot.
    pub async fn acquire(&self) {
        if let Some(slot) = self.reserve(Instant::now()) {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Takes the next slot for a request arriving at `now`, returning when it
    /// may go, or `None` if it may go at once. Pure apart from the state
    /// update, so the spacing can be tested without a clock.
    fn reserve(&self, now: Instant) -> Option<Instant> {
        // The critical section cannot panic, so a poisoned lock (from a panic
        // elsewhere while holding it) still holds a consistent time.
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let theoretical = next.map_or(now, |t| t.max(now));
        // Past the end of `Instant`'s range the slot is unreachably far; keep
        // the state unchanged rather than overflow.
        *next = Some(
            theoretical
                .checked_add(self.interval)
                .unwrap_or(theoretical),
        );
        drop(next);
        match theoretical.checked_sub(self.tolerance) {
            Some(allowed) if allowed > now => Some(allowed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rate(count: u32, per_ms: u64) -> Rate {
        Rate {
            count,
            per: Duration::from_millis(per_ms),
        }
    }

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("50/s", 50, 1),
            ("1/sec", 1, 1),
            ("7/second", 7, 1),
            ("7/seconds", 7, 1),
            ("600/m", 600, 60),
            ("3/min", 3, 60),
            ("2/minute", 2, 60),
            ("2/minutes", 2, 60),
            ("1000/h", 1000, 3600),
            ("5/hour", 5, 3600),
            ("10/hours", 10, 3600),
            ("5/d", 5, 86_400),
            ("5/days", 5, 86_400),
            ("2/w", 2, 604_800),
            (" 10 / s ", 10, 1),
            ("4294967295/s", u32::MAX, 1),
        ];
        for (text, count, secs) in cases {
            let expected = Rate {
                count,
                per: Duration::from_secs(secs),
            };
            assert_eq!(parse_rate(text), Ok(expected), "{text}");
        }
        assert_eq!(
            parse_rate("5/ms").map(|r| r.per),
            Ok(Duration::from_millis(1))
        );
    }

    #[test]
    fn rejects_bad_rates() {
        for text in [
            "",
            "50",
            "/s",
            "0/s",
            "-1/s",
            "+5/s",
            "1.5/s",
            "5/fortnight",
            "5/S",
            "5/s/s",
            "x/s",
            "4294967296/s",
            "50/",
        ] {
            let err = parse_rate(text).expect_err(text).to_string();
            assert!(err.contains(&format!("`{text}`")), "{err}");
        }
        let message = |text| parse_rate(text).unwrap_err().to_string();
        assert!(message("0/s").contains("at least 1"));
        assert!(message("5/fortnight").contains("unknown unit"));
    }

    #[test]
    fn displays_like_it_parses() {
        for text in ["50/s", "600/m", "1000/h", "5/d", "2/w", "3/ms"] {
            let parsed = parse_rate(text).expect(text);
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(rate(3, 250).to_string(), "3/250ms");
        assert_eq!(
            parse_rate("50/s").map(|r| r.interval()),
            Ok(Duration::from_millis(20))
        );
        // Rounded up: three slots 333_333_334 ns apart never fit four in 1 s.
        assert_eq!(
            parse_rate("3/s").map(|r| r.interval()),
            Ok(Duration::from_nanos(333_333_334))
        );
        let max = Rate {
            count: 1,
            per: Duration::MAX,
        };
        assert_eq!(max.interval(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn limiter_is_shareable() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<RateLimiter>();
        assert_send_sync::<Arc<RateLimiter>>();
    }

    #[test]
    fn slots_are_evenly_spaced_without_burst() {
        let limiter = RateLimiter::new(rate(10, 1000)); // one per 100 ms
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(limiter.reserve(t0), None);
        assert_eq!(limiter.reserve(t0), Some(t0 + ms(100)));
        assert_eq!(limiter.reserve(t0 + ms(10)), Some(t0 + ms(200)));
        // Arriving after the backlog clears goes at once and restarts spacing.
        assert_eq!(limiter.reserve(t0 + ms(1000)), None);
        assert_eq!(limiter.reserve(t0 + ms(1050)), Some(t0 + ms(1100)));
    }

    #[test]
    fn burst_then_even_spacing() {
        let limiter = RateLimiter::with_burst(rate(4, 400), 4); // 100 ms apart
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        for _ in 0..4 {
            assert_eq!(limiter.reserve(t0), None);
        }
        assert_eq!(limiter.reserve(t0), Some(t0 + ms(100)));
        assert_eq!(limiter.reserve(t0), Some(t0 + ms(200)));
        // After a long pause the full burst is available again, not more.
        let later = t0 + ms(5000);
        for _ in 0..4 {
            assert_eq!(limiter.reserve(later), None);
        }
        assert_eq!(limiter.reserve(later), Some(later + ms(100)));
    }

    #[test]
    fn burst_is_clamped_and_zero_count_is_safe() {
        let t0 = Instant::now();
        let limiter = RateLimiter::with_burst(rate(2, 200), 99);
        assert_eq!(limiter.reserve(t0), None);
        assert_eq!(limiter.reserve(t0), None);
        assert!(limiter.reserve(t0).is_some());
        let zero = RateLimiter::new(rate(0, 100));
        assert_eq!(zero.reserve(t0), None);
        assert_eq!(zero.reserve(t0), Some(t0 + Duration::from_millis(100)));
        let huge = RateLimiter::new(Rate {
            count: 1,
            per: Duration::MAX,
        });
        assert_eq!(huge.reserve(t0), None);
        assert_eq!(huge.reserve(t0), Some(t0 + MAX_INTERVAL));
    }

    /// Real clock: 100/s shared by 8 tasks over about 0.3 s. The upper bound
    /// is exact (no slot comes early); the lower bound is generous for
    /// loaded machines.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_tasks_respect_the_rate() {
        let limiter = Arc::new(RateLimiter::new(rate(100, 1000)));
        let start = Instant::now();
        let window = Duration::from_millis(300);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let limiter = Arc::clone(&limiter);
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                while start.elapsed() < window {
                    limiter.acquire().await;
                    times.push(Instant::now());
                }
                times
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await.expect("task"));
        }
        times.sort();
        let last = times.last().copied().expect("some acquisitions");
        let elapsed = last - start;
        // Slot k (0-based) is never before start + k * 10 ms.
        let max_allowed = elapsed.as_millis() / 10 + 1;
        assert!(
            times.len() as u128 <= max_allowed,
            "{} in {elapsed:?}",
            times.len()
        );
        for (k, t) in times.iter().enumerate() {
            assert!(
                *t >= start + Duration::from_millis(10) * k as u32,
                "slot {k} early"
            );
        }
        assert!(times.len() >= 15, "only {} in {elapsed:?}", times.len());
    }

    #[tokio::test]
    async fn unlimited_callers_do_not_wait() {
        let limiter: Option<RateLimiter> = None;
        let start = Instant::now();
        for _ in 0..10_000 {
            if let Some(limiter) = &limiter {
                limiter.acquire().await;
            }
        }
        assert!(start.elapsed() < Duration::from_millis(100));
        // A generous limiter within its burst does not sleep either.
        let generous = RateLimiter::with_burst(rate(1000, 1000), 1000);
        let start = Instant::now();
        for _ in 0..1000 {
            generous.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(200));
    }
}
