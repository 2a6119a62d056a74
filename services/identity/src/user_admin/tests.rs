//! SetUserStatus and ListUsers as flows: what a suspension ends at once
//! and what it queues, what each refusal leaves unchanged.

use std::sync::{PoisonError, atomic::Ordering};

use chrono::Duration;
use latch_domain::{
    Reason, Result, UserId,
    model::{ClientInfo, UserQuery, UserStatus},
    ports::{OutboxRepository as _, UserRepository as _},
};

use super::ACCOUNT_SUSPENDED;
use crate::{
    REVOKE_SESSIONS,
    testing::{Harness, PASSWORD},
};

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".into()),
        user_agent: Some("test".into()),
    }
}

fn revocations(h: &Harness) -> Vec<String> {
    h.sessions
        .revoked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(_, reason)| reason.clone())
        .collect()
}

async fn queued_revocations(h: &Harness, user: UserId) -> usize {
    h.outbox
        .find_by_key(&user.to_string())
        .await
        .unwrap_or_default()
        .iter()
        .filter(|row| row.kind == REVOKE_SESSIONS)
        .count()
}

#[tokio::test]
async fn suspending_ends_every_session_at_once_and_queues_it_too() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("suspend@example.com").await?.user.id;
    h.log_in("suspend@example.com", PASSWORD, client()).await?;

    let suspended = h
        .identity
        .set_user_status(user, UserStatus::Suspended)
        .await?;
    assert_eq!(suspended.status, UserStatus::Suspended);
    assert_eq!(revocations(&h), vec![ACCOUNT_SUSPENDED; 2]);
    assert_eq!(queued_revocations(&h, user).await, 1);
    assert_eq!(h.updates_of(user).await, [["status"]]);
    let err = h
        .log_in("suspend@example.com", PASSWORD, client())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::AccountInactive);

    // Again: nothing changes and nothing is queued (no event either),
    // the sessions are revoked once more (none left).
    h.identity
        .set_user_status(user, UserStatus::Suspended)
        .await?;
    assert_eq!(queued_revocations(&h, user).await, 1);
    assert_eq!(h.updates_of(user).await.len(), 1);

    // Deactivating is a change; activating revokes nothing.
    h.identity
        .set_user_status(user, UserStatus::Deactivated)
        .await?;
    assert_eq!(queued_revocations(&h, user).await, 2);
    let active = h.identity.set_user_status(user, UserStatus::Active).await?;
    assert_eq!(active.status, UserStatus::Active);
    assert_eq!(queued_revocations(&h, user).await, 2);
    assert_eq!(h.updates_of(user).await, [["status"]; 3]);
    h.log_in("suspend@example.com", PASSWORD, client()).await?;
    Ok(())
}

#[tokio::test]
async fn with_the_session_service_down_the_queued_row_finishes_it() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("down@example.com").await?.user.id;
    h.sessions.revoke_all_fails.store(true, Ordering::SeqCst);

    let suspended = h
        .identity
        .set_user_status(user, UserStatus::Suspended)
        .await?;
    assert_eq!(suspended.status, UserStatus::Suspended);
    assert_eq!(queued_revocations(&h, user).await, 1, "the outbox has it");

    // Run again while still down: nothing was queued by this call, so the
    // failure is the caller's.
    let err = h
        .identity
        .set_user_status(user, UserStatus::Suspended)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable);
    Ok(())
}

#[tokio::test]
async fn refusals_change_nothing() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("refused@example.com").await?.user.id;
    let before = h.identity.get_user(user).await?;

    let err = h
        .identity
        .set_user_status(user, UserStatus::Pending)
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("status"));
    let err = h
        .identity
        .set_user_status(UserId::new(), UserStatus::Suspended)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);

    // A sign-up that has not finished is left to its saga.
    h.users
        .set_status(user, UserStatus::Pending, h.clock_now(), &[])
        .await?;
    let err = h
        .identity
        .set_user_status(user, UserStatus::Suspended)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::AccountInactive);
    let after = h
        .users
        .get(user)
        .await?
        .unwrap_or_else(|| panic!("the user"));
    assert_eq!(after.status, UserStatus::Pending);
    assert_eq!(after.updated_at, before.updated_at.max(after.updated_at));
    assert_eq!(queued_revocations(&h, user).await, 0);
    assert!(revocations(&h).is_empty());
    Ok(())
}

#[tokio::test]
async fn users_are_listed_newest_first_a_page_at_a_time_without_the_deleted() -> Result<()> {
    let h = Harness::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(h.sign_up(&format!("list{i}@example.com")).await?.user.id);
        h.clock.advance(Duration::seconds(1));
    }
    h.identity.delete_user(ids[2]).await?;
    ids.remove(2);
    ids.reverse();

    let query = |after| UserQuery {
        email_prefix: Some("list".into()),
        after,
        limit: 3,
        ..UserQuery::default()
    };
    let (first, next) = h.identity.list_users(query(None)).await?;
    assert_eq!(first.iter().map(|u| u.id).collect::<Vec<_>>(), ids[..3]);
    assert!(next.is_some());
    let (second, last) = h.identity.list_users(query(next)).await?;
    assert_eq!(second.iter().map(|u| u.id).collect::<Vec<_>>(), ids[3..]);
    assert_eq!(last, None, "the last page says so");
    Ok(())
}
