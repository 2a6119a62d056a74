use std::time::Duration as StdDuration;

use futures::StreamExt as _;
use latch_domain::{
    Reason,
    events::{Channel, EventPayload},
    model::Address,
    ports::EventBus,
};
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
        .update(user, same, &mask(&["first_name"]))
        .await?;
    assert_eq!(h.profiles.get(user).await?.updated_at, before.updated_at);
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
        .update(user, changes.clone(), &mask(&["first_name", "phone"]))
        .await
        .unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("phone"));
    let err = h
        .profiles
        .update(user, changes, &mask(&["first_name", "email"]))
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
        .update(user, ProfileUpdate::default(), &mask(&["phone"]))
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
