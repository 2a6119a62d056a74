//! Short-lived flow state on Redis: `SET … PX` and `GETDEL`.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use latch_domain::{Result, ports::FlowState};

use super::{Redis, millis};

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
        self.redis
            .query(
                redis::cmd("SET")
                    .arg(self.redis.key(key))
                    .arg(value)
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.redis
            .query(redis::cmd("GETDEL").arg(self.redis.key(key)))
            .await
    }
}
