//! Validation: the local cache, then the shared cache, then the database.
//!
//! Every copy read from a cache is judged again against the clock: past its
//! absolute end it is invalid at once; apparently idle, it is read from the
//! database, since activity recorded after it was cached would not show.

use chrono::{DateTime, Utc};
use latch_domain::{Result, SessionId, model::Session, ports::CachedSession};

use crate::{Sessions, local_cache::LocalHit};

/// The answer to "is this session valid?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub valid: bool,
    /// The session when it exists, valid or not.
    pub session: Option<Session>,
}

impl Validation {
    /// The session when it is valid.
    pub fn live(self) -> Option<Session> {
        self.session.filter(|_| self.valid)
    }
}

/// What one lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Live(Session),
    /// Revoked, expired or idle, with the record that says so.
    Ended(Session),
    /// A tombstone or revocation marker: revoked, record not read.
    Revoked,
    Unknown,
}

impl Sessions {
    /// Whether `id` is a live session, with the session when it exists.
    /// A session known only by a cache tombstone is read from the database
    /// for its details.
    pub async fn inspect(&self, id: &SessionId) -> Result<Validation> {
        Ok(match self.lookup(id).await? {
            Lookup::Live(session) => Validation {
                valid: true,
                session: Some(session),
            },
            Lookup::Ended(session) => Validation {
                valid: false,
                session: Some(session),
            },
            Lookup::Revoked => Validation {
                valid: false,
                session: self.deps.repo.get(id).await?,
            },
            Lookup::Unknown => Validation {
                valid: false,
                session: None,
            },
        })
    }

    pub(crate) async fn lookup(&self, id: &SessionId) -> Result<Lookup> {
        let now = self.deps.clock.now();
        match self.local.get(id, now) {
            Some(LocalHit::Revoked) => return Ok(Lookup::Revoked),
            Some(LocalHit::Valid(session)) => {
                return match self.judge_cached(*session, now) {
                    Some(found) => Ok(found),
                    None => self.load(id, now, true).await,
                };
            }
            None => {}
        }

        let shared_cache_up = match self.deps.cache.get(id).await {
            Ok(Some(CachedSession::Revoked)) => {
                self.local.mark_revoked(id, now);
                return Ok(Lookup::Revoked);
            }
            Ok(Some(CachedSession::Valid(session))) => match self.judge_cached(*session, now) {
                Some(Lookup::Live(session)) => {
                    self.local.insert_valid(&session, now);
                    return Ok(Lookup::Live(session));
                }
                Some(found) => return Ok(found),
                None => true,
            },
            Ok(None) => true,
            Err(error) => {
                tracing::warn!(%error, "session cache unavailable; validating against the database");
                false
            }
        };
        self.load(id, now, shared_cache_up).await
    }

    /// A cached copy judged on the clock; `None` when only the database can
    /// tell (it looks idle, but activity may have been recorded since).
    fn judge_cached(&self, session: Session, now: DateTime<Utc>) -> Option<Lookup> {
        if session.revoked_at.is_some() || now >= session.expires_at {
            Some(Lookup::Ended(session))
        } else if session.is_active(now, self.idle_ttl) {
            Some(Lookup::Live(session))
        } else {
            None
        }
    }

