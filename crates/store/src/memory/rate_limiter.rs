//! GCRA rate limits in memory: the embedded default's limiter, and the
//! per-process fallback of the Redis one.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result,
    ports::{Rate, RateLimiter},
};

use super::expiring::ExpiringMap;

/// One theoretical arrival time (microseconds) per key, dropped once it
/// is in the past (a fresh key behaves the same), like the Redis key's TTL.
pub struct MemoryRateLimiter {
    arrivals: ExpiringMap<String, i64>,
}

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            arrivals: ExpiringMap::new(clock),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str, rate: Rate) -> Result<()> {
        self.arrivals.with(key, |mut e| {
            let now = e.now().timestamp_micros();
            let stored = e.get(key).map(|(tat, _)| *tat);
            match rate.step(stored, now) {
                Ok(tat) => {
                    let ttl = u64::try_from(tat - now).unwrap_or_default();
                    e.insert(key.to_owned(), tat, Duration::from_micros(ttl.max(1)));
                    Ok(())
                }
                Err(wait) => Err(Error::rate_limited(retry_after(wait))),
            }
        })
    }
}

/// A wait in whole milliseconds, at least one: what RetryInfo carries.
pub(crate) fn retry_after(wait_micros: u64) -> Duration {
    Duration::from_millis(wait_micros.div_ceil(1000).max(1))
}
