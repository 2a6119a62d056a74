//! [`SigningKeyRepository`]: keys listed oldest first, retired once.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{Reason, model::SigningKeyRecord, ports::SigningKeyRepository};

use super::{assert_reason, now};

fn key(kid: &str, minutes: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".into(),
        public_key: vec![7; 32],
        private_key_encrypted: (0..=255).collect(),
        created_at: now() + Duration::minutes(minutes),
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
            newer
        ]
    );
}
