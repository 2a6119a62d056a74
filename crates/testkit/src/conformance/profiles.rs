//! [`ProfileRepository`]: create once, read, replace, delete.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use latch_domain::{
    UserId,
    model::{Address, Profile},
    ports::ProfileRepository,
};
use serde_json::json;

use super::{now, race};

/// A profile with only the names set, created now.
pub fn new_profile(user: UserId) -> Profile {
    Profile::named(user, "Ada".into(), "Lovelace".into(), now())
}

pub async fn run(repo: Arc<dyn ProfileRepository>) {
    let user = UserId::new();
    let profile = new_profile(user);
    assert!(repo.create_if_absent(&profile).await.expect("create"));
    assert_eq!(repo.get(user).await.expect("get"), Some(profile.clone()));

    // A second create is a no-op that keeps the first.
    let other_names = Profile {
        first_name: "Grace".into(),
        ..new_profile(user)
    };
    assert!(
        !repo
            .create_if_absent(&other_names)
            .await
            .expect("create again")
    );
    assert_eq!(repo.get(user).await.expect("get"), Some(profile.clone()));

    let updated = Profile {
        first_name: "Augusta Ada".into(),
        last_name: "King".into(),
        display_name: Some("Countess of Lovelace".into()),
        avatar_key: Some(format!("avatars/{user}.png")),
        avatar_url: Some(format!("https://cdn.example.com/avatars/{user}.png")),
        avatar_size: Some(48_213),
        avatar_mime: Some("image/png".into()),
        address: Some(Address {
            line1: Some("12 St James's Square".into()),
            line2: None,
            city: Some("London".into()),
            region: None,
            postal_code: Some("SW1Y 4JH".into()),
            country: Some("GB".into()),
        }),
        phone: Some("+442079460000".into()),
        date_of_birth: NaiveDate::from_ymd_opt(1815, 12, 10),
        metadata: json!({"theme": "dark", "beta": true, "tags": ["math", 1843]}),
        // Neither key nor creation time changes on update.
        created_at: profile.created_at + Duration::days(1),
        updated_at: profile.updated_at + Duration::hours(1),
        ..profile.clone()
    };
    assert!(repo.update(&updated).await.expect("update"));
    let read = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(
        read,
        Profile {
            created_at: profile.created_at,
            ..updated.clone()
        }
    );

    // Clearing optional fields clears them.
    let cleared = Profile {
        updated_at: updated.updated_at + Duration::hours(1),
        ..new_profile(user)
    };
    assert!(repo.update(&cleared).await.expect("update"));
    let read = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(read.address, None);
    assert_eq!(read.avatar_url, None);
    assert_eq!(read.metadata, json!({}));

    assert!(
        !repo
            .update(&new_profile(UserId::new()))
            .await
            .expect("update unknown")
    );
    assert!(repo.delete(user).await.expect("delete"));
    assert_eq!(repo.get(user).await.expect("get"), None);
    assert!(!repo.delete(user).await.expect("delete again"));

    // Racing creates of one profile: exactly one inserts.
    let contested = UserId::new();
    let results = race(8, |_| {
        let repo = repo.clone();
        async move { repo.create_if_absent(&new_profile(contested)).await }
    })
    .await;
    let inserted = results
        .into_iter()
        .map(|r| r.expect("create is idempotent"))
        .filter(|inserted| *inserted)
        .count();
    assert_eq!(inserted, 1);
}
