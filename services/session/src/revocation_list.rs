//! The revocation list (ListRevokedSessions): what a backend that verifies
//! access tokens itself needs to refuse the tokens of revoked sessions.
//!
//! Every revocation writes an entry in its own transaction
//! (`session_revocations`); an entry matters while a token of the session
//! may still verify, [`REVOCATION_HORIZON`] after the revocation, and is
//! pruned by the cleanup after that. Readers poll: each pass reads what
//! was revoked since the previous pass began, less [`SETTLE`], so an entry
//! whose transaction committed after a younger one was read is not missed;
//! a reader sees such entries more than once, which costs it nothing.

use chrono::{DateTime, Utc};
use latch_domain::{
    Result,
    model::{RevocationCursor, SessionRevocation},
};

use crate::{Sessions, cleanup::DELETE_BATCH};

/// The longest access-token lifetime Latch issues
/// ([`latch_domain::model::MAX_ACCESS_TOKEN_TTL`]), plus a minute for a
/// token signed while its session's revocation was under way and for clock
/// skew. Past it no token of a revoked session verifies, so its entry goes.
pub const REVOCATION_HORIZON: chrono::Duration =
    chrono::Duration::seconds(latch_domain::model::MAX_ACCESS_TOKEN_TTL.as_secs() as i64 + 60);

/// How much later than its `revoked_at` a revocation may commit (a slow
/// transaction, replicas' clocks apart). A pass starts this far before the
/// previous one began.
pub const SETTLE: chrono::Duration = chrono::Duration::seconds(10);

/// Where a reader of the list is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPosition {
    /// At the start of a pass over what was revoked at or after `since`.
    Since(DateTime<Utc>),
    /// Within a pass: after `after`; the next pass reads from `next_since`.
    Within {
        since: DateTime<Utc>,
        after: RevocationCursor,
        next_since: DateTime<Utc>,
    },
}

/// One page of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedPage {
    /// Oldest first.
    pub entries: Vec<SessionRevocation>,
    /// Where the reader goes on: at once when `more`, else at its next poll.
    pub next: ListPosition,
    pub more: bool,
}

