//! Per-client rate limiting: one token bucket per client, in memory on each instance.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second` tokens a second; a
//! request takes one token or is refused with the time until the next token (the
//! `Retry-After` of the 429). Several instances behind a load balancer each keep their
//! own buckets, so the limit a client sees is per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How fast a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    /// The rate of a client: its own settings over the server defaults; `None` when
    /// unlimited (a per-second rate of 0).
    pub fn effective(
        client_per_second: Option<i64>,
        client_burst: Option<i64>,
        default_per_second: u32,
        default_burst: u32,
    ) -> Option<Self> {
        let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let per_second = client_per_second.map_or(default_per_second, clamp);
        if per_second == 0 {
            return None;
        }
        let burst = client_burst.map_or(default_burst, clamp);
        Some(Self {
            per_second,
            burst: if burst == 0 { per_second } else { burst },
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of all clients seen by this instance.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a token for `client` at `now`; `Err(wait)` when the bucket is empty, with the
    /// time until a token is available.
    pub fn check(&self, client: i64, rate: Rate, now: Instant) -> Result<(), Duration> {
        let per_second = f64::from(rate.per_second.max(1));
        let burst = f64::from(rate.burst.max(1));
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// `Retry-After` in whole seconds (at least 1) for a wait.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let limiter = RateLimiter::new();
        let rate = Rate {
            per_second: 2,
            burst: 3,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(7, rate, t0).is_ok());
        }
        let wait = limiter.check(7, rate, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        // Another client has its own bucket.
        assert!(limiter.check(8, rate, t0).is_ok());
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check(7, rate, t1).is_ok());
        assert!(limiter.check(7, rate, t1).is_err());
        // The bucket never holds more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check(7, rate, t2).is_ok());
        }
        assert!(limiter.check(7, rate, t2).is_err());
    }

    #[test]
    fn slow_rates_ask_for_a_longer_wait() {
        let limiter = RateLimiter::new();
        let rate = Rate {
            per_second: 1,
            burst: 1,
        };
        let t0 = Instant::now();
        assert!(limiter.check(1, rate, t0).is_ok());
        let wait = limiter.check(1, rate, t0).unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn client_settings_override_the_defaults() {
        assert_eq!(Rate::effective(None, None, 0, 0), None);
        assert_eq!(
            Rate::effective(None, None, 10, 0),
            Some(Rate {
                per_second: 10,
                burst: 10
            })
        );
        assert_eq!(
            Rate::effective(Some(3), Some(6), 10, 20),
            Some(Rate {
                per_second: 3,
                burst: 6
            })
        );
        assert_eq!(
            Rate::effective(Some(5), None, 10, 20),
            Some(Rate {
                per_second: 5,
                burst: 20
            })
        );
        assert_eq!(Rate::effective(Some(0), None, 10, 20), None);
    }
}
