//! Adapters on Redis for the per-service binaries: session cache, event
//! bus, rate limiter, failed sign-in counters and flow state. Every key
//! and channel starts with the configured prefix (`LATCH_REDIS_PREFIX`,
//! empty in production, so the names are exactly the contract's;
//! `test:{uuid}:` in tests).

mod event_bus;
mod fallback;
mod flow_state;
mod lockout;
mod rate_limiter;
mod session_cache;
mod version;

use std::{future::Future, time::Duration};

use deadpool_redis::{
    Connection, Manager, Pool, PoolConfig, Runtime, Timeouts,
    redis::{self, AsyncConnectionConfig, FromRedisValue},
};
use latch_domain::{Error, Result};

pub use event_bus::{DEFAULT_STREAM_MAX_LEN, RedisEventBus, stream_name};
pub use fallback::PROBE_EVERY;
pub use flow_state::RedisFlowState;
pub use lockout::RedisFailureCounter;
pub use rate_limiter::RedisRateLimiter;
pub use session_cache::RedisSessionCache;
pub use version::{MIN_VERSION, RedisVersion};

/// Connections a process keeps at most; each is multiplexed.
const POOL_SIZE: usize = 16;
/// How long a command may take, waiting for a pooled connection included,
/// unless [`Redis::connect_with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of Redis connections and the key prefix. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so not shown.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Any Redis or pool failure: the dependency is unavailable.
pub(crate) fn redis_err(err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable(err)
}

/// A command that did not finish within the deadline.
#[derive(Debug)]
struct TimedOut(Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redis did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

impl Redis {
    /// [`Self::connect_with_timeout`] with [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, prefix: &str) -> Result<Redis> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// Builds the pool, PINGs the server and checks it is Redis 7 or newer:
    /// `UNAVAILABLE` when it cannot be reached, `INVALID_ARGUMENT` (field
    /// `redis_url`) for a malformed URL, `INTERNAL` naming the version when
    /// it is too old. Every command then runs under `timeout`, waiting for
    /// a connection included, and past it fails `UNAVAILABLE`: a hung
    /// Redis holds a request that long, never longer.
    pub async fn connect_with_timeout(url: &str, prefix: &str, timeout: Duration) -> Result<Redis> {
        let bad_url = |_| Error::invalid_field("redis_url", "is not a valid Redis URL");
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let manager = Manager::new_with_config(url, connection).map_err(bad_url)?;
        let mut pool_config = PoolConfig::new(POOL_SIZE);
        pool_config.timeouts = Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        };
        let pool = Pool::builder(manager)
            .config(pool_config)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(Error::internal)?;
        let handle = Redis {
            pool,
            prefix: prefix.to_owned(),
            timeout,
        };
        handle.query::<String>(&redis::cmd("PING")).await?;
        match handle.server_version().await? {
            Some(version) => version.require_supported()?,
            // A server that does not say is given the benefit of the doubt.
            None => tracing::warn!("INFO server names no redis_version; assuming Redis 7 or newer"),
        }
        Ok(handle)
    }

    /// The version `INFO server` reports, if it reports one.
    pub async fn server_version(&self) -> Result<Option<RedisVersion>> {
        let info: String = self.query(redis::cmd("INFO").arg("server")).await?;
        Ok(RedisVersion::from_info(&info))
    }

    /// The prefix every key and channel starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long one command may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs `cmd` on a pooled connection within the deadline.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        self.within_deadline(async {
            let mut conn = self.conn().await?;
            cmd.query_async(&mut conn).await.map_err(redis_err)
        })
        .await
    }

    /// Runs `pipe` on a pooled connection within the deadline.
    pub(crate) async fn query_pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T> {
        self.within_deadline(async {
            let mut conn = self.conn().await?;
            pipe.query_async(&mut conn).await.map_err(redis_err)
        })
        .await
    }

    /// Runs a Lua script (EVALSHA, loading it first if the server does
    /// not know it) on a pooled connection within the deadline.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        self.within_deadline(async {
            let mut conn = self.conn().await?;
            invocation.invoke_async(&mut conn).await.map_err(redis_err)
        })
        .await
    }

    /// `work` (Redis I/O), or `UNAVAILABLE` once the deadline passes.
    pub(crate) async fn within_deadline<T>(
        &self,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(redis_err(TimedOut(self.timeout))))
    }

    /// A pooled connection: only inside [`Self::within_deadline`], for
    /// work of several commands on one connection.
    pub(crate) async fn conn(&self) -> Result<Connection> {
        self.pool.get().await.map_err(redis_err)
    }
}

/// A TTL in whole milliseconds, at least one (Redis refuses zero).
pub(crate) fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests;
