//! Fixed-window rate limits in memory.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{Clock, Error, Result, ports::RateLimiter};

use super::expiring::{ExpiringMap, chrono_ttl};

/// One counter per key; the window starts with its first hit and the
/// counter disappears when it ends, like `INCR` + `EXPIRE NX` in Redis.
pub struct MemoryRateLimiter {
    counters: ExpiringMap<String, u64>,
}

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            counters: ExpiringMap::new(clock),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<()> {
        self.counters.with(key, |mut e| {
            let now = e.now();
            let (count, window_end) = match e.get_mut(key) {
                Some((count, window_end)) => {
                    // Refused hits count too, as INCR does.
                    *count += 1;
                    (*count, *window_end)
                }
                None => {
                    e.insert(key.to_owned(), 1, window);
                    (1, now + chrono_ttl(window))
                }
            };
            if count > u64::from(limit) {
                let retry_after = (window_end - now).to_std().unwrap_or_default();
                Err(Error::rate_limited(retry_after))
            } else {
                Ok(())
            }
        })
    }
}
