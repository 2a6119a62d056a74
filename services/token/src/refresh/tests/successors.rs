//! The salted successor: not computable from the refresh key and an old
//! token, the same one again for a duplicate from the same user agent,
//! reuse from another, and no grace for a token stored before salts.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use latch_domain::{
    Reason, Result,
    model::ClientInfo,
    ports::SessionDirectory,
    secret::{hmac_sha256, sha256},
};

use super::{count_rows, reason, refresh};
use crate::{
    revoke::REASON_REUSED,
    testing::{Harness, client},
};

fn from(ip: &str, user_agent: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: Some(user_agent.to_owned()),
    }
}

#[tokio::test]
async fn the_refresh_key_and_an_old_token_do_not_give_its_successor() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let second = refresh(&h, &first.refresh_token).await?;
    let key = h.secrets.refresh_key.expose();

    // What the unsalted derivation gave: neither the successor nor stored.
    let unsalted = URL_SAFE_NO_PAD.encode(hmac_sha256(key, first.refresh_token.as_bytes()));
    assert_ne!(unsalted, second.refresh_token);
    let repo = h.deps().refresh_tokens;
    assert_eq!(repo.find_by_hash(&sha256(&unsalted)).await?, None);

    // The successor needs the salt, which only the database holds.
    let (spent, _) = repo
        .find_by_hash(&sha256(&first.refresh_token))
        .await?
        .unwrap();
    let salt = spent.successor_salt.expect("a new token has a salt");
    let mut message = salt.expose().to_vec();
    message.extend_from_slice(first.refresh_token.as_bytes());
    assert_eq!(
        URL_SAFE_NO_PAD.encode(hmac_sha256(key, &message)),
        second.refresh_token
    );
    Ok(())
}

#[tokio::test]
async fn a_duplicate_from_the_same_user_agent_on_another_network_gets_the_same_successor()
-> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let successor = refresh(&h, &first.refresh_token).await?;

    h.advance(TimeDelta::seconds(5));
    let user_agent = client().user_agent.unwrap();
    let again = h
        .tokens
        .refresh(&first.refresh_token, &from("198.51.100.23", &user_agent))
        .await?;
    assert_eq!(again.refresh_token, successor.refresh_token);
    assert!(h.sessions.revocations().is_empty());
    assert_eq!(count_rows(&h, "refresh_tokens").await, 2, "one successor");
    Ok(())
}

#[tokio::test]
async fn a_duplicate_from_another_user_agent_inside_the_grace_is_reuse() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let successor = refresh(&h, &first.refresh_token).await?;

    h.advance(TimeDelta::seconds(1));
    let thief = from(&client().ip.unwrap(), "curl/8.5.0");
    assert_eq!(
        reason(h.tokens.refresh(&first.refresh_token, &thief).await),
        Reason::RefreshTokenReused
    );
    assert_eq!(
        h.sessions.revocations(),
        vec![(first.session_id.clone(), REASON_REUSED.to_owned())]
    );
    assert!(h.sessions.validate(&first.session_id).await?.is_none());
    // The successor the rightful client got is dead too.
    assert_eq!(
        reason(refresh(&h, &successor.refresh_token).await),
        Reason::TokenInvalid
    );
    Ok(())
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

    let second = refresh(&h, &first.refresh_token).await?;
    let unsalted = URL_SAFE_NO_PAD.encode(hmac_sha256(
        h.secrets.refresh_key.expose(),
        first.refresh_token.as_bytes(),
    ));
    assert_ne!(second.refresh_token, unsalted, "a random successor");

    // Its successor cannot be recomputed: a duplicate, even at once and
    // from the same client, is reuse.
    assert_eq!(
        reason(refresh(&h, &first.refresh_token).await),
        Reason::RefreshTokenReused
    );
    Ok(())
}

#[tokio::test]
async fn the_grace_works_along_the_chain_each_step_on_its_own_salt() -> Result<()> {
    let h = Harness::new().await;
    let first = h.issue().await;
    let second = refresh(&h, &first.refresh_token).await?;
    let third = refresh(&h, &second.refresh_token).await?;
    h.advance(TimeDelta::seconds(1));
    // The grace works along the chain, each step on its own salt.
    assert_eq!(
        refresh(&h, &second.refresh_token).await?.refresh_token,
        third.refresh_token
    );
    Ok(())
}
