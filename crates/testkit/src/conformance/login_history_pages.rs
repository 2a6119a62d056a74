//! [`LoginHistoryRepository`] for reading and retention: pages newest
//! first with a cursor, and the oldest rows deleted in bounded batches.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    UserId,
    model::{LoginCursor, LoginEvent},
    ports::{LoginHistoryRepository, UserRepository},
};

use super::{now, users::new_user};

fn attempt(user: UserId, minutes: i64) -> LoginEvent {
    LoginEvent {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        at: now() + Duration::minutes(minutes),
        ip: Some("2001:db8::1".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
        method: "password+totp".into(),
        success: minutes % 2 == 0,
        failure_reason: (minutes % 2 != 0).then(|| "CODE_INVALID".into()),
        device: None,
    }
}

pub async fn run(users: Arc<dyn UserRepository>, history: Arc<dyn LoginHistoryRepository>) {
    pages(&*users, &*history).await;
    deletes_the_oldest_in_batches(&*users, &*history).await;
}

async fn pages(users: &dyn UserRepository, history: &dyn LoginHistoryRepository) {
    let user = new_user();
    users.create(&user).await.expect("create");
    let other = new_user();
    users.create(&other).await.expect("create other");
    let mut events: Vec<LoginEvent> = (0..7).map(|m| attempt(user.id, m)).collect();
    // Two attempts in one microsecond: the id breaks the tie.
    events.push(LoginEvent {
        id: uuid::Uuid::now_v7(),
        ..events[3].clone()
    });
    for event in events.iter().rev() {
        history.record(event, &[]).await.expect("record");
    }
    history
        .record(&attempt(other.id, 3), &[])
        .await
        .expect("record other");
    let mut expected = events.clone();
    expected.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = history.page(user.id, after, 3).await.expect("page");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(LoginCursor::after(last));
        paged.extend(page);
    }
    assert_eq!(paged, expected, "each attempt once, newest first");
    assert!(
        history
            .page(UserId::new(), None, 10)
            .await
            .expect("nobody")
            .is_empty()
    );
}

async fn deletes_the_oldest_in_batches(
    users: &dyn UserRepository,
    history: &dyn LoginHistoryRepository,
) {
    let user = new_user();
    users.create(&user).await.expect("create");
    // Far in the past, so rows other tests wrote stay out of the count.
    let old: Vec<LoginEvent> = (0..5)
        .map(|m| LoginEvent {
            at: now() - Duration::days(3_000) + Duration::minutes(m),
            ..attempt(user.id, m)
        })
        .collect();
    let recent = attempt(user.id, 0);
    for event in old.iter().chain([&recent]) {
        history.record(event, &[]).await.expect("record");
    }
    let cutoff = now() - Duration::days(2_000);
    assert_eq!(history.delete_before(cutoff, 2).await.expect("batch"), 2);
    assert_eq!(history.delete_before(cutoff, 2).await.expect("batch"), 2);
    assert_eq!(history.delete_before(cutoff, 2).await.expect("batch"), 1);
    assert_eq!(history.delete_before(cutoff, 2).await.expect("done"), 0);
    assert_eq!(
        history.list(user.id, 10).await.expect("left"),
        vec![recent],
        "only what is older than the cutoff goes"
    );
}
