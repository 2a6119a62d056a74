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
            // Every write increments the stored version.
            version: profile.version + 1,
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

/// The avatar columns: set and cleared only over the key read
/// (compare-and-set), nothing else touched, the version moved on, the
/// follow-up written with the change and only with one; the keys of the
/// profiles that exist.
pub async fn avatars(
    repo: Arc<dyn ProfileRepository>,
    outbox: Arc<dyn latch_domain::ports::OutboxRepository>,
) {
    use latch_domain::{
        events::{Event, EventPayload},
        model::StoredAvatar,
    };

    let user = UserId::new();
    let bare = UserId::new();
    let profile = new_profile(user);
    assert!(repo.create_if_absent(&profile).await.expect("create"));
    assert!(
        repo.create_if_absent(&new_profile(bare))
            .await
            .expect("create")
    );
    let event = |at| {
        Event::new(
            at,
            EventPayload::UserUpdated {
                user_id: user,
                changed_fields: vec!["avatar".into()],
            },
        )
        .to_outbox()
        .expect("outbox row")
    };
    let stored = |name: &str| StoredAvatar {
        key: format!("avatars/{user}/{name}.png"),
        size: 1234,
        mime: "image/png".into(),
    };
    let at = now() + Duration::minutes(1);

    let first = stored("a");
    assert!(
        repo.set_avatar(user, None, Some(&first), at, &[event(at)])
            .await
            .expect("set")
    );
    let read = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(read.avatar_key.as_deref(), Some(first.key.as_str()));
    assert_eq!(read.avatar_size, Some(1234));
    assert_eq!(read.avatar_mime.as_deref(), Some("image/png"));
    assert_eq!(read.updated_at, at);
    assert_eq!(read.first_name, profile.first_name, "other columns kept");
    assert!(read.version > profile.version, "the version moved on");

    // A stale expectation writes nothing, event included.
    let second = stored("b");
    assert!(
        !repo
            .set_avatar(user, None, Some(&second), at, &[event(at)])
            .await
            .expect("stale")
    );
    assert!(
        repo.set_avatar(user, Some(&first.key), Some(&second), at, &[event(at)])
            .await
            .expect("replace")
    );
    let keys = repo
        .avatar_keys(&[user, bare, UserId::new()])
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2, "a user with no profile is absent");
    assert_eq!(keys[&user].as_deref(), Some(second.key.as_str()));
    assert_eq!(keys[&bare], None);
    assert!(repo.avatar_keys(&[]).await.expect("none").is_empty());

    assert!(
        repo.set_avatar(user, Some(&second.key), None, at, &[event(at)])
            .await
            .expect("clear")
    );
    let read = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(
        (read.avatar_key, read.avatar_size, read.avatar_mime),
        (None, None, None)
    );
    assert!(
        !repo
            .set_avatar(UserId::new(), None, Some(&first), at, &[])
            .await
            .expect("no profile")
    );
    let rows = outbox
        .find_by_key(&format!("user:{user}"))
        .await
        .expect("outbox rows");
    assert_eq!(rows.len(), 3, "one row per write that happened");
}

/// Versions: create writes the first, every write increments it, and a
/// compare-and-set over a version no longer stored writes nothing, its
/// follow-up included.
pub async fn versions(
    repo: Arc<dyn ProfileRepository>,
    outbox: Arc<dyn latch_domain::ports::OutboxRepository>,
) {
    use latch_domain::ports::{NewOutboxMessage, VersionedWrite};

    let user = UserId::new();
    let key = format!("user:{user}");
    let follow_up =
        |n: u32| NewOutboxMessage::new("profile.test", &key, &n, now()).expect("a follow-up row");
    assert!(
        repo.create_if_absent(&new_profile(user))
            .await
            .expect("create")
    );
    let read = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(read.version, Profile::FIRST_VERSION);

    let renamed = Profile {
        first_name: "Augusta".into(),
        ..read.clone()
    };
    assert_eq!(
        repo.update_versioned(&renamed, &[follow_up(1)])
            .await
            .expect("cas"),
        VersionedWrite::Written {
            version: read.version + 1
        }
    );
    let stored = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(stored.first_name, "Augusta");
    assert_eq!(stored.version, read.version + 1);
    assert_eq!(outbox.find_by_key(&key).await.expect("outbox").len(), 1);

    // Written over the version read before that write: nothing changes.
    let stale = Profile {
        last_name: "King".into(),
        ..read.clone()
    };
    assert_eq!(
        repo.update_versioned(&stale, &[follow_up(2)])
            .await
            .expect("cas"),
        VersionedWrite::Stale
    );
    assert_eq!(repo.get(user).await.expect("get"), Some(stored.clone()));
    assert_eq!(outbox.find_by_key(&key).await.expect("outbox").len(), 1);

    // An unconditional write increments too.
    assert!(repo.update(&stored).await.expect("update"));
    let after = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(after.version, stored.version + 1);

    assert_eq!(
        repo.update_versioned(&new_profile(UserId::new()), &[])
            .await
            .expect("cas unknown"),
        VersionedWrite::Missing
    );

    // Racing writers over one version read: exactly one is written.
    let results = race(8, |n| {
        let repo = repo.clone();
        let mut profile = after.clone();
        profile.display_name = Some(format!("writer {n}"));
        async move { repo.update_versioned(&profile, &[]).await }
    })
    .await;
    let written = results
        .into_iter()
        .map(|r| r.expect("cas"))
        .filter(|w| matches!(w, VersionedWrite::Written { .. }))
        .count();
    assert_eq!(written, 1);
    let last = repo.get(user).await.expect("get").expect("exists");
    assert_eq!(last.version, after.version + 1);
}