    /// Reads the database and fills the caches from it. The shared fill is
    /// SET NX, and the local one yields to a revocation marker, so a
    /// revocation racing this read is never undone.
    async fn load(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        shared_cache_up: bool,
    ) -> Result<Lookup> {
        let Some(session) = self.deps.repo.get(id).await? else {
            return Ok(Lookup::Unknown);
        };
        if session.is_active(now, self.idle_ttl) {
            if shared_cache_up
                && let Err(error) = self.deps.cache.fill(&session, self.config.cache_ttl).await
            {
                tracing::warn!(%error, "session cache unavailable; validity not cached");
            }
            self.local.insert_valid(&session, now);
            return Ok(Lookup::Live(session));
        }
        if session.revoked_at.is_some() {
            // Spares the database the next time this id comes back.
            self.local.mark_revoked(id, now);
            if shared_cache_up
                && let Err(error) = self.deps.cache.tombstone(id, self.config.cache_ttl).await
            {
                tracing::warn!(%error, "session cache unavailable; revocation not cached");
            }
        }
        Ok(Lookup::Ended(session))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::Duration;
    use latch_domain::{
        Result, SessionId, UserId,
        ports::{CachedSession, SessionCache, SessionDirectory},
    };

    use crate::{
        SessionConfig,
        testing::{Harness, browser_client},
    };

    #[tokio::test]
    async fn validate_fills_the_cache_and_the_next_is_served_from_it() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        // Past the cache TTL, so the fill at creation is gone.
        h.clock.advance(Duration::minutes(6));
        assert_eq!(h.cache.get(&session.id).await?, None);

        assert_eq!(
            sessions.validate(&session.id).await?.map(|s| s.id),
            Some(session.id.clone())
        );
        assert_eq!(h.repo.gets(), 1);
        assert!(matches!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Valid(_))
        ));

        assert!(sessions.validate(&session.id).await?.is_some());
        assert_eq!(h.repo.gets(), 1, "the second validation read the database");
        Ok(())
    }

    #[tokio::test]
    async fn the_local_cache_serves_repeated_validations() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.listening_replica().await;
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        // Even with the shared cache unreachable, the local copy answers.
        h.cache.set_down(true);
        assert!(sessions.validate(&session.id).await?.is_some());
        assert_eq!(h.repo.gets(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn unknown_sessions_are_invalid_not_errors() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let id = SessionId::generate()?;
        assert_eq!(sessions.validate(&id).await?, None);
        let inspected = sessions.inspect(&id).await?;
        assert!(!inspected.valid);
        assert_eq!(inspected.session, None);
        Ok(())
    }

    #[tokio::test]
    async fn idle_sessions_end() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;

        h.clock.advance(Duration::days(7) - Duration::seconds(1));
        assert!(sessions.validate(&session.id).await?.is_some());
        h.clock.advance(Duration::seconds(1));
        assert_eq!(sessions.validate(&session.id).await?, None);
        let inspected = sessions.inspect(&session.id).await?;
        assert!(!inspected.valid);
        assert_eq!(inspected.session.map(|s| s.id), Some(session.id));
        Ok(())
    }

    #[tokio::test]
    async fn activity_keeps_a_session_past_the_idle_timeout() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        h.clock.advance(Duration::days(6));
        sessions.touch(&session.id).await?;
        h.clock.advance(Duration::days(6));
        assert!(sessions.validate(&session.id).await?.is_some());
        Ok(())
    }

    #[tokio::test]
    async fn absolute_expiry_holds_whatever_the_activity() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        for _ in 0..29 {
            h.clock.advance(Duration::days(1));
            sessions.touch(&session.id).await?;
        }
        h.clock.advance(Duration::days(1));
        assert_eq!(sessions.validate(&session.id).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn cache_hits_are_judged_on_the_clock() -> Result<()> {
        let h = Harness::new().await;
        let config = SessionConfig {
            absolute_ttl: StdDuration::from_secs(3600),
            cache_ttl: StdDuration::from_secs(2 * 3600),
            ..SessionConfig::default()
        };
        let sessions = h.replica_with(config);
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        assert!(sessions.validate(&session.id).await?.is_some());

        h.clock.advance(Duration::hours(1));
        assert_eq!(sessions.validate(&session.id).await?, None);
        assert_eq!(
            h.repo.gets(),
            0,
            "the expired copy was judged without the database"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_cached_copy_that_looks_idle_is_checked_against_the_database() -> Result<()> {
        let h = Harness::new().await;
        let config = SessionConfig {
            idle_ttl: StdDuration::from_secs(10 * 60),
            cache_ttl: StdDuration::from_secs(30 * 60),
            ..SessionConfig::default()
        };
        let toucher = h.replica_with(config);
        let session = toucher.open(UserId::new(), &browser_client()).await?;
        h.clock.advance(Duration::minutes(5));
        toucher.touch(&session.id).await?;

        // The shared copy still says "last active at creation".
        h.clock.advance(Duration::minutes(7));
        let other = h.replica_with(config);
        assert!(other.validate(&session.id).await?.is_some());
        assert_eq!(h.repo.gets(), 1);

        h.clock.advance(Duration::minutes(4));
        assert_eq!(other.validate(&session.id).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn with_the_cache_down_validation_reads_the_database() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let live = sessions.open(UserId::new(), &browser_client()).await?;
        let revoked = sessions.open(UserId::new(), &browser_client()).await?;
        sessions.revoke(&revoked.id, "logout").await?;

        h.cache.set_down(true);
        assert!(sessions.validate(&live.id).await?.is_some());
        assert_eq!(sessions.validate(&revoked.id).await?, None);
        assert_eq!(h.repo.gets(), 2);
        Ok(())
    }
}
