//! The tenant-wide token bucket of the Management API.
//!
//! Pure: every method takes the current [`Instant`] (tokio's, see [`crate::clock`]), so tests
//! drive the clock by hand.

use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

/// Token-bucket parameters of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Bucket size: how many requests may be made back to back.
    pub burst: u32,
    /// Tokens added per second. `0` means the bucket never refills.
    pub per_second: u32,
}

impl RateLimit {
    /// Auth0 free plan: 2 burst, 2 per second (the simulator's default).
    pub const FREE: Self = Self {
        burst: 2,
        per_second: 2,
    };
    /// Auth0 enterprise production tenants: 50 burst, 16 per second.
    pub const ENTERPRISE: Self = Self {
        burst: 50,
        per_second: 16,
    };
    /// Auth0 enterprise non-production tenants: 10 burst, 2 per second.
    pub const ENTERPRISE_NON_PRODUCTION: Self = Self {
        burst: 10,
        per_second: 2,
    };

    /// A limit so high it never triggers, for tests that are not about rate limiting.
    pub const fn unlimited() -> Self {
        Self {
            burst: u32::MAX,
            per_second: u32::MAX,
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::FREE
    }
}

/// How long a bucket that never refills reports until its reset.
const NEVER: Duration = Duration::from_secs(24 * 3600);

/// Outcome of one attempt to take a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed (a token was taken).
    pub allowed: bool,
    /// Bucket size, for `x-ratelimit-limit`.
    pub limit: u32,
    /// Whole tokens left after this decision, for `x-ratelimit-remaining`.
    pub remaining: u32,
    /// Time until the bucket is full again, for `x-ratelimit-reset`.
    pub until_full: Duration,
    /// When refused: time until one token is available, for `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// One token in the bucket's integer units: a token is refilled in `UNIT / per_second`
/// nanoseconds, so one nanosecond adds `per_second` units and the arithmetic stays exact (no
/// floating-point drift: ten refills of 100 ms at 1/s make exactly one token).
const UNIT: u128 = 1_000_000_000;

/// A token bucket. Refusals do not consume anything.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    /// Tokens times [`UNIT`].
    units: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            units: Self::capacity(limit),
            last: now,
        }
    }

    fn capacity(limit: RateLimit) -> u128 {
        u128::from(limit.burst) * UNIT
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Replaces the limit and refills the bucket to the new burst.
    pub fn reset(&mut self, limit: RateLimit, now: Instant) {
        *self = Self::new(limit, now);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let added = elapsed.saturating_mul(u128::from(self.limit.per_second));
        self.units = self
            .units
            .saturating_add(added)
            .min(Self::capacity(self.limit));
        // Never move `last` backwards if a caller passes an older instant.
        if now > self.last {
            self.last = now;
        }
    }

    /// Time until `missing` more units have been refilled (rounded up to the nanosecond).
    fn time_for(&self, missing: u128) -> Duration {
        if missing == 0 {
            return Duration::ZERO;
        }
        if self.limit.per_second == 0 {
            return NEVER;
        }
        let nanos = missing.div_ceil(u128::from(self.limit.per_second));
        u64::try_from(nanos)
            .map(Duration::from_nanos)
            .unwrap_or(NEVER)
            .min(NEVER)
    }

    fn decision(&self, allowed: bool) -> Decision {
        let retry_after = (!allowed).then(|| {
            if self.limit.burst == 0 {
                NEVER
            } else {
                self.time_for(UNIT.saturating_sub(self.units))
            }
        });
        Decision {
            allowed,
            limit: self.limit.burst,
            // Whole tokens only; units never exceed the capacity, so this fits.
            remaining: u32::try_from(self.units / UNIT).unwrap_or(u32::MAX),
            until_full: self.time_for(Self::capacity(self.limit) - self.units),
            retry_after,
        }
    }

    /// Takes one token if there is one.
    pub fn try_acquire(&mut self, now: Instant) -> Decision {
        self.refill(now);
        if self.units >= UNIT {
            self.units -= UNIT;
            self.decision(true)
        } else {
            self.decision(false)
        }
    }

    /// The state without taking a token (for answers that do not count, such as injected faults).
    pub fn peek(&mut self, now: Instant) -> Decision {
        self.refill(now);
        let mut d = self.decision(true);
        d.retry_after = None;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimit::FREE, t0);
        let d1 = b.try_acquire(t0);
        assert!(d1.allowed);
        assert_eq!(d1.remaining, 1);
        assert_eq!(d1.limit, 2);
        let d2 = b.try_acquire(t0);
        assert!(d2.allowed);
        assert_eq!(d2.remaining, 0);
        assert_eq!(d2.until_full, Duration::from_secs(1));
        let d3 = b.try_acquire(t0);
        assert!(!d3.allowed);
        assert_eq!(d3.remaining, 0);
        assert_eq!(d3.retry_after, Some(ms(500)));
        // Half a second later exactly one token is back.
        let d4 = b.try_acquire(t0 + ms(500));
        assert!(d4.allowed);
        assert!(!b.try_acquire(t0 + ms(500)).allowed);
    }

    #[test]
    fn refusal_does_not_consume() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 1,
                per_second: 1,
            },
            t0,
        );
        assert!(b.try_acquire(t0).allowed);
        for i in 1..10 {
            assert!(!b.try_acquire(t0 + ms(i * 10)).allowed);
        }
        // Refusals in between did not push the next token further away.
        assert!(b.try_acquire(t0 + ms(1000)).allowed);
    }

    #[test]
    fn small_refills_add_up_exactly() {
        // Ten polls 100 ms apart at 1 per second give back exactly one token at 1 s: a client
        // honouring `Retry-After: 1` is never refused because of rounding.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 1,
                per_second: 1,
            },
            t0,
        );
        assert!(b.try_acquire(t0).allowed);
        for i in 1..10 {
            let d = b.try_acquire(t0 + ms(i * 100));
            assert!(!d.allowed);
            assert_eq!(d.retry_after, Some(ms(1000 - i * 100)));
        }
        assert!(b.try_acquire(t0 + ms(1000)).allowed);
        // Three per second: a token every 333.33 ms, three tokens in exactly one second.
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 3,
                per_second: 3,
            },
            t0,
        );
        for _ in 0..3 {
            assert!(b.try_acquire(t0).allowed);
        }
        assert_eq!(b.peek(t0).until_full, Duration::from_secs(1));
        assert_eq!(b.peek(t0 + Duration::from_secs(1)).remaining, 3);
    }

    #[test]
    fn never_exceeds_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimit::ENTERPRISE_NON_PRODUCTION, t0);
        let d = b.peek(t0 + Duration::from_secs(3600));
        assert_eq!(d.remaining, 10);
        assert_eq!(d.until_full, Duration::ZERO);
    }

    #[test]
    fn zero_refill_reports_a_long_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 1,
                per_second: 0,
            },
            t0,
        );
        assert!(b.try_acquire(t0).allowed);
        let d = b.try_acquire(t0 + Duration::from_secs(100));
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Some(NEVER));
    }

    #[test]
    fn zero_burst_refuses_everything() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                burst: 0,
                per_second: 5,
            },
            t0,
        );
        assert!(!b.try_acquire(t0 + Duration::from_secs(5)).allowed);
    }

    #[test]
    fn reset_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimit::FREE, t0);
        b.try_acquire(t0);
        b.try_acquire(t0);
        b.reset(RateLimit::ENTERPRISE, t0);
        assert_eq!(b.peek(t0).remaining, 50);
        assert_eq!(b.limit(), RateLimit::ENTERPRISE);
    }

    #[test]
    fn unlimited_does_not_overflow() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimit::unlimited(), t0);
        for _ in 0..1000 {
            assert!(b.try_acquire(t0).allowed);
        }
        assert!(b.peek(t0 + Duration::from_secs(10)).remaining > 1000);
    }
}
