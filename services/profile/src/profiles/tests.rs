use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration as StdDuration,
};

use futures::StreamExt as _;
use latch_domain::{
    Reason,
    events::{Channel, DELIVER_EVENT_KIND, EventPayload},
    model::Address,
    ports::{EventBus, NewOutboxMessage, OutboxRepository as _},
};
use latch_store::sql::{SqlOutbox, SqlProfiles};
use serde_json::json;

use super::*;
use crate::testing::Harness;

fn mask(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

#[tokio::test]
async fn create_is_idempotent_and_validates_names() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    assert!(h.profiles.create(user, " Ada ", "Lovelace").await?);
    assert!(!h.profiles.create(user, "Someone", "Else").await?);
    let profile = h.profiles.get(user).await?;
    assert_eq!(profile.first_name, "Ada");
    assert_eq!(profile.metadata, json!({}));

    let err = h.profiles.create(UserId::new(), "", "X").await.unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("first_name")
    );
    Ok(())
}

#[tokio::test]
async fn an_update_changes_only_masked_fields_and_says_so() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let mut updates = h.bus.subscribe(Channel::UserUpdated).await?;
    h.clock.advance(chrono::Duration::minutes(5));
    let created = h.profiles.get(user).await?;

    let changes = ProfileUpdate {
        first_name: "Augusta".into(),
        last_name: "ignored: not in the mask".into(),
        address: Some(Address {
            city: Some("London".into()),
            ..Address::default()
        }),
        metadata: Some(json!({"theme": "dark"})),
        ..ProfileUpdate::default()
    };
    let updated = h
        .profiles
        .update(
            user,
            changes,
            &mask(&["first_name", "address.city", "metadata"]),
            None,
        )
        .await?;

    let stored = h.profiles.get(user).await?;
    assert_eq!(stored, updated);
    assert_eq!(stored.first_name, "Augusta");
    assert_eq!(stored.last_name, "Lovelace");
    assert_eq!(
        stored.address.and_then(|a| a.city).as_deref(),
        Some("London")
    );
    assert_eq!(stored.metadata, json!({"theme": "dark"}));
    assert_eq!(stored.updated_at, h.clock.now());
    assert_eq!(stored.version, created.version + 1);

    // The event is an outbox row written with the update, delivered by
    // the worker, not published by the request.
    let rows = outbox_rows(&h, user).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, DELIVER_EVENT_KIND);
    h.drain_outbox().await;
    let event = tokio::time::timeout(StdDuration::from_secs(5), updates.next())
        .await
        .expect("user:updated published")
        .expect("stream open");
    assert_eq!(
        event.payload,
        EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec!["first_name".into(), "address".into(), "metadata".into()],
        }
    );
    Ok(())
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let before = h.profiles.get(user).await?;
    h.clock.advance(chrono::Duration::minutes(5));
    let same = ProfileUpdate {
        first_name: "Ada".into(),
        ..ProfileUpdate::default()
    };
    h.profiles
        .update(user, same, &mask(&["first_name"]), None)
        .await?;
    let after = h.profiles.get(user).await?;
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(after.version, before.version);
    assert!(outbox_rows(&h, user).await?.is_empty(), "no event");
    Ok(())
}

#[tokio::test]
async fn a_bad_update_writes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let before = h.profiles.get(user).await?;
    let changes = ProfileUpdate {
        first_name: "Augusta".into(),
        phone: "call me".into(),
        ..ProfileUpdate::default()
    };
    let err = h
        .profiles
        .update(user, changes.clone(), &mask(&["first_name", "phone"]), None)
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("phone"));
    let err = h
        .profiles
        .update(user, changes, &mask(&["first_name", "email"]), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("update_mask")
    );
    assert_eq!(h.profiles.get(user).await?, before);
    Ok(())
}

#[tokio::test]
async fn missing_profiles_are_not_found_and_delete_is_idempotent() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    let err = h
        .profiles
        .update(user, ProfileUpdate::default(), &mask(&["phone"]), None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);

    h.profiles.create(user, "Ada", "Lovelace").await?;
    assert!(h.profiles.delete(user).await?);
    assert!(!h.profiles.delete(user).await?);
    assert!(
        h.profiles
            .get(user)
            .await
            .is_err_and(|e| e.is(Reason::NotFound))
    );
    Ok(())
}

async fn outbox_rows(h: &Harness, user: UserId) -> Result<Vec<latch_domain::ports::OutboxMessage>> {
    SqlOutbox::new(h.db().clone())
        .find_by_key(&format!("user:{user}"))
        .await
}

fn first_name(name: &str) -> ProfileUpdate {
    ProfileUpdate {
        first_name: name.into(),
        ..ProfileUpdate::default()
    }
}

/// The SQL repository, but its first compare-and-set loses to a write of
/// the last name made between the flow's read and its write: the race two
/// concurrent UpdateProfile calls run into.
struct Interloper {
    inner: SqlProfiles,
    struck: AtomicBool,
}

#[async_trait]
impl ProfileRepository for Interloper {
    async fn create_if_absent(&self, profile: &Profile) -> Result<bool> {
        self.inner.create_if_absent(profile).await
    }

    async fn get(&self, user: UserId) -> Result<Option<Profile>> {
        self.inner.get(user).await
    }

    async fn update(&self, profile: &Profile) -> Result<bool> {
        self.inner.update(profile).await
    }

    async fn update_versioned(
        &self,
        profile: &Profile,
        follow_up: &[NewOutboxMessage],
    ) -> Result<VersionedWrite> {
        if !self.struck.swap(true, Ordering::SeqCst) {
            let mut other = self
                .inner
                .get(profile.user_id)
                .await?
                .ok_or_else(|| Error::not_found("profile"))?;
            other.last_name = "Byron".into();
            assert!(self.inner.update(&other).await?);
        }
        self.inner.update_versioned(profile, follow_up).await
    }

