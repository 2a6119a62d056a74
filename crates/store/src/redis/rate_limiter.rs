//! GCRA rate limits on Redis: one Lua script (EVALSHA, loaded on first
//! use) reads the key's theoretical arrival time, decides and writes it
//! back in one atomic step, so replicas sharing Redis share every limit.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use deadpool_redis::redis::Script;
use latch_domain::{
    Clock, Error, Result,
    ports::{Rate, RateLimiter},
};

use super::{Redis, fallback::Fallback};
use crate::memory::{MemoryRateLimiter, retry_after};

/// KEYS[1] the key; ARGV now, emission interval and burst capacity, in
/// microseconds of the services' clock (one clock for every adapter, so
/// tests move it). Returns 0 when the request conforms (the new TAT is
/// stored, expiring when it is reached), else the microseconds to wait.
/// Timestamps stay below 2^53: exact in Lua's numbers.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - capacity - now
if wait > 0 then return wait end
if new_tat > now then
  redis.call('SET', KEYS[1], string.format('%d', new_tat),
    'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
end
return 0
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

/// The limiter on `{prefix}ratelimit:{key}`, with a [`MemoryRateLimiter`]
/// to fall back on while Redis is down (see `fallback`).
pub struct RedisRateLimiter {
    redis: Redis,
    clock: Arc<dyn Clock>,
    memory: MemoryRateLimiter,
    fallback: Fallback,
}

impl RedisRateLimiter {
    pub fn new(redis: Redis, clock: Arc<dyn Clock>) -> Self {
        Self {
            redis,
            memory: MemoryRateLimiter::new(clock.clone()),
            clock,
            fallback: Fallback::new("rate limiter"),
        }
    }

    async fn on_redis(&self, key: &str, rate: Rate) -> Result<()> {
        let now = self.clock.now().timestamp_micros();
        let mut invocation = SCRIPT.prepare_invoke();
        invocation
            .key(self.redis.key(&format!("ratelimit:{key}")))
            .arg(now)
            .arg(rate.interval_micros())
            .arg(rate.capacity_micros());
        let wait: i64 = self.redis.invoke(&invocation).await?;
        match u64::try_from(wait) {
            Ok(wait) if wait > 0 => Err(Error::rate_limited(retry_after(wait))),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str, rate: Rate) -> Result<()> {
        self.fallback
            .run(self.on_redis(key, rate), || self.memory.acquire(key, rate))
            .await
    }
}
