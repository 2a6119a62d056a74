//! A token this process issued rotates without being looked up, and what
//! the database says still decides: a token spent or a family revoked
//! elsewhere (another replica) is answered as if it had been read.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::TimeDelta;
use latch_domain::{Reason, Result};

use super::{Twist, Twisted};
use crate::{
    Tokens,
    testing::{Harness, client},
};

/// Another replica of the token service on the same database.
async fn replica(h: &Harness) -> Arc<Tokens> {
    Tokens::start(h.deps(), h.config.clone(), h.secrets.clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_this_process_issued_rotates_without_a_lookup() -> Result<()> {
    let h = Harness::new().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let tokens = Twisted::start(&h, Twist::CountsLookups(lookups.clone())).await?;
    let (user, session) = h.signed_in();
    let first = tokens.issue_tokens(user, &session, &client()).await?;

    let second = tokens.refresh(&first.refresh_token, &client()).await?;
    let third = tokens.refresh(&second.refresh_token, &client()).await?;
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
    let (spent, _) = h.stored(&second.refresh_token).await?.unwrap();
    assert!(spent.spent_at.is_some(), "the rotation still spent it");

    // Presented again, a token is read: here a duplicate in the grace.
    h.advance(TimeDelta::seconds(1));
    let again = tokens.refresh(&second.refresh_token, &client()).await?;
    assert_eq!(again.refresh_token, third.refresh_token);
    assert!(lookups.load(Ordering::SeqCst) > 0);
    Ok(())
}

#[tokio::test]
async fn a_token_spent_on_another_replica_is_a_duplicate_here() -> Result<()> {
    let h = Harness::new().await;
    let other = replica(&h).await;
    let first = h.issue().await;
    let successor = other.refresh(&first.refresh_token, &client()).await?;

    h.advance(TimeDelta::seconds(1));
    let again = h.refresh(&first.refresh_token).await?;
    assert_eq!(again.refresh_token, successor.refresh_token);
    assert!(h.sessions.revocations().is_empty());
    assert_eq!(h.count_rows("refresh_tokens").await, 2, "one successor");
    Ok(())
}

#[tokio::test]
async fn a_token_spent_on_another_replica_long_ago_is_reuse_here() -> Result<()> {
    let h = Harness::new().await;
    let other = replica(&h).await;
    let first = h.issue().await;
    let successor = other.refresh(&first.refresh_token, &client()).await?;

    h.advance(TimeDelta::seconds(11));
    let duplicate = h.refresh(&first.refresh_token).await;
    h.assert_reuse_detected(duplicate, &first, &successor).await
}

#[tokio::test]
async fn a_family_revoked_on_another_replica_yields_nothing_here() -> Result<()> {
    let h = Harness::new().await;
    let other = replica(&h).await;
    let first = h.issue().await;
    other.revoke_refresh_token(&first.refresh_token).await?;

    assert_eq!(h.refused(&first.refresh_token).await, Reason::TokenInvalid);
    let (token, _) = h.stored(&first.refresh_token).await?.unwrap();
    assert_eq!(token.spent_at, None);
    assert_eq!(h.count_rows("refresh_tokens").await, 1);
    Ok(())
}
