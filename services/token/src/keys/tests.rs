//! The key ring on real storage: generation at first start, encryption at
//! rest, reload, rotation and publication.

use chrono::TimeDelta;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use latch_domain::Result;

use super::seal;
use crate::{TokenSecrets, testing::Harness};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn published_kids(jwks_json: &str) -> Vec<String> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks_json).unwrap();
    set.keys
        .into_iter()
        .map(|k| k.common.key_id.unwrap())
        .collect()
}

#[tokio::test]
async fn the_first_start_persists_one_key_with_its_private_half_encrypted() -> Result<()> {
    let h = Harness::new().await;
    let records = h.deps().signing_keys.list().await?;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.algorithm, "EdDSA");
    assert_eq!(record.public_key.len(), 32);
    assert!(record.retired_at.is_none());

    let der = seal::open(
        h.secrets.encryption_key.expose(),
        &record.kid,
        &record.private_key_encrypted,
    )?;
    let signing = ed25519_dalek::SigningKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(
        signing.verifying_key().as_bytes().as_slice(),
        record.public_key
    );
    let seed = signing.to_bytes();
    assert!(
        !record.private_key_encrypted.windows(32).any(|w| w == seed),
        "the private key is not stored in clear"
    );
    assert_eq!(
        published_kids(&h.tokens.jwks_json()),
        vec![record.kid.clone()]
    );
    Ok(())
}

#[tokio::test]
async fn a_restart_reloads_the_stored_key() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let restarted = h.start().await?;
    assert_eq!(
        h.deps().signing_keys.list().await?.len(),
        1,
        "no second key"
    );
    assert_eq!(restarted.jwks_json(), h.tokens.jwks_json());
    restarted.validate(&pair.access_token, true).await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_encryption_key_stops_the_start() -> Result<()> {
    let h = Harness::new().await;
    let mut secrets = h.secrets.clone();
    secrets.encryption_key = TokenSecrets::generate()?.encryption_key;
    let err = h.start_with(secrets).await.unwrap_err();
    assert!(format!("{err}").contains("does not decrypt"), "{err}");
    assert_eq!(
        h.deps().signing_keys.list().await?.len(),
        1,
        "no key minted instead"
    );
    Ok(())
}

#[tokio::test]
async fn after_a_rotation_the_new_key_signs_and_the_old_stays_published_while_needed() -> Result<()>
{
    let h = Harness::new().await;
    let before = h.issue().await;
    let old_kid = kid_of(&before.access_token);

    let new_kid = h.tokens.rotate_signing_key().await?;
    assert_ne!(new_kid, old_kid);
    let after = h.issue().await;
    assert_eq!(kid_of(&after.access_token), new_kid);
    h.tokens.validate(&before.access_token, false).await?;
    h.tokens.validate(&after.access_token, false).await?;
    let mut kids = published_kids(&h.tokens.jwks_json());
    kids.sort();
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(kids, both);

    // Once every token the old key signed has expired, it is withdrawn.
    h.advance(TimeDelta::minutes(15) + TimeDelta::minutes(2) + TimeDelta::seconds(1));
    assert_eq!(published_kids(&h.tokens.jwks_json()), vec![new_kid.clone()]);
    let records = h.deps().signing_keys.list().await?;
    let old = records.iter().find(|r| r.kid == old_kid).unwrap();
    assert!(old.retired_at.is_some());
    Ok(())
}

#[tokio::test]
async fn another_replica_follows_a_rotation() -> Result<()> {
    let h = Harness::new().await;
    let replica = h.start().await?;
    let new_kid = h.tokens.rotate_signing_key().await?;

    // Tokens signed with the new key verify on the replica at once ...
    let pair = h.issue().await;
    replica.validate(&pair.access_token, true).await?;

    // ... and the replica signs with it after its next reload.
    h.advance(TimeDelta::seconds(61));
    let (user, session) = h.signed_in();
    let from_replica = replica
        .issue_tokens(user, &session, &crate::testing::client())
        .await?;
    assert_eq!(kid_of(&from_replica.access_token), new_kid);
    Ok(())
}
