//! [`LoginHistoryRepository`]: newest first, limited, gone with the user.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::LoginEvent,
    ports::{LoginHistoryRepository, UserRepository},
};

use super::{assert_reason, users::new_user};

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
    }
}

/// History rows need their user (identity keeps both), so the suite takes
/// the user repository of the same store.
pub async fn run(users: Arc<dyn UserRepository>, history: Arc<dyn LoginHistoryRepository>) {
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
        history.record(event).await.expect("record");
    }
    history
        .record(&attempt(other.id, 3, true))
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
        history.record(&attempt(UserId::new(), 0, false)).await,
        Reason::NotFound,
    );

    users.delete(user.id).await.expect("delete user");
    assert!(history.list(user.id, 10).await.expect("list").is_empty());
    assert_eq!(history.list(other.id, 10).await.expect("list").len(), 1);
}
