use std::time::Duration;

use async_trait::async_trait;

use crate::{Result, SessionId, model::Session};

/// What the cache knows of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedSession {
    /// Cached as valid when it was last read from the database.
    Valid(Box<Session>),
    /// A tombstone: revoked; do not trust any other copy.
    Revoked,
}

/// `session:valid:{id}` and `session:{id}` (Redis or memory).
///
/// Coherence: [`SessionCache::tombstone`] overwrites whatever is cached, and
/// [`SessionCache::fill`] writes only where nothing is (SET NX), so a
/// validation racing a revocation cannot re-cache "valid".
#[async_trait]
pub trait SessionCache: Send + Sync + 'static {
    async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>>;
    /// Caches a valid session unless any entry (valid or tombstone) exists.
    async fn fill(&self, session: &Session, ttl: Duration) -> Result<()>;
    /// Marks the session revoked for `ttl`, replacing a cached "valid".
    async fn tombstone(&self, id: &SessionId, ttl: Duration) -> Result<()>;
}
