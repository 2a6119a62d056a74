//! The salted successor: not computable from the refresh key and an old
//! token, the same one again for a duplicate from the same user agent,
//! reuse from another, and no grace for a token stored before salts.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use latch_domain::{Reason, Result, secret::hmac_sha256};

use crate::testing::{Harness, client, client_at};

/// What the unsalted derivation made of `token`: the refresh key's HMAC.
fn unsalted_successor(h: &Harness, token: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(
        h.secrets.refresh_key.expose(),
        token.as_bytes(),
    ))
}

#[tokio::test]
async fn the_refresh_key_and_an_old_token_do_not_give_its_successor() -> Result<()> {
    let h = Harness::new().await;
    let (first, second) = h.rotated().await?;

    // What the unsalted derivation gave: neither the successor nor stored.
    let unsalted = unsalted_successor(&h, &first.refresh_token);
    assert_ne!(unsalted, second.refresh_token);
    assert_eq!(h.stored(&unsalted).await?, None);

    // The successor needs the salt, which only the database holds.
    let (spent, _) = h.stored(&first.refresh_token).await?.unwrap();
    let salt = spent.successor_salt.expect("a new token has a salt");
    let mut message = salt.expose().to_vec();
    message.extend_from_slice(first.refresh_token.as_bytes());
    assert_eq!(
        URL_SAFE_NO_PAD.encode(hmac_sha256(h.secrets.refresh_key.expose(), &message)),
        second.refresh_token
    );
    Ok(())
}

#[tokio::test]
async fn a_duplicate_from_the_same_user_agent_on_another_network_gets_the_same_successor()
-> Result<()> {
    let h = Harness::new().await;
    let (first, successor) = h.rotated().await?;

    h.advance(TimeDelta::seconds(5));
    let user_agent = client().user_agent.unwrap();
    let again = h
        .tokens
        .refresh(
            &first.refresh_token,
            &client_at("198.51.100.23", &user_agent),
        )
        .await?;
    assert_eq!(again.refresh_token, successor.refresh_token);
    assert!(h.sessions.revocations().is_empty());
    assert_eq!(h.count_rows("refresh_tokens").await, 2, "one successor");
    Ok(())
}

#[tokio::test]
async fn a_duplicate_from_another_user_agent_inside_the_grace_is_reuse() -> Result<()> {
    let h = Harness::new().await;
    let (first, successor) = h.rotated().await?;

    h.advance(TimeDelta::seconds(1));
    let thief = client_at(&client().ip.unwrap(), "curl/8.5.0");
    let duplicate = h.tokens.refresh(&first.refresh_token, &thief).await;
    // The successor the rightful client got is dead too.
    h.assert_reuse_detected(duplicate, &first, &successor).await
}

#[tokio::test]
async fn a_token_stored_before_salts_rotates_but_gets_no_grace() -> Result<()> {
    use sea_orm::ConnectionTrait;

    let h = Harness::new().await;
    let first = h.issue().await;
    // As a row written before the migration that added the column.
    h.storage
        .db()
        .connection()
        .execute_unprepared("UPDATE refresh_tokens SET successor_salt = NULL")
        .await
        .unwrap();

    let second = h.refresh(&first.refresh_token).await?;
    let unsalted = unsalted_successor(&h, &first.refresh_token);
    assert_ne!(second.refresh_token, unsalted, "a random successor");

    // Its successor cannot be recomputed: a duplicate, even at once and
    // from the same client, is reuse.
    assert_eq!(
        h.refused(&first.refresh_token).await,
        Reason::RefreshTokenReused
    );
    Ok(())
}

#[tokio::test]
async fn the_grace_works_along_the_chain_each_step_on_its_own_salt() -> Result<()> {
    let h = Harness::new().await;
    let (_, second) = h.rotated().await?;
    let third = h.refresh(&second.refresh_token).await?;
    h.advance(TimeDelta::seconds(1));
    // The grace works along the chain, each step on its own salt.
    assert_eq!(
        h.refresh(&second.refresh_token).await?.refresh_token,
        third.refresh_token
    );
    Ok(())
}
