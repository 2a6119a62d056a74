//! Adapters on Redis for the per-service binaries: session cache, event
//! bus, rate limiter and flow state. Every key and channel starts with the
//! configured prefix (`LATCH_REDIS_PREFIX`, empty in production, so the
//! names are exactly the contract's; `test:{uuid}:` in tests).

mod event_bus;
mod flow_state;
mod rate_limiter;
mod session_cache;

use std::time::Duration;

use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts, redis};
use latch_domain::{Error, Result};

pub use event_bus::RedisEventBus;
pub use flow_state::RedisFlowState;
pub use rate_limiter::RedisRateLimiter;
pub use session_cache::RedisSessionCache;

/// Connections a process keeps at most; each is multiplexed.
const POOL_SIZE: usize = 16;
/// How long a command waits for a pooled connection, or for a new one.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of Redis connections and the key prefix. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so not shown.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Any Redis or pool failure: the dependency is unavailable.
pub(crate) fn redis_err(err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable(err)
}

impl Redis {
    /// Builds the pool and PINGs the server: `UNAVAILABLE` when it cannot be
    /// reached, `INVALID_ARGUMENT` (field `redis_url`) for a malformed URL.
    pub async fn connect(url: &str, prefix: &str) -> Result<Redis> {
        let mut pool_config = PoolConfig::new(POOL_SIZE);
        pool_config.timeouts = Timeouts {
            wait: Some(POOL_TIMEOUT),
            create: Some(POOL_TIMEOUT),
            recycle: Some(POOL_TIMEOUT),
        };
        let mut config = Config::from_url(url);
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|_| Error::invalid_field("redis_url", "is not a valid Redis URL"))?;
        let redis = Redis {
            pool,
            prefix: prefix.to_owned(),
        };
        let mut conn = redis.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(redis)
    }

    /// The prefix every key and channel starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) async fn conn(&self) -> Result<Connection> {
        self.pool.get().await.map_err(redis_err)
    }
}

/// A TTL in whole milliseconds, at least one (Redis refuses zero).
pub(crate) fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
