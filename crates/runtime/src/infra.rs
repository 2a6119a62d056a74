//! The shared infrastructure a binary stands on, chosen by configuration
//! only: the database from `LATCH_DATABASE_URL`, and Redis from
//! `LATCH_REDIS_URL` or, when unset, in-memory stand-ins (one process only).

use std::sync::Arc;

use latch_domain::{
    Clock, Error, Result,
    ports::{EventBus, FailureCounter, FlowState, RateLimiter, SessionCache},
};
use latch_store::{
    Database,
    memory::{
        MemoryEventBus, MemoryFailureCounter, MemoryFlowState, MemoryRateLimiter,
        MemorySessionCache,
    },
    redis::{
        Redis, RedisEventBus, RedisFailureCounter, RedisFlowState, RedisRateLimiter,
        RedisSessionCache,
    },
};

use crate::settings::CommonConfig;

/// Whether in-memory stand-ins for Redis are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisRequirement {
    /// latchd: every service shares one process, so memory works.
    Optional,
    /// A per-service binary: replicas must share cache and events.
    Required,
}

#[derive(Clone)]
pub struct Infra {
    pub db: Database,
    pub cache: Arc<dyn SessionCache>,
    pub bus: Arc<dyn EventBus>,
    /// The one rate limiter (public RPCs in the auth layer, and flows).
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Failed sign-in attempts per account (lockout with backoff).
    pub failure_counter: Arc<dyn FailureCounter>,
    pub flow_state: Arc<dyn FlowState>,
}

impl Infra {
    /// Connects the database (migrating it first when `migrate`) and Redis.
    pub async fn connect(
        common: &CommonConfig,
        clock: Arc<dyn Clock>,
        redis: RedisRequirement,
        migrate: bool,
    ) -> Result<Self> {
        let db = Database::connect(&common.database_url, common.database_max_connections).await?;
        if migrate {
            db.migrate().await?;
        }
        match (&common.redis_url, redis) {
            (Some(url), _) => {
                let redis =
                    Redis::connect_with_timeout(url, &common.redis_prefix, common.redis_timeout)
                        .await?;
                let mut infra = Self::with_redis(db, redis.clone(), url, clock)?;
                infra.bus = Arc::new(
                    RedisEventBus::new(redis, url)?
                        .with_stream_max_len(common.event_stream_max_len),
                );
                Ok(infra)
            }
            (None, RedisRequirement::Optional) => Ok(Self::in_memory(db, clock)),
            (None, RedisRequirement::Required) => Err(Error::internal_msg(
                "LATCH_REDIS_URL is required: separate service binaries share cache and events through Redis",
            )),
        }
    }

    /// The database with Redis-backed cache, bus, limiter, failure
    /// counters and flow state. The limiter and the counters read time
    /// from `clock` (as every replica does), and fall back to per-process
    /// ones while Redis is down.
    pub fn with_redis(
        db: Database,
        redis: Redis,
        url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Ok(Self {
            db,
            cache: Arc::new(RedisSessionCache::new(redis.clone())),
            bus: Arc::new(RedisEventBus::new(redis.clone(), url)?),
            rate_limiter: Arc::new(RedisRateLimiter::new(redis.clone(), clock.clone())),
            failure_counter: Arc::new(RedisFailureCounter::new(redis.clone(), clock)),
            flow_state: Arc::new(RedisFlowState::new(redis)),
        })
    }

    /// The database with in-memory cache, bus, limiter and flow state.
    pub fn in_memory(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            cache: Arc::new(MemorySessionCache::new(clock.clone())),
            bus: Arc::new(MemoryEventBus::new()),
            rate_limiter: Arc::new(MemoryRateLimiter::new(clock.clone())),
            failure_counter: Arc::new(MemoryFailureCounter::new(clock.clone())),
            flow_state: Arc::new(MemoryFlowState::new(clock)),
        }
    }
}
