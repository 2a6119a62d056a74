//! The key ring on real storage: generation at first start, encryption at
//! rest, reload, rotation and publication, records that do not hold
//! together, and replicas rotating at once.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use latch_domain::{Result, model::SigningKeyRecord, ports::SigningKeyRepository};
use tokio::sync::Barrier;

use super::seal;
use crate::{TokenSecrets, Tokens, testing::Harness};

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

/// Replaces the stored public half of `kid` with another key's, as someone
/// with write access to the table would to get their key published.
async fn swap_public_half(h: &Harness, kid: &str) -> Vec<u8> {
    use sea_orm::{
        ConnectionTrait,
        sea_query::{Expr, ExprTrait, Query},
    };

    let forged = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
        .verifying_key()
        .to_bytes()
        .to_vec();
    let update = Query::update()
        .table("signing_keys")
        .value("public_key", forged.clone())
        .and_where(ExprTrait::eq(Expr::col("kid"), kid))
        .to_owned();
    let changed = h.storage.db().connection().execute(&update).await.unwrap();
    assert_eq!(changed.rows_affected(), 1);
    forged
}

fn published_xs(jwks_json: &str) -> Vec<String> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks_json).unwrap();
    set.keys
        .into_iter()
        .map(|k| match k.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x,
            other => panic!("not an OKP key: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_public_half_that_does_not_match_its_private_key_is_neither_published_nor_used()
-> Result<()> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    let h = Harness::new().await;
    let old_kid = kid_of(&h.issue().await.access_token);
    let swapped_kid = h.tokens.rotate_signing_key().await?;
    let forged = swap_public_half(&h, &swapped_kid).await;

    let restarted = h.start().await?;
    let jwks = restarted.jwks_json();
    assert!(
        !published_kids(&jwks).contains(&swapped_kid),
        "the swapped record is not published"
    );
    assert!(!published_xs(&jwks).contains(&URL_SAFE_NO_PAD.encode(&forged)));
    // The retired key is sound and still published while its tokens live;
    // with no sound live key left, a new one was made, and it signs.
    let (user, session) = h.signed_in();
    let pair = restarted
        .issue_tokens(user, &session, &crate::testing::client())
        .await?;
    let signer = kid_of(&pair.access_token);
    assert_ne!(signer, swapped_kid, "never used to sign");
    let mut kids = published_kids(&jwks);
    kids.sort();
    let mut expected = vec![old_kid, signer];
    expected.sort();
    assert_eq!(kids, expected);
    restarted.validate(&pair.access_token, false).await?;
    Ok(())
}

/// The real repository, whose `insert` waits, while armed, until two
/// inserts have happened: both replicas have stored their new key before
/// either retires anything, the interleaving that used to leave none live.
struct BothInsertFirst {
    inner: Arc<dyn SigningKeyRepository>,
    armed: Arc<AtomicBool>,
    barrier: Arc<Barrier>,
}

#[async_trait]
impl SigningKeyRepository for BothInsertFirst {
    async fn list(&self) -> Result<Vec<SigningKeyRecord>> {
        self.inner.list().await
    }
    async fn insert(&self, key: &SigningKeyRecord) -> Result<()> {
        self.inner.insert(key).await?;
        if self.armed.load(Ordering::SeqCst) {
            self.barrier.wait().await;
        }
        Ok(())
    }
    async fn retire(&self, kid: &str, at: DateTime<Utc>) -> Result<bool> {
        self.inner.retire(kid, at).await
    }
    async fn retire_older_than(&self, newest: &SigningKeyRecord, at: DateTime<Utc>) -> Result<u64> {
        self.inner.retire_older_than(newest, at).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_rotating_at_once_leave_a_live_key_both_publish() -> Result<()> {
    let h = Harness::new().await;
    let armed = Arc::new(AtomicBool::new(true));
    let barrier = Arc::new(Barrier::new(2));
    let replica = || {
        let mut deps = h.deps();
        deps.signing_keys = Arc::new(BothInsertFirst {
            inner: deps.signing_keys,
            armed: armed.clone(),
            barrier: barrier.clone(),
        });
        Tokens::start(deps, h.config.clone(), h.secrets.clone())
    };
    let (a, b) = (replica().await?, replica().await?);

    for round in 0..4 {
        // Every other round on a moving clock; a clock that stands still
        // gives both new keys the same time, and the kid decides.
        if round % 2 == 1 {
            h.advance(TimeDelta::seconds(1));
        }
        let rotations = [a.clone(), b.clone()]
            .map(|tokens| tokio::spawn(async move { tokens.rotate_signing_key().await }));
        let mut signing = Vec::new();
        for rotation in rotations {
            signing.push(rotation.await.expect("a rotation panicked")?);
        }

        let records = h.deps().signing_keys.list().await?;
        let live: Vec<&SigningKeyRecord> =
            records.iter().filter(|r| r.retired_at.is_none()).collect();
        assert_eq!(live.len(), 1, "round {round}: {records:#?}");
        let live_kid = live[0].kid.clone();
        assert_eq!(
            signing,
            vec![live_kid.clone(), live_kid.clone()],
            "round {round}"
        );

        // Each replica signs with it and publishes it, and what one signs
        // the other accepts.
        for (tokens, other) in [(&a, &b), (&b, &a)] {
            assert!(
                published_kids(&tokens.jwks_json()).contains(&live_kid),
                "round {round}"
            );
            let (user, session) = h.signed_in();
            let pair = tokens
                .issue_tokens(user, &session, &crate::testing::client())
                .await?;
            assert_eq!(kid_of(&pair.access_token), live_kid);
            other.validate(&pair.access_token, false).await?;
        }
    }
    armed.store(false, Ordering::SeqCst);
    Ok(())
}
