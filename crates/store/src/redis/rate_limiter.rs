//! Fixed-window rate limits on Redis.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use latch_domain::{Error, Result, ports::RateLimiter};

use super::{Redis, millis};

/// A counter per `{prefix}ratelimit:{key}`: INCR, then PEXPIRE NX so the
/// first hit opens the window, in one atomic pipeline that also reads the
/// time left.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    redis: Redis,
}

impl RedisRateLimiter {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<()> {
        let key = self.redis.key(&format!("ratelimit:{key}"));
        let (count, ttl_ms): (u64, i64) = self
            .redis
            .query_pipe(
                redis::pipe()
                    .atomic()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(millis(window))
                    .arg("NX")
                    .ignore()
                    .cmd("PTTL")
                    .arg(&key),
            )
            .await?;
        if count > u64::from(limit) {
            let retry_after = u64::try_from(ttl_ms)
                .map(Duration::from_millis)
                .unwrap_or(window);
            return Err(Error::rate_limited(retry_after));
        }
        Ok(())
    }
}
