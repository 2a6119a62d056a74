//! Failed sign-in counters on Redis: a hash `{count, until}` per key under
//! `{prefix}login_failures:{key}`, each step one Lua script (EVALSHA), so
//! replicas sharing Redis count every attempt exactly once.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_redis::redis::Script;
use latch_domain::{
    Clock, Error, Result,
    ports::{FailureCounter, Failures, Lockout, login_throttled},
};

use super::{Redis, fallback::Fallback};
use crate::memory::MemoryFailureCounter;

/// KEYS[1] the hash; ARGV now, threshold, base delay, max delay, how long
/// failures are remembered after a wait ends, and the seed's count and
/// until (0 for none): all times in microseconds. Returns {1, count,
/// until} for a counted attempt, {0, count, until} while it must wait.
/// Mirrors `Lockout::after_failure`.
const BEGIN: &str = r"
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max_delay = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local held = redis.call('HMGET', KEYS[1], 'count', 'until')
local count = tonumber(held[1])
local until_ = tonumber(held[2])
if count == nil then
  count = tonumber(ARGV[6])
  until_ = tonumber(ARGV[7])
end
if until_ == nil then until_ = 0 end
if until_ > now then return {0, count, string.format('%d', until_)} end
count = count + 1
local delay = 0
if count >= threshold then
  local past = count - threshold
  delay = max_delay
  if past < 50 then delay = math.min(base * 2 ^ past, max_delay) end
end
until_ = now + delay
redis.call('HSET', KEYS[1], 'count', count, 'until', string.format('%d', until_))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((delay + forget) / 1000)))
return {1, count, string.format('%d', until_)}
";

/// KEYS[1]; ARGV now. One failure fewer, and the wait it set lifted.
/// Mirrors `Failures::taken_back`.
const TAKE_BACK: &str = r"
local now = tonumber(ARGV[1])
local held = redis.call('HMGET', KEYS[1], 'count', 'until')
local count = tonumber(held[1])
if count == nil then return 0 end
local until_ = tonumber(held[2]) or now
count = math.max(0, count - 1)
if until_ > now then until_ = now end
redis.call('HSET', KEYS[1], 'count', count, 'until', string.format('%d', until_))
return 1
";

/// KEYS[1]; ARGV now, how long the record of none is kept (ms).
const CLEAR: &str = r"
redis.call('HSET', KEYS[1], 'count', 0, 'until', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

static BEGIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(BEGIN));
static TAKE_BACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_BACK));
static CLEAR_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLEAR));

/// The counters, with a [`MemoryFailureCounter`] to fall back on while
/// Redis is down (see `fallback`): the seed (the durable copy) then
/// carries an account's count over.
pub struct RedisFailureCounter {
    redis: Redis,
    clock: Arc<dyn Clock>,
    memory: MemoryFailureCounter,
    fallback: Fallback,
}

impl RedisFailureCounter {
    pub fn new(redis: Redis, clock: Arc<dyn Clock>) -> Self {
        Self {
            redis,
            memory: MemoryFailureCounter::new(clock.clone()),
            clock,
            fallback: Fallback::new("failed sign-in counter"),
        }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(&format!("login_failures:{key}"))
    }

    async fn begin_on_redis(
        &self,
        key: &str,
        lockout: &Lockout,
        seed: Failures,
    ) -> Result<Failures> {
        let now = self.clock.now();
        let mut invocation = BEGIN_SCRIPT.prepare_invoke();
        invocation
            .key(self.key(key))
            .arg(now.timestamp_micros())
            .arg(lockout.threshold)
            .arg(micros(Lockout::BASE_DELAY))
            .arg(micros(lockout.max_delay))
            .arg(micros(Lockout::FORGET_AFTER))
            .arg(seed.count)
            .arg(seed.locked_until.map_or(0, |t| t.timestamp_micros()));
        let (counted, count, until): (i64, u32, String) = self.redis.invoke(&invocation).await?;
        let until = until
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| Error::internal_msg("the failure counter script returned no time"))?;
        if counted == 0 {
            return Err(login_throttled(now, until));
        }
        Ok(Failures {
            count,
            locked_until: Some(until),
        })
    }

    async fn take_back_on_redis(&self, key: &str) -> Result<()> {
        let mut invocation = TAKE_BACK_SCRIPT.prepare_invoke();
        invocation
            .key(self.key(key))
            .arg(self.clock.now().timestamp_micros());
        self.redis.invoke::<i64>(&invocation).await.map(drop)
    }

    async fn clear_on_redis(&self, key: &str) -> Result<()> {
        let mut invocation = CLEAR_SCRIPT.prepare_invoke();
        invocation
            .key(self.key(key))
            .arg(self.clock.now().timestamp_micros())
            .arg(super::millis(Lockout::FORGET_AFTER));
        self.redis.invoke::<i64>(&invocation).await.map(drop)
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[async_trait]
impl FailureCounter for RedisFailureCounter {
    async fn begin(&self, key: &str, lockout: &Lockout, seed: Failures) -> Result<Failures> {
        self.fallback
            .run(self.begin_on_redis(key, lockout, seed), || {
                self.memory.begin(key, lockout, seed)
            })
            .await
    }

    async fn take_back(&self, key: &str) -> Result<()> {
        self.fallback
            .run(self.take_back_on_redis(key), || self.memory.take_back(key))
            .await
    }

    async fn clear(&self, key: &str) -> Result<()> {
        self.fallback
            .run(self.clear_on_redis(key), || self.memory.clear(key))
            .await
    }
}