    async fn delete(&self, user: UserId) -> Result<bool> {
        self.inner.delete(user).await
    }

    async fn set_avatar(
        &self,
        user: UserId,
        expected: Option<&str>,
        avatar: Option<&latch_domain::model::StoredAvatar>,
        at: chrono::DateTime<chrono::Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.inner
            .set_avatar(user, expected, avatar, at, follow_up)
            .await
    }

    async fn avatar_keys(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, Option<String>>> {
        self.inner.avatar_keys(users).await
    }
}

fn with_interloper(h: &Harness) -> Arc<Profiles> {
    Profiles::new(
        Arc::new(Interloper {
            inner: SqlProfiles::new(h.db().clone()),
            struck: AtomicBool::new(false),
        }),
        h.bus.clone(),
        Arc::new(h.clock.clone()),
        Profiles::DEFAULT_CACHE_TTL,
    )
}

#[tokio::test]
async fn every_write_increments_the_version() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    assert_eq!(h.profiles.get(user).await?.version, Profile::FIRST_VERSION);
    let first = h
        .profiles
        .update(user, first_name("Augusta"), &mask(&["first_name"]), None)
        .await?;
    assert_eq!(first.version, Profile::FIRST_VERSION + 1);
    let second = h
        .profiles
        .update(
            user,
            first_name("Ada"),
            &mask(&["first_name"]),
            Some(first.version),
        )
        .await?;
    assert_eq!(second.version, first.version + 1);
    assert_eq!(h.profiles.get(user).await?, second);
    Ok(())
}

#[tokio::test]
async fn a_concurrent_write_is_kept_and_the_update_applied_over_it() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let racing = with_interloper(&h);

    let updated = racing
        .update(user, first_name("Augusta"), &mask(&["first_name"]), None)
        .await?;

    let stored = h.profiles.get(user).await?;
    assert_eq!(stored, updated);
    assert_eq!(stored.first_name, "Augusta", "the update is written");
    assert_eq!(stored.last_name, "Byron", "the concurrent write survives");
    // Created (1), the interloper (2), the update tried again (3).
    assert_eq!(stored.version, 3);
    // Only the try that was written wrote its event.
    let rows = outbox_rows(&h, user).await?;
    assert_eq!(rows.len(), 1);
    let event = Event::from_outbox(&rows[0])?;
    assert_eq!(
        event.payload,
        EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec!["first_name".into()],
        }
    );
    Ok(())
}

#[tokio::test]
async fn a_stale_expected_version_is_refused_and_changes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let read = h.profiles.get(user).await?;
    h.profiles
        .update(user, first_name("Augusta"), &mask(&["first_name"]), None)
        .await?;
    let before = h.profiles.get(user).await?;

    let err = h
        .profiles
        .update(
            user,
            ProfileUpdate {
                last_name: "King".into(),
                ..ProfileUpdate::default()
            },
            &mask(&["last_name"]),
            Some(read.version),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::ProfileVersionConflict);
    assert_eq!(h.profiles.get(user).await?, before);
    assert_eq!(
        outbox_rows(&h, user).await?.len(),
        1,
        "only the first update's event"
    );
    Ok(())
}

/// The expected version matched when read, but another write came before
/// the update's own: refused, not applied over the newer row.
#[tokio::test]
async fn an_expected_version_overtaken_before_the_write_is_refused() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let read = h.profiles.get(user).await?;
    let racing = with_interloper(&h);

    let err = racing
        .update(
            user,
            first_name("Augusta"),
            &mask(&["first_name"]),
            Some(read.version),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::ProfileVersionConflict);
    let stored = h.profiles.get(user).await?;
    assert_eq!(stored.first_name, "Ada");
    assert_eq!(stored.last_name, "Byron");
    assert!(outbox_rows(&h, user).await?.is_empty(), "no event");
    Ok(())
}

/// Many updates of different fields at once, on one SQLite database with
/// several connections: each field ends with its own last value.
#[tokio::test]
async fn concurrent_updates_of_different_fields_all_survive() -> Result<()> {
    const ROUNDS: usize = 10;
    let h = Harness::new().await;
    let user = UserId::new();
    h.profiles.create(user, "Ada", "Lovelace").await?;
    let writers = ["first_name", "last_name", "display_name", "phone"].map(|field| {
        let profiles = h.profiles.clone();
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let value = format!("{field} {round}");
                let changes = match field {
                    "first_name" => ProfileUpdate {
                        first_name: value,
                        ..ProfileUpdate::default()
                    },
                    "last_name" => ProfileUpdate {
                        last_name: value,
                        ..ProfileUpdate::default()
                    },
                    "display_name" => ProfileUpdate {
                        display_name: value,
                        ..ProfileUpdate::default()
                    },
                    _ => ProfileUpdate {
                        phone: format!("+4420794600{round:02}"),
                        ..ProfileUpdate::default()
                    },
                };
                profiles
                    .update(user, changes, &[field.to_owned()], None)
                    .await?;
            }
            Ok::<_, Error>(())
        })
    });
    for writer in writers {
        writer.await.map_err(Error::internal)??;
    }
    let last = ROUNDS - 1;
    let stored = h.profiles.get(user).await?;
    assert_eq!(stored.first_name, format!("first_name {last}"));
    assert_eq!(stored.last_name, format!("last_name {last}"));
    assert_eq!(stored.display_name, Some(format!("display_name {last}")));
    assert_eq!(stored.phone, Some(format!("+4420794600{last:02}")));
    let writes = i64::try_from(4 * ROUNDS).map_err(Error::internal)?;
    assert_eq!(stored.version, Profile::FIRST_VERSION + writes);
    Ok(())
}
