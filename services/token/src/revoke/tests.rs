//! Revocation and cleanup on real storage.

use chrono::TimeDelta;
use latch_domain::{Reason, Result, ports::TokenRevoker};

use crate::{
    FamilyRevoker,
    testing::{Harness, client},
};

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let second = h.tokens.refresh(&first.refresh_token, &client()).await?;
    // RFC 7009: an old token of the family revokes it too.
    h.tokens.revoke_refresh_token(&first.refresh_token).await?;
    let err = h
        .tokens
        .refresh(&second.refresh_token, &client())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenInvalid);
    assert!(
        h.sessions.revocations().is_empty(),
        "the session is left alone"
    );
    Ok(())
}

#[tokio::test]
async fn revoking_anything_else_is_ok_too() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    for token in ["", "unknown", &"x".repeat(10_000), &pair.access_token] {
        h.tokens.revoke_refresh_token(token).await?;
    }
    h.tokens.revoke_refresh_token(&pair.refresh_token).await?;
    h.tokens.revoke_refresh_token(&pair.refresh_token).await?;
    Ok(())
}

#[tokio::test]
async fn the_session_service_revokes_a_sessions_families() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let deps = h.deps();
    let revoker = FamilyRevoker::new(deps.refresh_tokens, deps.clock);
    assert_eq!(
        revoker
            .revoke_session_families(&pair.session_id, "logout")
            .await?,
        1
    );
    assert_eq!(
        revoker
            .revoke_session_families(&pair.session_id, "logout")
            .await?,
        0
    );
    let err = h
        .tokens
        .refresh(&pair.refresh_token, &client())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::SessionRevoked);
    Ok(())
}

#[tokio::test]
async fn revoking_all_of_a_users_families_spares_other_users() -> Result<()> {
    let h = Harness::new().await;
    let mine = h.issue().await;
    let (user, second_session) = (mine.user_id, h.sessions.open(mine.user_id));
    let also_mine = h
        .tokens
        .issue_tokens(user, &second_session, &client())
        .await?;
    let theirs = h.issue().await;

    assert_eq!(
        h.tokens.revoke_all_for_user(user, "password_reset").await?,
        2
    );
    for pair in [&mine, &also_mine] {
        let err = h
            .tokens
            .refresh(&pair.refresh_token, &client())
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::SessionRevoked);
    }
    h.tokens.refresh(&theirs.refresh_token, &client()).await?;
    Ok(())
}

#[tokio::test]
async fn cleanup_deletes_families_that_ended_long_enough_ago() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let retention = std::time::Duration::from_secs(86_400);
    assert_eq!(h.tokens.delete_expired(retention).await?, 0);
    h.advance(TimeDelta::days(14) + TimeDelta::days(1) + TimeDelta::seconds(1));
    assert_eq!(h.tokens.delete_expired(retention).await?, 1);
    let err = h
        .tokens
        .refresh(&pair.refresh_token, &client())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenInvalid);
    Ok(())
}
