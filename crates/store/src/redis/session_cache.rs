//! The session cache on Redis.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use latch_domain::{
    Error, Result, SessionId,
    model::Session,
    ports::{CachedSession, SessionCache},
};

use super::{Redis, millis, redis_err};

const VALID: &str = "1";
const REVOKED: &str = "0";

/// `{prefix}session:valid:{id}` holds "1" (valid) or "0" (a tombstone);
/// `{prefix}session:{id}` the session as JSON. A fill sets the valid key
/// with SET NX and writes the record only if that won, so it never
/// overwrites a tombstone; a tombstone overwrites the valid key before it
/// deletes the record.
#[derive(Debug, Clone)]
pub struct RedisSessionCache {
    redis: Redis,
}

impl RedisSessionCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn keys(&self, id: &SessionId) -> (String, String) {
        (
            self.redis.key(&format!("session:valid:{id}")),
            self.redis.key(&format!("session:{id}")),
        )
    }
}

#[async_trait]
impl SessionCache for RedisSessionCache {
    async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>> {
        let (valid_key, record_key) = self.keys(id);
        // One MGET: both keys read at one instant.
        let (valid, record): (Option<String>, Option<Vec<u8>>) = self
            .redis
            .query(redis::cmd("MGET").arg(&valid_key).arg(&record_key))
            .await?;
        match (valid.as_deref(), record) {
            (Some(REVOKED), _) => Ok(Some(CachedSession::Revoked)),
            (Some(VALID), Some(json)) => match serde_json::from_slice::<Session>(&json) {
                Ok(session) => Ok(Some(CachedSession::Valid(Box::new(session)))),
                Err(err) => {
                    // Not trusted, not fatal: the caller reads the database.
                    tracing::warn!(error = %err, "unreadable cached session");
                    Ok(None)
                }
            },
            // Nothing, or a fill between its two writes: a miss.
            _ => Ok(None),
        }
    }

    async fn fill(&self, session: &Session, ttl: Duration) -> Result<()> {
        let (valid_key, record_key) = self.keys(&session.id);
        let json = serde_json::to_vec(session).map_err(Error::internal)?;
        let ttl = millis(ttl);
        // Both commands on one connection (a pooled connection costs a
        // PING to check out), under one deadline.
        self.redis
            .within_deadline(async {
                let mut conn = self.redis.conn().await?;
                let won: Option<String> = redis::cmd("SET")
                    .arg(&valid_key)
                    .arg(VALID)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
                if won.is_some() {
                    redis::cmd("SET")
                        .arg(&record_key)
                        .arg(json)
                        .arg("PX")
                        .arg(ttl)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(redis_err)?;
                }
                Ok(())
            })
            .await
    }

    async fn tombstone(&self, id: &SessionId, ttl: Duration) -> Result<()> {
        let (valid_key, record_key) = self.keys(id);
        self.redis
            .query_pipe(
                redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&valid_key)
                    .arg(REVOKED)
                    .arg("PX")
                    .arg(millis(ttl))
                    .ignore()
                    .cmd("DEL")
                    .arg(&record_key)
                    .ignore(),
            )
            .await
    }
}
