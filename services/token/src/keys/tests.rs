//! The key ring on real storage: generation at first start, encryption at
//! rest, reload, rotation with publication ahead of signing, publication
//! until the last token expires, the rotation schedule, records that do
//! not hold together, and replicas rotating at once.

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
use crate::{TokenConfig, TokenSecrets, Tokens, testing::Harness};

/// From a rotation to the new key signing, at the default config: the
/// JWKS cache TTL (10m) plus the 2m margin.
const LEAD: TimeDelta = TimeDelta::minutes(12);
/// How long a key stays published after it stopped signing: the access
/// token lifetime (15m) plus the reload and clock margins (2m).
const PUBLISHED_AFTER_RETIREMENT: TimeDelta = TimeDelta::minutes(17);

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
    assert_eq!(
        record.signs_from, record.created_at,
        "nothing was published before it: it signs at once"
    );

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
async fn a_rotated_key_is_published_at_once_and_signs_one_cache_period_later() -> Result<()> {
    let h = Harness::new().await;
    let old_kid = kid_of(&h.issue().await.access_token);
    let before = h.tokens.jwks_json();

    // A moment after the first key was made: on a clock that stands still
    // the new key would be ordered (and timed) a microsecond after it.
    h.advance(TimeDelta::seconds(1));
    let new_kid = h.tokens.rotate_signing_key().await?;
    assert_ne!(new_kid, old_kid);
    let mut kids = published_kids(&h.tokens.jwks_json());
    kids.sort();
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(kids, both, "published at once");

    // Until the lead has passed, the old key signs: a verifier holding the
    // keys fetched before the rotation accepts every token.
    let cached = latch_client::Verifier::new(
        Arc::new(latch_client::StaticKeySource(
            serde_json::from_str(&before).unwrap(),
        )),
        "latch",
        "latch",
    );
    let during = h.issue().await;
    assert_eq!(kid_of(&during.access_token), old_kid);
    cached
        .verify_at(&during.access_token, h.clock_now().timestamp())
        .await
        .unwrap();
    h.advance(LEAD - TimeDelta::seconds(1));
    assert_eq!(kid_of(&h.issue().await.access_token), old_kid);

    h.advance(TimeDelta::seconds(1));
    let after = h.issue().await;
    assert_eq!(kid_of(&after.access_token), new_kid, "signs from its time");
    h.tokens.validate(&during.access_token, false).await?;
    h.tokens.validate(&after.access_token, false).await?;

    let records = h.deps().signing_keys.list().await?;
    let stored = |kid: &str| records.iter().find(|r| r.kid == kid).unwrap().clone();
    let (old, new) = (stored(&old_kid), stored(&new_kid));
    assert_eq!(new.signs_from, new.created_at + LEAD);
    assert_eq!(
        old.retired_at,
        Some(new.signs_from),
        "the old key is retired when the new one starts signing"
    );
    assert!(new.retired_at.is_none());
    Ok(())
}

#[tokio::test]
async fn an_old_key_is_published_until_its_last_token_expires_then_withdrawn() -> Result<()> {
    let h = Harness::new().await;
    let old_kid = kid_of(&h.issue().await.access_token);
    h.advance(TimeDelta::seconds(1));
    let new_kid = h.tokens.rotate_signing_key().await?;

    // The last token the old key signs, a second before the new one starts.
    h.advance(LEAD - TimeDelta::seconds(1));
    let last = h.issue().await;
    assert_eq!(kid_of(&last.access_token), old_kid);
    h.advance(TimeDelta::seconds(1));

    // Published while that token lives (and the margins after it) ...
    h.advance(PUBLISHED_AFTER_RETIREMENT - TimeDelta::seconds(1));
    let kids = published_kids(&h.tokens.jwks_json());
    assert!(kids.contains(&old_kid), "{kids:?}");
    let restarted = h.start().await?;
    assert!(published_kids(&restarted.jwks_json()).contains(&old_kid));

    // ... and gone after, from this replica and a fresh one alike.
    h.advance(TimeDelta::seconds(1));
    assert_eq!(published_kids(&h.tokens.jwks_json()), vec![new_kid.clone()]);
    let restarted = h.start().await?;
    assert_eq!(published_kids(&restarted.jwks_json()), vec![new_kid]);
    assert!(
        last.access_token_expires_at <= h.clock_now(),
        "withdrawn only once its last token has expired"
    );
    Ok(())
}

