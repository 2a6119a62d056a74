//! [`SigningKeyRepository`]: keys listed oldest first with their signing
//! time, inserted only when none is newer (scheduled rotation), retired
//! once, and retired by age so that concurrent rotations keep the newest
//! key live.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{Reason, model::SigningKeyRecord, ports::SigningKeyRepository};

use super::{assert_reason, now, race};

fn key(kid: &str, minutes: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".into(),
        public_key: vec![7; 32],
        private_key_encrypted: (0..=255).collect(),
        created_at: now() + Duration::minutes(minutes),
        // Published ahead: signs ten minutes after it is stored.
        signs_from: now() + Duration::minutes(minutes + 10),
        retired_at: None,
    }
}

/// Lists the whole table: give it a database of its own.
pub async fn run(repo: Arc<dyn SigningKeyRepository>) {
    assert!(repo.list().await.expect("list").is_empty());
    let newer = key("kid-newer", 60);
    let older = key("kid-older", 0);
    repo.insert(&newer).await.expect("insert");
    repo.insert(&older).await.expect("insert");
    assert_eq!(
        repo.list().await.expect("list"),
        vec![older.clone(), newer.clone()]
    );
    assert_reason(
        repo.insert(&key("kid-older", 5)).await,
        Reason::AlreadyExists,
    );

    let at = now() + Duration::days(1);
    assert!(repo.retire("kid-older", at).await.expect("retire"));
    assert!(
        !repo
            .retire("kid-older", at + Duration::hours(1))
            .await
            .expect("retire again")
    );
    assert!(
        !repo
            .retire("kid-unknown", at)
            .await
            .expect("retire unknown")
    );
    assert_eq!(
        repo.list().await.expect("list"),
        vec![
            SigningKeyRecord {
                retired_at: Some(at),
                ..older
            },
            newer.clone()
        ]
    );

    retires_older_keys(&*repo, &newer).await;
    racing_rotations_keep_the_newest_live(repo.clone()).await;
    inserts_only_when_none_is_newer(&*repo).await;
}

/// A scheduled rotation inserts its key only when no key was created after
/// the threshold: a second replica past the same period finds the first's.
async fn inserts_only_when_none_is_newer(repo: &dyn SigningKeyRepository) {
    // The newest key so far was created at +1007 minutes.
    let early = key("kid-scheduled-early", 2_000);
    assert!(
        !repo
            .insert_if_none_since(&early, now() + Duration::minutes(1_000))
            .await
            .expect("conditional insert"),
        "a key created after the threshold exists"
    );
    assert!(
        repo.list()
            .await
            .expect("list")
            .iter()
            .all(|r| r.kid != early.kid),
        "nothing written"
    );
    let due = key("kid-scheduled", 2_000);
    assert!(
        repo.insert_if_none_since(&due, now() + Duration::minutes(1_010))
            .await
            .expect("conditional insert"),
        "no key is newer than the threshold"
    );
    let second = key("kid-scheduled-second", 2_000);
    assert!(
        !repo
            .insert_if_none_since(&second, now() + Duration::minutes(1_010))
            .await
            .expect("conditional insert"),
        "the first replica's key is newer than the threshold"
    );
    let listed = repo.list().await.expect("list");
    assert_eq!(
        listed.iter().find(|r| r.kid == due.kid),
        Some(&due),
        "stored as given, signing time included"
    );
    assert!(listed.iter().all(|r| r.kid != second.kid));
    assert_reason(
        repo.insert_if_none_since(&due, now() + Duration::days(365))
            .await,
        Reason::AlreadyExists,
    );
}

/// Live keys before `newest` in the (`created_at`, `kid`) order are
/// retired; `newest` and those after it are not.
async fn retires_older_keys(repo: &dyn SigningKeyRepository, live: &SigningKeyRecord) {
    let tied_low = key("kid-tie-a", 120);
    let tied_high = key("kid-tie-b", 120);
    let newest = key("kid-tie-c", 180);
    for record in [&tied_low, &tied_high, &newest] {
        repo.insert(record).await.expect("insert");
    }
    let at = now() + Duration::days(2);
    assert_eq!(
        repo.retire_older_than(&tied_high, at)
            .await
            .expect("retire older"),
        2,
        "the live key of an hour and the one tied by time but before by kid"
    );
    assert_eq!(
        repo.retire_older_than(&tied_high, at)
            .await
            .expect("retire older again"),
        0
    );
    let retired_at = |kid: &str, records: &[SigningKeyRecord]| {
        records
            .iter()
            .find(|r| r.kid == kid)
            .map(|r| r.retired_at)
            .expect("listed")
    };
    let records = repo.list().await.expect("list");
    assert_eq!(retired_at(&live.kid, &records), Some(at));
    assert_eq!(retired_at(&tied_low.kid, &records), Some(at));
    assert_eq!(retired_at(&tied_high.kid, &records), None);
    assert_eq!(retired_at(&newest.kid, &records), None);

    // The order is the stored one: an unknown key is before nothing.
    assert_eq!(
        repo.retire_older_than(&key("kid-unknown", 100_000), at)
            .await
            .expect("retire older than unknown"),
        0
    );
    assert_eq!(
        repo.retire_older_than(&newest, at)
            .await
            .expect("retire older"),
        1
    );
}

/// Two replicas rotating at once: each inserts its key, then retires the
/// older ones. Whatever the interleaving, exactly the newest stays live.
async fn racing_rotations_keep_the_newest_live(repo: Arc<dyn SigningKeyRepository>) {
    for round in 0..8 {
        let minutes = 1_000 + round;
        // Same time on both replicas: the kid decides.
        let keys = [
            key(&format!("kid-race-{round}-a"), minutes),
            key(&format!("kid-race-{round}-b"), minutes),
        ];
        for record in &keys {
            repo.insert(record).await.expect("insert");
        }
        let at = now() + Duration::minutes(minutes);
        let results = race(2, |i| {
            let (repo, record) = (repo.clone(), keys[i].clone());
            async move { repo.retire_older_than(&record, at).await }
        })
        .await;
        for result in results {
            result.expect("retire older");
        }
        let live: Vec<String> = repo
            .list()
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.retired_at.is_none())
            .map(|r| r.kid)
            .collect();
        assert_eq!(live, vec![keys[1].kid.clone()], "round {round}");
    }
}
