//! Recording activity. Touching happens on the hot path of every request,
//! so a session's activity is written at most once per `touch_interval`
//! (per process); in between, a touch costs only a cache lookup.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use chrono::{DateTime, Utc};
use latch_domain::{Error, Reason, Result, SessionId};

use crate::{Sessions, validate::Lookup};

/// Writes kept in memory at most; older ones are forgotten first.
const CAPACITY: usize = 10_000;

impl Sessions {
    /// Moves `last_active_at` (and so the idle expiry) to now.
    /// `NOT_FOUND` for an unknown session, `SESSION_REVOKED` for one that is
    /// revoked, expired or idle too long: activity does not revive it.
    pub async fn touch(&self, id: &SessionId) -> Result<()> {
        let session = match self.lookup(id).await? {
            Lookup::Live(session) => session,
            Lookup::Ended(_) | Lookup::Revoked => {
                return Err(Error::new(
                    Reason::SessionRevoked,
                    "the session is revoked or expired",
                ));
            }
            Lookup::Unknown => return Err(Error::not_found("session")),
        };
        let now = self.deps.clock.now();
        let last_written = self
            .touches
            .last(id)
            .map_or(session.last_active_at, |at| at.max(session.last_active_at));
        if now - last_written < self.touch_interval {
            return Ok(());
        }
        if !self.deps.repo.touch(id, now).await? {
            return Err(Error::not_found("session"));
        }
        self.touches.record(id, now, now - self.touch_interval);
        self.local.note_activity(id, now);
        Ok(())
    }
}

/// When this process last wrote each session's activity. The cached copies
/// of a session keep the activity they were filled with, so without this a
/// busy session would be written on every touch until they expire.
#[derive(Debug, Default)]
pub(crate) struct TouchLog {
    written: Mutex<HashMap<SessionId, DateTime<Utc>>>,
}

impl TouchLog {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn last(&self, id: &SessionId) -> Option<DateTime<Utc>> {
        self.lock().get(id).copied()
    }

    /// Records a write at `at`; when full, forgets writes before `forget_before`
    /// (they no longer throttle anything), then the oldest.
    fn record(&self, id: &SessionId, at: DateTime<Utc>, forget_before: DateTime<Utc>) {
        let mut written = self.lock();
        if written.len() >= CAPACITY && !written.contains_key(id) {
            written.retain(|_, last| *last >= forget_before);
            if written.len() >= CAPACITY {
                let oldest = written
                    .iter()
                    .min_by_key(|(_, last)| **last)
                    .map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    written.remove(&oldest);
                }
            }
        }
        written.insert(id.clone(), at);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, DateTime<Utc>>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use latch_domain::{
        Reason, Result, SessionId, UserId,
        ports::{SessionDirectory, SessionRepository},
    };

    use crate::testing::{Harness, browser_client};

    #[tokio::test]
    async fn activity_is_written_at_most_once_per_interval() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;

        h.clock.advance(Duration::seconds(30));
        sessions.touch(&session.id).await?;
        assert_eq!(h.repo.touches(), 0, "created 30 s ago is recent enough");

        h.clock.advance(Duration::seconds(31));
        sessions.touch(&session.id).await?;
        assert_eq!(h.repo.touches(), 1);
        let stored = h.repo.get(&session.id).await?.unwrap();
        assert_eq!(stored.last_active_at, h.clock_now());

        // The cached copy still says "created"; the write is remembered.
        h.clock.advance(Duration::seconds(59));
        sessions.touch(&session.id).await?;
        assert_eq!(h.repo.touches(), 1);
        h.clock.advance(Duration::seconds(1));
        sessions.touch(&session.id).await?;
        assert_eq!(h.repo.touches(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn touch_refuses_unknown_and_ended_sessions() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let err = sessions.touch(&SessionId::generate()?).await.unwrap_err();
        assert!(err.is(Reason::NotFound));

        let revoked = sessions.open(UserId::new(), &browser_client()).await?;
        sessions.revoke(&revoked.id, "logout").await?;
        let err = sessions.touch(&revoked.id).await.unwrap_err();
        assert!(err.is(Reason::SessionRevoked));

        let idle = sessions.open(UserId::new(), &browser_client()).await?;
        h.clock.advance(Duration::days(7));
        let err = sessions.touch(&idle.id).await.unwrap_err();
        assert!(
            err.is(Reason::SessionRevoked),
            "activity does not revive it"
        );
        assert_eq!(h.repo.touches(), 0);
        Ok(())
    }
}