impl Sessions {
    /// At most `size` entries of the revocation list from `from` (`None`:
    /// the whole list), and where to go on.
    pub async fn list_revoked(
        &self,
        from: Option<ListPosition>,
        size: usize,
    ) -> Result<RevokedPage> {
        let size = size.max(1);
        let now = self.deps.clock.now();
        let pass_start = now - SETTLE;
        let (since, after, next_since) = match from {
            None => (now - REVOCATION_HORIZON, None, pass_start),
            Some(ListPosition::Since(since)) => (since, None, pass_start),
            Some(ListPosition::Within {
                since,
                after,
                next_since,
            }) => (since, Some(after), next_since),
        };
        // A reader back after a long pause needs nothing older.
        let since = since.max(now - REVOCATION_HORIZON);
        let limit = u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1);
        let mut entries = self
            .deps
            .repo
            .list_revocations(since, after.as_ref(), limit)
            .await?;
        let more = entries.len() > size;
        entries.truncate(size);
        let next = match entries.last() {
            Some(last) if more => ListPosition::Within {
                since,
                after: RevocationCursor::after(last),
                next_since,
            },
            _ => ListPosition::Since(next_since),
        };
        Ok(RevokedPage {
            entries,
            next,
            more,
        })
    }

    /// When no token of a session revoked at `revoked_at` verifies any
    /// more.
    pub fn revocation_expires_at(&self, revoked_at: DateTime<Utc>) -> DateTime<Utc> {
        revoked_at + REVOCATION_HORIZON
    }

    /// Deletes the entries past the horizon, a batch at a time; returns
    /// how many.
    pub async fn prune_revocations(&self) -> Result<u64> {
        let before = self.deps.clock.now() - REVOCATION_HORIZON;
        let mut deleted = 0;
        loop {
            let batch = self
                .deps
                .repo
                .delete_revocations(before, DELETE_BATCH)
                .await?;
            deleted += batch;
            if batch < DELETE_BATCH {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use latch_domain::{Result, SessionId, UserId};

    use super::{ListPosition, REVOCATION_HORIZON};
    use crate::testing::{Harness, browser_client};

    fn ids(page: &super::RevokedPage) -> Vec<SessionId> {
        page.entries.iter().map(|e| e.session_id.clone()).collect()
    }

    #[tokio::test]
    async fn a_poller_sees_each_revocation_while_its_tokens_may_live() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let first = sessions.open(user, &browser_client()).await?;
        let second = sessions.open(user, &browser_client()).await?;
        sessions.open(UserId::new(), &browser_client()).await?;
        sessions.revoke_one(&first.id, "logout").await?;

        let page = sessions.list_revoked(None, 10).await?;
        assert_eq!(ids(&page), vec![first.id.clone()], "only revoked ones");
        assert!(!page.more);
        assert_eq!(
            sessions.revocation_expires_at(page.entries[0].revoked_at),
            h.clock_now() + REVOCATION_HORIZON
        );

        // A minute on: the new revocation, and the first once more (it was
        // within the settling time of the previous pass).
        h.clock.advance(TimeDelta::minutes(1));
        sessions.revoke_one(&second.id, "logout").await?;
        let page = sessions.list_revoked(Some(page.next), 10).await?;
        assert_eq!(ids(&page), vec![first.id.clone(), second.id.clone()]);
        // Then only what is newer, then nothing.
        h.clock.advance(TimeDelta::minutes(1));
        let page = sessions.list_revoked(Some(page.next), 10).await?;
        assert_eq!(ids(&page), vec![second.id.clone()]);
        let page = sessions.list_revoked(Some(page.next), 10).await?;
        assert!(page.entries.is_empty());

        // A newcomer gets the whole list; past the horizon it is empty.
        let whole = sessions.list_revoked(None, 10).await?;
        assert_eq!(ids(&whole), vec![first.id.clone(), second.id.clone()]);
        h.clock.advance(REVOCATION_HORIZON + TimeDelta::minutes(1));
        assert!(sessions.list_revoked(None, 10).await?.entries.is_empty());
        assert!(
            sessions
                .list_revoked(Some(page.next), 10)
                .await?
                .entries
                .is_empty(),
            "an old cursor reads nothing older than the horizon"
        );
        assert_eq!(sessions.prune_revocations().await?, 2);
        Ok(())
    }

    #[tokio::test]
    async fn a_revocation_committed_late_is_not_skipped() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let early = sessions.open(user, &browser_client()).await?;
        let late = sessions.open(user, &browser_client()).await?;
        sessions.revoke_one(&early.id, "logout").await?;
        let page = sessions.list_revoked(None, 10).await?;
        assert_eq!(ids(&page), vec![early.id.clone()]);
        // Revoked by a replica whose clock reads a few seconds behind (or
        // whose transaction took that long), committed after the read.
        h.clock.advance(TimeDelta::seconds(-3));
        sessions.revoke_one(&late.id, "logout").await?;
        h.clock.advance(TimeDelta::seconds(3));
        let next = sessions.list_revoked(Some(page.next), 10).await?;
        assert!(ids(&next).contains(&late.id), "{next:?}");
        Ok(())
    }

    #[tokio::test]
    async fn pages_follow_each_other_within_a_pass() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        for _ in 0..5 {
            sessions.open(user, &browser_client()).await?;
        }
        assert_eq!(sessions.revoke_many(user, None, "admin").await?, 5);
        let mut seen = Vec::new();
        let mut from = None;
        loop {
            let page = sessions.list_revoked(from, 2).await?;
            assert!(page.entries.len() <= 2);
            seen.extend(ids(&page));
            from = Some(page.next.clone());
            if !page.more {
                assert!(matches!(page.next, ListPosition::Since(_)));
                break;
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
        Ok(())
    }
}
