//! The session cache in memory.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{
    Clock, Result, SessionId,
    model::Session,
    ports::{CachedSession, SessionCache},
};

use super::expiring::ExpiringMap;

/// Valid entries and tombstones per session id, with the Redis adapter's
/// coherence: `fill` writes only where nothing is, `tombstone` overwrites.
pub struct MemorySessionCache {
    entries: ExpiringMap<SessionId, CachedSession>,
}

impl MemorySessionCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: ExpiringMap::new(clock),
        }
    }
}

#[async_trait]
impl SessionCache for MemorySessionCache {
    async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>> {
        Ok(self.entries.with(id, |e| e.get(id).map(|(v, _)| v.clone())))
    }

    async fn fill(&self, session: &Session, ttl: Duration) -> Result<()> {
        self.entries.with(&session.id, |mut e| {
            if e.get(&session.id).is_none() {
                let entry = CachedSession::Valid(Box::new(session.clone()));
                e.insert(session.id.clone(), entry, ttl);
            }
        });
        Ok(())
    }

    async fn tombstone(&self, id: &SessionId, ttl: Duration) -> Result<()> {
        self.entries.with(id, |mut e| {
            e.insert(id.clone(), CachedSession::Revoked, ttl)
        });
        Ok(())
    }
}
