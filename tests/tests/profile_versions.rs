//! UpdateProfile over real gRPC on both backends: concurrent updates of
//! different fields all survive (compare-and-set on `profiles.version`),
//! an `expected_version` the profile no longer has is refused and changes
//! nothing, and `user:updated` still reaches a subscriber, now through the
//! outbox worker.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::time::Duration;

use futures::StreamExt as _;
use latch_domain::events::{Channel, EventPayload};
use latch_proto::latch::profile::v1::{GetProfileRequest, Profile, UpdateProfileRequest};
use latch_tests::{TestLatchd, bearer, e2e, must, reason};
use tonic::Code;

e2e!(
    concurrent_updates_of_different_fields_all_survive,
    a_stale_expected_version_is_refused_and_changes_nothing,
);

const ROUNDS: usize = 10;
const FIELDS: [&str; 4] = ["first_name", "last_name", "phone", "metadata"];

/// The value `round` writes to `field`, as an UpdateProfile request.
fn update(field: &str, round: usize, expected_version: u64) -> UpdateProfileRequest {
    let mut profile = Profile::default();
    match field {
        "first_name" => profile.first_name = format!("First {round}"),
        "last_name" => profile.last_name = format!("Last {round}"),
        "phone" => profile.phone = format!("+4420794600{round:02}"),
        _ => {
            let json = serde_json::json!({ "round": round });
            let serde_json::Value::Object(map) = &json else {
                unreachable!()
            };
            profile.metadata = Some(latch_profile::grpc::object_to_struct(map));
        }
    }
    UpdateProfileRequest {
        user_id: String::new(),
        profile: Some(profile),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![field.to_owned()],
        }),
        expected_version,
    }
}

async fn get(latchd: &TestLatchd, token: &str) -> Profile {
    must(
        latchd
            .profile()
            .get_profile(bearer(
                GetProfileRequest {
                    user_id: String::new(),
                },
                token,
            ))
            .await,
        "get profile",
    )
    .into_inner()
    .profile
    .expect("a profile")
}

async fn concurrent_updates_of_different_fields_all_survive(latchd: TestLatchd) {
    let auth = latchd.signed_up("versions@example.com").await;
    let mut events = must(
        latchd.infra.bus.subscribe(Channel::UserUpdated).await,
        "subscribe",
    );
    let before = get(&latchd, &auth.access_token).await;

    // One task per field, each writing its field ROUNDS times in order,
    // all at once: with a read-modify-write that is not compare-and-set,
    // one field's write would put back another's old value.
    let tasks = FIELDS.map(|field| {
        let mut client = latchd.profile();
        let token = auth.access_token.clone();
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                must(
                    client
                        .update_profile(bearer(update(field, round, 0), &token))
                        .await,
                    &format!("update {field} #{round}"),
                );
            }
        })
    });
    for task in tasks {
        task.await.expect("writer");
    }

    let last = ROUNDS - 1;
    let after = get(&latchd, &auth.access_token).await;
    assert_eq!(after.first_name, format!("First {last}"));
    assert_eq!(after.last_name, format!("Last {last}"));
    assert_eq!(after.phone, format!("+4420794600{last:02}"));
    let metadata = latch_profile::grpc::struct_to_json(after.metadata.expect("metadata")).unwrap();
    assert_eq!(metadata, serde_json::json!({ "round": last }));
    let writes = u64::try_from(FIELDS.len() * ROUNDS).unwrap();
    assert_eq!(
        after.version,
        before.version + writes,
        "every write counted"
    );

    // Each write's event reaches a subscriber, through the worker.
    let mut seen = 0;
    while seen < FIELDS.len() * ROUNDS {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("user:updated delivered")
            .expect("stream open");
        if let EventPayload::UserUpdated { user_id, .. } = event.payload
            && user_id.to_string() == auth.user_id
        {
            seen += 1;
        }
    }
}

async fn a_stale_expected_version_is_refused_and_changes_nothing(latchd: TestLatchd) {
    let auth = latchd.signed_up("stale@example.com").await;
    let mut profiles = latchd.profile();
    let read = get(&latchd, &auth.access_token).await;

    let written = must(
        profiles
            .update_profile(bearer(
                update("first_name", 1, read.version),
                &auth.access_token,
            ))
            .await,
        "update at the version read",
    )
    .into_inner()
    .profile
    .expect("a profile");
    assert_eq!(written.version, read.version + 1);

    let status = profiles
        .update_profile(bearer(
            update("last_name", 2, read.version),
            &auth.access_token,
        ))
        .await
        .expect_err("a stale version is refused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "PROFILE_VERSION_CONFLICT");
    assert_eq!(
        get(&latchd, &auth.access_token).await,
        written,
        "nothing changed"
    );
}
