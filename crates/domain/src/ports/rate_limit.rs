//! The one rate limiter: GCRA (the generic cell rate algorithm, a leaky
//! bucket kept as one timestamp per key) under `ratelimit:{key}`. The
//! server layer limits every public RPC with it per client address
//! ([`ip_bucket`]); flows limit per address or account with it (reset
//! requests, code sends).

use std::{fmt, net::IpAddr, time::Duration};

use async_trait::async_trait;

use crate::Result;

/// A rate: `count` requests per `period` on average, up to `burst` at once.
///
/// GCRA keeps one "theoretical arrival time" (TAT) per key: each request
/// that conforms pushes it on by the emission interval `period / count`,
/// and a request conforms while the TAT is at most `burst` intervals ahead
/// of now. A refused request changes nothing, so retrying early does not
/// extend the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    period: Duration,
    burst: u32,
}

/// Longest interval or burst window kept, so that every timestamp stays
/// exact in a Lua number (a double) and an `i64` of microseconds.
const MAX_WINDOW_MICROS: u64 = 100 * 365 * 86_400 * 1_000_000;

impl Rate {
    /// `count` per `period`, a whole period's worth at once (burst =
    /// `count`). A zero count is taken as one.
    pub const fn per(count: u32, period: Duration) -> Self {
        let count = if count == 0 { 1 } else { count };
        Self {
            count,
            period,
            burst: count,
        }
    }

    /// The same average rate, with up to `burst` (at least one) at once.
    pub const fn with_burst(self, burst: u32) -> Self {
        Self {
            burst: if burst == 0 { 1 } else { burst },
            ..self
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval `period / count` in microseconds; zero when a
    /// rate is so high that no request ever waits.
    pub fn interval_micros(&self) -> u64 {
        let period = u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX);
        (period / u64::from(self.count)).min(MAX_WINDOW_MICROS)
    }

    /// How far ahead of now the TAT may run: `burst` intervals.
    pub fn capacity_micros(&self) -> u64 {
        self.interval_micros()
            .saturating_mul(u64::from(self.burst))
            .min(MAX_WINDOW_MICROS)
    }

    /// One GCRA step at `now` (microseconds) for a key whose TAT is
    /// `stored`: `Ok(new TAT)` to store when the request conforms, else
    /// `Err(microseconds until it would)`. The Redis script computes the
    /// same, in one atomic step on the server.
    pub fn step(&self, stored: Option<i64>, now: i64) -> Result<i64, u64> {
        let interval = to_i64(self.interval_micros());
        let capacity = to_i64(self.capacity_micros());
        let tat = stored.map_or(now, |tat| tat.max(now));
        let new_tat = tat.saturating_add(interval);
        let allowed_at = new_tat.saturating_sub(capacity);
        if allowed_at > now {
            Err(u64::try_from(allowed_at - now).unwrap_or(u64::MAX))
        } else {
            Ok(new_tat)
        }
    }
}

fn to_i64(micros: u64) -> i64 {
    i64::try_from(micros).unwrap_or(i64::MAX)
}

/// `30/1m` or `30/1m,burst=60`: how settings write a rate.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.count, self.period)?;
        if self.burst != self.count {
            write!(f, ",burst={}", self.burst)?;
        }
        Ok(())
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request under `ratelimit:{key}` if it conforms to
    /// `rate`; otherwise fails with `RATE_LIMITED` and the real time until
    /// one would (RetryInfo), counting nothing. Atomic across replicas
    /// sharing the store: of two racing requests for the last slot, one
    /// passes. An adapter on Redis falls back to a per-process limiter with
    /// the same rates while Redis is down, so it fails only on a bug.
    async fn acquire(&self, key: &str, rate: Rate) -> Result<()>;

    /// [`RateLimiter::acquire`] with `limit` at once, refilled evenly over
    /// `window` ([`Rate::per`]).
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<()> {
        self.acquire(key, Rate::per(limit, window)).await
    }
}

/// The bucket a client address is limited in: an IPv4 address on its own
/// (an IPv4-mapped IPv6 address counts as its IPv4), an IPv6 address by
/// its /64, the smallest network a subscriber is given, so that one
/// client cannot walk through the 2^64 addresses it holds. `None` when
/// `ip` is not an address.
pub fn ip_bucket(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()?.to_canonical() {
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            Some(format!("{prefix}/64"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn a_burst_passes_at_once_then_one_per_interval() {
        let rate = Rate::per(3, Duration::from_secs(3));
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(rate.step(tat, NOW).unwrap());
        }
        assert_eq!(rate.step(tat, NOW), Err(1_000_000));
        // A refusal moves nothing: the same wait later, less what passed.
        assert_eq!(rate.step(tat, NOW + 400_000), Err(600_000));
        let tat = rate.step(tat, NOW + 1_000_000).unwrap();
        assert_eq!(rate.step(Some(tat), NOW + 1_000_000), Err(1_000_000));
        // Idle long enough, the whole burst is back.
        let mut later = Some(tat);
        for _ in 0..3 {
            later = Some(rate.step(later, NOW + 10_000_000).unwrap());
        }
        assert!(rate.step(later, NOW + 10_000_000).is_err());
    }

    #[test]
    fn burst_and_average_are_apart() {
        let rate = Rate::per(1, Duration::from_secs(60)).with_burst(5);
        let mut tat = None;
        for _ in 0..5 {
            tat = Some(rate.step(tat, NOW).unwrap());
        }
        assert_eq!(rate.step(tat, NOW), Err(60_000_000));
        assert_eq!(rate.to_string(), "1/60s,burst=5");
        assert_eq!(Rate::per(30, Duration::from_secs(60)).to_string(), "30/60s");
    }

    #[test]
    fn extreme_rates_stay_in_range() {
        let unlimited = Rate::per(u32::MAX, Duration::from_nanos(1));
        assert_eq!(unlimited.interval_micros(), 0);
        assert!(unlimited.step(Some(NOW), NOW).is_ok());
        let glacial = Rate::per(1, Duration::MAX).with_burst(u32::MAX);
        assert_eq!(glacial.capacity_micros(), MAX_WINDOW_MICROS);
        assert!(glacial.step(None, NOW).is_ok());
        assert_eq!(Rate::per(0, Duration::from_secs(1)).count(), 1);
    }

    #[test]
    fn ipv6_is_bucketed_by_64_and_ipv4_by_address() {
        assert_eq!(ip_bucket("203.0.113.9").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            ip_bucket("::ffff:203.0.113.9").as_deref(),
            Some("203.0.113.9")
        );
        let a = ip_bucket("2001:db8:1:2:aaaa::1");
        assert_eq!(a.as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(a, ip_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(a, ip_bucket("2001:db8:1:3::1"));
        assert_eq!(ip_bucket("not an address"), None);
    }
}
