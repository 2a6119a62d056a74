//! [`LoginHistoryRepository`]: newest first, limited, gone with the user.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::LoginEvent,
    ports::{LoginHistoryRepository, OutboxRepository, UserRepository},
};

use super::{assert_reason, outbox::message, users::new_user};

fn attempt(user: UserId, minutes: i64, success: bool) -> LoginEvent {
    LoginEvent {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        at: super::now() + Duration::minutes(minutes),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        method: "password".into(),
        success,
        failure_reason: (!success).then(|| "INVALID_CREDENTIALS".into()),
        device: Some("laptop".into()),
    }
}

/// History rows need their user (identity keeps both), so the suite takes
/// the user repository of the same store, and the outbox its follow-up
/// rows go to.
pub async fn run(
    users: Arc<dyn UserRepository>,
    history: Arc<dyn LoginHistoryRepository>,
    outbox: Arc<dyn OutboxRepository>,
) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    let other = new_user();
    users.create(&other).await.expect("create other user");

    let first = attempt(user.id, 0, false);
    let second = attempt(user.id, 1, true);
    let third = LoginEvent {
        ip: None,
        user_agent: None,
        method: "oidc:google".into(),
        ..attempt(user.id, 2, true)
    };
    // Recorded out of order: the list orders by time, not by insertion.
    for event in [&second, &first, &third] {
        history.record(event, &[]).await.expect("record");
    }
    history
        .record(&attempt(other.id, 3, true), &[])
        .await
        .expect("record other");

    let listed = history.list(user.id, 10).await.expect("list");
    assert_eq!(listed, vec![third.clone(), second.clone(), first.clone()]);
    assert_eq!(
        history.list(user.id, 2).await.expect("list"),
        vec![third, second]
    );
    assert!(
        history
            .list(UserId::new(), 10)
            .await
            .expect("list")
            .is_empty()
    );

    assert_reason(
        history.record(&attempt(UserId::new(), 0, false), &[]).await,
        Reason::NotFound,
    );

    users.delete(user.id).await.expect("delete user");
    assert!(history.list(user.id, 10).await.expect("list").is_empty());
    assert_eq!(history.list(other.id, 10).await.expect("list").len(), 1);

    last_success_by_device(users.clone(), history.clone()).await;
    follow_up_commits_with_the_row(users, history, outbox).await;
}

/// A notice written with the attempt exists exactly when the attempt does.
async fn follow_up_commits_with_the_row(
    users: Arc<dyn UserRepository>,
    history: Arc<dyn LoginHistoryRepository>,
    outbox: Arc<dyn OutboxRepository>,
) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    let key = format!("notice-{}", user.id);
    let notice = message("identity.send_mail", &key, super::now());
    history
        .record(&attempt(user.id, 0, true), std::slice::from_ref(&notice))
        .await
        .expect("record with a notice");
    let rows = outbox.find_by_key(&key).await.expect("find");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, notice.id);

    let nobody_key = format!("notice-{}", UserId::new());
    let lost = message("identity.send_mail", &nobody_key, super::now());
    assert_reason(
        history
            .record(&attempt(UserId::new(), 0, true), &[lost])
            .await,
        Reason::NotFound,
    );
    assert!(
        outbox
            .find_by_key(&nobody_key)
            .await
            .expect("find")
            .is_empty(),
        "the notice of an attempt that was not written is not written either"
    );
}

/// The newest successful sign-in, from one device or any; failures and
/// other users' sign-ins do not count.
async fn last_success_by_device(
    users: Arc<dyn UserRepository>,
    history: Arc<dyn LoginHistoryRepository>,
) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    let other = new_user();
    users.create(&other).await.expect("create other user");
    assert_eq!(
        history.last_success(user.id, None).await.expect("last"),
        None
    );

    let on_laptop = attempt(user.id, 0, true);
    let failed_on_phone = LoginEvent {
        device: Some("phone".into()),
        ..attempt(user.id, 5, false)
    };
    let later_on_laptop = attempt(user.id, 10, true);
    let unknown_device = LoginEvent {
        device: None,
        ..attempt(user.id, 20, true)
    };
    let others_phone = LoginEvent {
        device: Some("phone".into()),
        ..attempt(other.id, 30, true)
    };
    for event in [
        &later_on_laptop,
        &on_laptop,
        &failed_on_phone,
        &unknown_device,
        &others_phone,
    ] {
        history.record(event, &[]).await.expect("record");
    }

    assert_eq!(
        history
            .last_success(user.id, Some("laptop"))
            .await
            .expect("laptop"),
        Some(later_on_laptop.at)
    );
    assert_eq!(
        history
            .last_success(user.id, Some("phone"))
            .await
            .expect("phone"),
        None,
        "a failed attempt is no sign-in; another user's is not this one's"
    );
    assert_eq!(
        history.last_success(user.id, None).await.expect("any"),
        Some(later_on_laptop.at),
        "a sign-in stored without a fingerprint is no device to compare with"
    );
    assert_eq!(
        history
            .last_success(UserId::new(), None)
            .await
            .expect("nobody"),
        None
    );
    let listed = history.list(user.id, 10).await.expect("list");
    assert_eq!(listed[0].device, None);
    assert_eq!(listed[1].device.as_deref(), Some("laptop"));
}
