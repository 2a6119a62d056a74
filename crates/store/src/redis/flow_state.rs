//! Short-lived flow state on Redis: `SET … PX` and `GETDEL`.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use latch_domain::{Result, ports::FlowState};

use super::{Redis, millis, redis_err};

/// Values under `{prefix}{key}`; `take` is GETDEL, so of two concurrent
/// takes only one gets the value.
#[derive(Debug, Clone)]
pub struct RedisFlowState {
    redis: Redis,
}

impl RedisFlowState {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl FlowState for RedisFlowState {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut conn = self.redis.conn().await?;
        redis::cmd("SET")
            .arg(self.redis.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.redis.conn().await?;
        redis::cmd("GETDEL")
            .arg(self.redis.key(key))
            .query_async::<Option<Vec<u8>>>(&mut conn)
            .await
            .map_err(redis_err)
    }
}
