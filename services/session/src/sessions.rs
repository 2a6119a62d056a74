//! [`Sessions`]: the session service's flows behind one handle, and its
//! place as the [`SessionDirectory`] other services call.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Clock, Result, SessionId, UserId,
    model::{ClientInfo, Session, SessionCursor, SessionQuery},
    ports::{EventBus, SessionCache, SessionDirectory, SessionRepository},
};

use crate::{
    config::{SessionConfig, chrono_duration},
    geo::GeoIp,
    local_cache::LocalCache,
    touch::TouchLog,
    validate::Lookup,
};

/// The ports the session service runs on.
#[derive(Clone)]
pub struct SessionDeps {
    pub repo: Arc<dyn SessionRepository>,
    /// `session:valid:{id}` / `session:{id}`, shared by every replica.
    pub cache: Arc<dyn SessionCache>,
    /// `session:created` and `session:revoked`.
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    /// Places a new session's address (`LATCH_GEOIP_DB`, [`crate::geo`]);
    /// `None`: sessions carry no location.
    pub geoip: Option<Arc<dyn GeoIp>>,
}

/// Creates, validates, touches and revokes sessions. Cheap to share: build
/// one per process with [`Sessions::new`] and start
/// [`Sessions::spawn_revocation_listener`] so that its in-memory cache is
/// used (and dropped as revocations arrive from any replica).
pub struct Sessions {
    pub(crate) deps: SessionDeps,
    pub(crate) config: SessionConfig,
    pub(crate) absolute_ttl: Duration,
    pub(crate) idle_ttl: Duration,
    pub(crate) touch_interval: Duration,
    pub(crate) local: LocalCache,
    pub(crate) touches: TouchLog,
}

impl Sessions {
    pub fn new(deps: SessionDeps, config: SessionConfig) -> Arc<Sessions> {
        Arc::new(Self {
            deps,
            absolute_ttl: chrono_duration(config.absolute_ttl),
            idle_ttl: chrono_duration(config.idle_ttl),
            touch_interval: chrono_duration(config.touch_interval),
            local: LocalCache::new(chrono_duration(config.local_cache_ttl)),
            touches: TouchLog::new(),
            config,
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// When `session` ends if there is no more activity (never after its
    /// absolute end).
    pub fn idle_expires_at(&self, session: &Session) -> DateTime<Utc> {
        session.idle_expires_at(self.idle_ttl)
    }

    /// The stored session, live or not, read from the database.
    pub async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        self.deps.repo.get(id).await
    }

    /// One page of a user's sessions, most recently active first, after
    /// `after`, and the cursor of the next page (`None` on the last).
    /// Without `include_revoked`, only live ones: not revoked, expired or
    /// idle. Read page by page from the database, so a user with many
    /// sessions costs one bounded read per page.
    pub async fn list_page(
        &self,
        user: UserId,
        include_revoked: bool,
        after: Option<SessionCursor>,
        size: usize,
    ) -> Result<(Vec<Session>, Option<SessionCursor>)> {
        let size = size.max(1);
        let live_at = (!include_revoked).then(|| (self.deps.clock.now(), self.idle_ttl));
        let query = SessionQuery {
            live_at,
            after,
            // One more than the page says whether another page follows.
            limit: u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1),
        };
        let mut sessions = self.deps.repo.list_for_user(user, &query).await?;
        let next = if sessions.len() > size {
            sessions.truncate(size);
            sessions.last().map(SessionCursor::after)
        } else {
            None
        };
        Ok((sessions, next))
    }
}

#[async_trait]
impl SessionDirectory for Sessions {
    /// Opens a session; see [`Sessions::open`].
    async fn create(&self, user: UserId, client: &ClientInfo) -> Result<Session> {
        self.open(user, client).await
    }

    /// The session while it is live; `None` when unknown, revoked, past its
    /// absolute end or idle too long. Served from the caches when it can;
    /// with the shared cache down it reads the database, never failing open.
    async fn validate(&self, id: &SessionId) -> Result<Option<Session>> {
        // Not `inspect`: a tombstone answers without reading the database.
        Ok(match self.lookup(id).await? {
            Lookup::Live(session) => Some(session),
            Lookup::Ended(_) | Lookup::Revoked | Lookup::Unknown => None,
        })
    }

    /// Activity, written at most once per touch interval; see
    /// [`Sessions::touch`].
    async fn touch(&self, id: &SessionId) -> Result<()> {
        Sessions::touch(self, id).await
    }

    /// Idempotent: true when this call revoked it; see [`Sessions::revoke_one`].
    async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool> {
        self.revoke_one(id, reason).await
    }

    /// Revokes every live session of `user` but `except`; returns how many
    /// this call revoked. See [`Sessions::revoke_many`].
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        self.revoke_many(user, except, reason).await
    }
}