#[tokio::test]
async fn another_replica_follows_a_rotation() -> Result<()> {
    let h = Harness::new().await;
    let replica = h.start().await?;
    h.advance(TimeDelta::seconds(1));
    let new_kid = h.tokens.rotate_signing_key().await?;

    // The replica publishes the new key after its next reload, long before
    // it signs ...
    h.advance(TimeDelta::seconds(61));
    assert!(published_kids(&replica.current_jwks_json().await).contains(&new_kid));

    // ... and signs with it from its time, like the replica that made it.
    h.advance(LEAD);
    let (user, session) = h.signed_in();
    let from_replica = replica
        .issue_tokens(user, &session, &crate::testing::client())
        .await?;
    assert_eq!(kid_of(&from_replica.access_token), new_kid);
    h.tokens.validate(&from_replica.access_token, true).await?;
    Ok(())
}

#[tokio::test]
async fn scheduled_rotation_happens_once_per_period_whatever_the_replicas() -> Result<()> {
    let h = Harness::new().await;
    let replica = h.start().await?;
    let period = TimeDelta::days(30);
    let count = || async { h.deps().signing_keys.list().await.unwrap().len() };

    assert_eq!(h.tokens.rotate_signing_key_if_due().await?, None);
    h.advance(period - TimeDelta::seconds(1));
    assert_eq!(h.tokens.rotate_signing_key_if_due().await?, None);
    assert_eq!(replica.rotate_signing_key_if_due().await?, None);
    assert_eq!(count().await, 1);

    h.advance(TimeDelta::seconds(1));
    let first = h.tokens.rotate_signing_key_if_due().await?.expect("due");
    assert_eq!(replica.rotate_signing_key_if_due().await?, None, "found it");
    assert_eq!(h.tokens.rotate_signing_key_if_due().await?, None);
    assert_eq!(count().await, 2);

    // It signs after the lead, on both replicas.
    h.advance(LEAD);
    let (user, session) = h.signed_in();
    for tokens in [&h.tokens, &replica] {
        let pair = tokens
            .issue_tokens(user, &session, &crate::testing::client())
            .await?;
        assert_eq!(kid_of(&pair.access_token), first);
    }

    // The next period counts from the new key's making.
    h.advance(period - LEAD - TimeDelta::seconds(1));
    assert_eq!(replica.rotate_signing_key_if_due().await?, None);
    h.advance(TimeDelta::seconds(1));
    let second = replica.rotate_signing_key_if_due().await?.expect("due");
    assert_ne!(second, first);
    assert_eq!(h.tokens.rotate_signing_key_if_due().await?, None);
    assert_eq!(count().await, 3);
    Ok(())
}

#[tokio::test]
async fn with_rotation_off_no_key_is_made_on_schedule() -> Result<()> {
    let h = Harness::with_config(TokenConfig {
        key_rotation: std::time::Duration::ZERO,
        ..TokenConfig::default()
    })
    .await;
    h.advance(TimeDelta::days(400));
    assert_eq!(h.tokens.rotate_signing_key_if_due().await?, None);
    assert_eq!(h.deps().signing_keys.list().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_schedule_rotates_on_its_own_when_due() -> Result<()> {
    let h = Harness::new().await;
    let schedule = h
        .tokens
        .spawn_key_schedule_every(std::time::Duration::from_millis(20));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(h.deps().signing_keys.list().await?.len(), 1, "not yet due");

    h.advance(TimeDelta::days(30));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.deps().signing_keys.list().await?.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no rotation within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(h.deps().signing_keys.list().await?.len(), 2, "once");
    schedule.abort();
    Ok(())
}

#[tokio::test]
async fn a_key_stored_before_signing_times_existed_signs_from_its_making() -> Result<()> {
    use sea_orm::{
        ConnectionTrait,
        sea_query::{Expr, Query},
    };

    let h = Harness::new().await;
    let kid = kid_of(&h.issue().await.access_token);
    // As the migration leaves rows written before it: no signing time.
    let update = Query::update()
        .table("signing_keys")
        .value("signs_from", Expr::cust("NULL"))
        .to_owned();
    h.storage.db().connection().execute(&update).await.unwrap();

    let records = h.deps().signing_keys.list().await?;
    assert_eq!(records[0].signs_from, records[0].created_at);
    let restarted = h.start().await?;
    let (user, session) = h.signed_in();
    let pair = restarted
        .issue_tokens(user, &session, &crate::testing::client())
        .await?;
    assert_eq!(kid_of(&pair.access_token), kid, "no new key was needed");
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
    h.advance(TimeDelta::seconds(1));
    let swapped_kid = h.tokens.rotate_signing_key().await?;
    let forged = swap_public_half(&h, &swapped_kid).await;
    // Past the swapped key's signing time, when the old key has retired.
    h.advance(LEAD);

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
    async fn insert_if_none_since(
        &self,
        key: &SigningKeyRecord,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        self.inner.insert_if_none_since(key, since).await
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

        // Each replica publishes it, signs with it from its time, and what
        // one signs the other accepts. (A clock that stood still ordered
        // the new keys a microsecond after the last: one second covers it.)
        h.advance(LEAD + TimeDelta::seconds(1));
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
