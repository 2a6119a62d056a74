//! DeleteUser as a saga: gone at once for every flow, each sibling's part
//! through the outbox (surviving a failure halfway), run again at will,
//! and nothing left once the retention ends.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicU32, Ordering},
};

use async_trait::async_trait;
use chrono::Duration;
use latch_domain::{
    Error, Reason, Result, UserId,
    events::EventPayload,
    model::{ClientInfo, Tombstoning},
    ports::{
        LoginHistoryRepository as _, OutboxRepository as _, OutboxStatus, ProfileRepository as _,
        UserAdminRepository as _, UserDataEraser, UserDirectory as _,
    },
};
use latch_runtime::outbox::{OutboxConfig, OutboxWorker, Outcome};
use latch_store::sql::SqlProfiles;

use super::{ACCOUNT_DELETED, steps::ERASE_KINDS};
use crate::{
    CleanupConfig, IdentityCleanup, UserErasers, UserStatusReader, admin_handlers,
    testing::{Harness, PASSWORD},
};

/// A sibling's eraser that records whom it erased and fails its first
/// `failures` calls, as a sibling that is down for a while.
#[derive(Default)]
struct Sibling {
    erased: Mutex<Vec<UserId>>,
    failures: AtomicU32,
}

impl Sibling {
    fn failing(times: u32) -> Arc<Self> {
        Arc::new(Self {
            failures: AtomicU32::new(times),
            ..Self::default()
        })
    }

    fn erased(&self) -> Vec<UserId> {
        self.erased
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl UserDataEraser for Sibling {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::unavailable(std::io::Error::other("sibling down")));
        }
        self.erased
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(user);
        Ok(1)
    }
}

struct Saga {
    sessions: Arc<Sibling>,
    tokens: Arc<Sibling>,
    erasers: UserErasers,
}

/// Fake session and token siblings (`sessions` failing `session_failures`
/// times), the real authorization and profile flows of the harness.
fn saga(h: &Harness, session_failures: u32) -> Saga {
    let sessions = Sibling::failing(session_failures);
    let tokens = Sibling::failing(0);
    let erasers = UserErasers {
        sessions: sessions.clone(),
        tokens: tokens.clone(),
        roles: h.roles.clone(),
        profiles: h.profiles.clone(),
    };
    Saga {
        sessions,
        tokens,
        erasers,
    }
}

fn worker(h: &Harness, erasers: &UserErasers) -> OutboxWorker {
    OutboxWorker::new(
        h.outbox.clone(),
        Arc::new(h.clock.clone()),
        OutboxConfig::default(),
        admin_handlers(h.sessions.clone(), erasers),
    )
    .unwrap_or_else(|e| panic!("worker: {e}"))
}

fn cleanup(h: &Harness, erasers: UserErasers) -> Arc<IdentityCleanup> {
    IdentityCleanup::new(
        crate::CleanupStores {
            admin: h.users.clone(),
            history: h.history.clone(),
            resets: Arc::new(latch_store::sql::SqlPasswordResets::new(h.db().clone())),
            second_factors: h.second_factors.clone(),
        },
        erasers,
        Arc::new(h.clock.clone()),
        CleanupConfig::default(),
        latch_runtime::metrics::CleanupCounter::global(),
    )
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".into()),
        user_agent: Some("test".into()),
    }
}

async fn erase_rows(h: &Harness, user: UserId) -> Vec<(String, OutboxStatus)> {
    h.outbox
        .find_by_key(&user.to_string())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|row| row.kind.starts_with("identity.erase_"))
        .map(|row| (row.kind, row.status))
        .collect()
}

#[tokio::test]
async fn a_deleted_user_is_gone_at_once_and_everywhere_after_a_crash_halfway() -> Result<()> {
    let h = Harness::new().await;
    let email = "gone@example.com";
    let user = h.sign_up(email).await?.user.id;
    h.log_in(email, PASSWORD, client()).await?;
    assert!(!h.history.list(user, 10).await?.is_empty());
    assert!(!h.roles.user_roles(user).await?.is_empty());

    h.identity.delete_user(user).await?;

    // Gone at once for every flow: GetUser, login, refresh's status check.
    assert_eq!(
        h.identity.get_user(user).await.unwrap_err().reason(),
        Reason::NotFound
    );
    let err = h.log_in(email, PASSWORD, client()).await.unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidCredentials);
    assert_eq!(
        UserStatusReader::new(h.users.clone()).status(user).await?,
        None
    );
    assert!(
        h.history.list(user, 10).await?.is_empty(),
        "identity's own rows go with the tombstone"
    );
    // Its sessions are revoked at once, and the event is written with
    // the tombstone.
    let revoked = h
        .sessions
        .revoked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(!revoked.is_empty());
    assert!(revoked.iter().all(|(_, reason)| reason == ACCOUNT_DELETED));
    let deleted = EventPayload::UserDeleted { user_id: user };
    assert_eq!(h.events_of(user).await.last(), Some(&deleted));

    // One row per sibling, pending.
    let rows = erase_rows(&h, user).await;
    let mut kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    kinds.sort_unstable();
    let mut expected = ERASE_KINDS.to_vec();
    expected.sort_unstable();
    assert_eq!(kinds, expected);

    // The session service fails the first time: the others finish, its
    // row waits for the backoff and then finishes too.
    let saga = saga(&h, 1);
    let worker = worker(&h, &saga.erasers);
    let mut outcomes = worker.run_once().await?;
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        vec![
            Outcome::Done,
            Outcome::Done,
            Outcome::Done,
            Outcome::Retried
        ]
    );
    assert_eq!(
        SqlProfiles::new(h.db().clone()).get(user).await?,
        None,
        "the profile is gone"
    );
    assert!(
        h.roles.user_roles(user).await?.is_empty(),
        "the roles are gone"
    );
    assert_eq!(saga.tokens.erased(), vec![user]);
    assert!(saga.sessions.erased().is_empty());
    h.clock.advance(Duration::seconds(2));
    assert_eq!(worker.run_once().await?, vec![Outcome::Done]);
    assert_eq!(saga.sessions.erased(), vec![user]);
    assert!(
        erase_rows(&h, user)
            .await
            .iter()
            .all(|(_, status)| *status == OutboxStatus::Done)
    );

    // Run again: answered OK, every part queued (and done) again; the
    // deletion is not announced twice.
    h.identity.delete_user(user).await?;
    assert_eq!(erase_rows(&h, user).await.len(), 8);
    let events = h.events_of(user).await;
    assert_eq!(events.iter().filter(|e| **e == deleted).count(), 1);
    assert_eq!(worker.drain().await?.len(), 4);

    // Within the retention the tombstone stays; after it, one last sweep
    // and nothing is left.
    let job = cleanup(&h, saga.erasers.clone());
    assert_eq!(job.run_once().await.users_purged, 0);
    h.clock.advance(Duration::days(31));
    assert_eq!(job.run_once().await.users_purged, 1);
    assert_eq!(saga.sessions.erased(), vec![user, user, user]);
    assert_eq!(
        h.users.tombstone(user, h.clock_now(), &[], &[]).await?,
        Tombstoning::NotFound,
        "the users row is gone"
    );
    assert_eq!(
        h.identity.delete_user(user).await.unwrap_err().reason(),
        Reason::NotFound
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_user_is_not_found_and_nothing_is_queued() -> Result<()> {
    let h = Harness::new().await;
    let nobody = UserId::new();
    let err = h.identity.delete_user(nobody).await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert!(h.outbox.find_by_key(&nobody.to_string()).await?.is_empty());
    assert!(
        h.sessions
            .revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_tombstone_whose_sweep_fails_waits_for_the_next_run() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("sweep@example.com").await?.user.id;
    h.identity.delete_user(user).await?;
    h.clock.advance(Duration::days(31));

    let down = saga(&h, 1);
    let job = cleanup(&h, down.erasers.clone());
    assert_eq!(job.run_once().await.users_purged, 0, "a sibling was down");
    assert!(
        h.users
            .deleted_before(h.clock_now(), 10)
            .await?
            .contains(&user),
        "the tombstone stays while anything may be left"
    );
    assert_eq!(job.run_once().await.users_purged, 1);
    Ok(())
}
