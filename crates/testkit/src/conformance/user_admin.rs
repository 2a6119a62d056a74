//! [`UserAdminRepository`]: listing newest first with filters and a
//! cursor, status changes with their follow-up, and the tombstone of a
//! deleted user (invisible to [`UserRepository`], purged at the end).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    UserId,
    model::{
        LoginEvent, NewUser, StatusChange, Tombstoning, User, UserCursor, UserQuery, UserStatus,
    },
    ports::{
        LoginHistoryRepository, OutboxRepository, PasswordResetRepository, UserAdminRepository,
        UserRepository,
    },
};

use super::{now, outbox::message, password_resets::new_token, race, users::new_user};

/// The stores the suite needs, all on one database.
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub admin: Arc<dyn UserAdminRepository>,
    pub history: Arc<dyn LoginHistoryRepository>,
    pub resets: Arc<dyn PasswordResetRepository>,
    pub outbox: Arc<dyn OutboxRepository>,
}

pub async fn run(stores: Stores) {
    lists_newest_first_a_page_at_a_time(&stores).await;
    filters(&stores).await;
    a_prefix_is_taken_literally(&stores).await;
    changes_status_with_its_follow_up(&stores).await;
    a_tombstone_is_no_user(&stores).await;
    racing_deletions_mark_once(&stores).await;
    purges_only_tombstones(&stores).await;
}

/// A user whose email starts with `tag`, created `minutes` from now.
fn tagged(tag: &str, n: usize, minutes: i64) -> NewUser {
    NewUser {
        email: format!("{tag}-{n}@example.com"),
        created_at: now() + Duration::minutes(minutes),
        ..new_user()
    }
}

fn tag() -> String {
    format!("adm{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn query(tag: &str, limit: u64) -> UserQuery {
    UserQuery {
        email_prefix: Some(tag.to_owned()),
        limit,
        ..UserQuery::default()
    }
}

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

async fn create_all(stores: &Stores, new: &[NewUser]) -> Vec<User> {
    let mut created = Vec::new();
    for user in new {
        created.push(stores.users.create(user).await.expect("create"));
    }
    created
}

async fn lists_newest_first_a_page_at_a_time(stores: &Stores) {
    let tag = tag();
    let mut new: Vec<NewUser> = (0..5).map(|i| tagged(&tag, i, i as i64)).collect();
    // Two created in the same microsecond: the id breaks the tie.
    new.push(NewUser {
        created_at: new[2].created_at,
        ..tagged(&tag, 9, 0)
    });
    let created = create_all(stores, &new).await;
    let mut expected = created.clone();
    expected.sort_by_key(|u| std::cmp::Reverse((u.created_at, u.id)));

    let all = stores.admin.list(&query(&tag, 100)).await.expect("list");
    assert_eq!(all, expected, "newest first, every column as stored");

    // Page by page with the cursor of the last row: each row once.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = stores
            .admin
            .list(&UserQuery {
                after,
                ..query(&tag, 2)
            })
            .await
            .expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(UserCursor::after(last));
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&expected));
}

async fn filters(stores: &Stores) {
    let tag = tag();
    let new: Vec<NewUser> = (0..4).map(|i| tagged(&tag, i, i as i64 * 10)).collect();
    let created = create_all(stores, &new).await;
    stores
        .users
        .set_status(created[1].id, UserStatus::Active, now(), &[])
        .await
        .expect("activate");
    stores
        .users
        .set_status(created[2].id, UserStatus::Suspended, now(), &[])
        .await
        .expect("suspend");

    let active = UserQuery {
        status: Some(UserStatus::Active),
        ..query(&tag, 10)
    };
    assert_eq!(
        ids(&stores.admin.list(&active).await.expect("active")),
        vec![created[1].id]
    );
    // From is inclusive, before is exclusive.
    let window = UserQuery {
        created_from: Some(created[1].created_at),
        created_before: Some(created[3].created_at),
        ..query(&tag, 10)
    };
    assert_eq!(
        ids(&stores.admin.list(&window).await.expect("window")),
        vec![created[2].id, created[1].id]
    );
    let one = format!("{tag}-3@");
    assert_eq!(
        ids(&stores.admin.list(&query(&one, 10)).await.expect("prefix")),
        vec![created[3].id]
    );
    assert!(
        stores
            .admin
            .list(&query("nobody-has-this-prefix", 10))
            .await
            .expect("none")
            .is_empty()
    );
}

async fn a_prefix_is_taken_literally(stores: &Stores) {
    let tag = tag();
    let underscore = NewUser {
        email: format!("{tag}_a@example.com"),
        ..new_user()
    };
    let letter = NewUser {
        email: format!("{tag}xa@example.com"),
        ..new_user()
    };
    create_all(stores, &[underscore.clone(), letter]).await;
    assert_eq!(
        ids(&stores
            .admin
            .list(&query(&format!("{tag}_"), 10))
            .await
            .expect("underscore")),
        vec![underscore.id],
        "`_` is no wildcard"
    );
    assert!(
        stores
            .admin
            .list(&query(&format!("{tag}%"), 10))
            .await
            .expect("percent")
            .is_empty(),
        "`%` is no wildcard"
    );
}

async fn changes_status_with_its_follow_up(stores: &Stores) {
    let pending = stores.users.create(&new_user()).await.expect("create");
    let key = pending.id.to_string();
    let follow_up = || vec![message("identity.revoke_sessions", &key, now())];
    assert_eq!(
        stores
            .admin
            .change_status(pending.id, UserStatus::Suspended, now(), &follow_up())
            .await
            .expect("pending"),
        StatusChange::Pending,
        "a sign-up still running is left to its saga"
    );
    assert!(
        stores
            .outbox
            .find_by_key(&key)
            .await
            .expect("rows")
            .is_empty(),
        "nothing written with a refusal"
    );

    stores
        .users
        .set_status(pending.id, UserStatus::Active, now(), &[])
        .await
        .expect("activate");
    let at = now() + Duration::minutes(1);
    assert_eq!(
        stores
            .admin
            .change_status(pending.id, UserStatus::Suspended, at, &follow_up())
            .await
            .expect("suspend"),
        StatusChange::Changed
    );
    let user = stores
        .users
        .get(pending.id)
        .await
        .expect("get")
        .expect("user");
    assert_eq!(user.status, UserStatus::Suspended);
    assert_eq!(user.updated_at, at);
    assert_eq!(
        stores.outbox.find_by_key(&key).await.expect("rows").len(),
        1
    );

    assert_eq!(
        stores
            .admin
            .change_status(pending.id, UserStatus::Suspended, at, &follow_up())
            .await
            .expect("again"),
        StatusChange::Unchanged
    );
    assert_eq!(
        stores.outbox.find_by_key(&key).await.expect("rows").len(),
        1,
        "an unchanged status writes no follow-up"
    );
    assert_eq!(
        stores
            .admin
            .change_status(UserId::new(), UserStatus::Active, at, &[])
            .await
            .expect("unknown"),
        StatusChange::NotFound
    );
}

fn attempt(user: UserId, at: DateTime<Utc>) -> LoginEvent {
    LoginEvent {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        at,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        method: "password".into(),
        success: true,
        failure_reason: None,
        device: None,
    }
}

async fn a_tombstone_is_no_user(stores: &Stores) {
    let new = new_user();
    let user = stores.users.create(&new).await.expect("create");
    stores
        .users
        .set_status(user.id, UserStatus::Active, now(), &[])
        .await
        .expect("activate");
    stores
        .history
        .record(&attempt(user.id, now()), &[])
        .await
        .expect("history");
    let token = new_token(user.id, now());
    stores.resets.issue(&token, &[]).await.expect("reset token");
    let tag = tag();
    let listed = NewUser {
        email: format!("{tag}-gone@example.com"),
        ..new_user()
    };
    let listed = stores.users.create(&listed).await.expect("create listed");

    let key = user.id.to_string();
    let at = now() + Duration::minutes(5);
    let steps = vec![
        message("identity.erase_sessions", &key, at),
        message("identity.erase_profile", &key, at),
    ];
    // The event under a key of its own, as `user:{id}` is.
    let event_key = format!("user:{}", user.id);
    let event = || [message("test.event", &event_key, at)];
    assert_eq!(
        stores
            .admin
            .tombstone(user.id, at, &steps, &event())
            .await
            .expect("tombstone"),
        Tombstoning::Marked
    );
    assert_eq!(
        stores.outbox.find_by_key(&key).await.expect("rows").len(),
        2
    );
    assert_eq!(
        stores
            .outbox
            .find_by_key(&event_key)
            .await
            .expect("rows")
            .len(),
        1
    );
    assert_eq!(stores.users.get(user.id).await.expect("get"), None);
    assert_eq!(
        stores.users.find_by_email(&new.email).await.expect("find"),
        None
    );
    assert!(
        stores
            .history
            .list(user.id, 10)
            .await
            .expect("history")
            .is_empty(),
        "identity's own rows go with the tombstone"
    );
    assert_eq!(
        stores
            .resets
            .find_by_hash(&token.token_hash)
            .await
            .expect("reset"),
        None
    );
    // No write brings it back.
    assert!(
        !stores
            .users
            .set_status(user.id, UserStatus::Active, now(), &[])
            .await
            .expect("set status")
    );
    stores
        .users
        .record_login(user.id, now())
        .await
        .expect("record login");
    assert_eq!(stores.users.get(user.id).await.expect("get"), None);
    assert_eq!(
        stores
            .admin
            .change_status(user.id, UserStatus::Active, now(), &[])
            .await
            .expect("status"),
        StatusChange::NotFound
    );
    // The address is free again at once.
    let again = NewUser {
        email: new.email.clone(),
        ..new_user()
    };
    stores
        .users
        .create(&again)
        .await
        .expect("the address of a deleted user can sign up again");

    // Run again: the tombstone keeps its time; the steps are queued again.
    assert_eq!(
        stores
            .admin
            .tombstone(
                user.id,
                at + Duration::minutes(1),
                &[message("identity.erase_sessions", &key, at)],
                &event(),
            )
            .await
            .expect("again"),
        Tombstoning::AlreadyDeleted(at)
    );
    assert_eq!(
        stores.outbox.find_by_key(&key).await.expect("rows").len(),
        3
    );
    assert_eq!(
        stores
            .outbox
            .find_by_key(&event_key)
            .await
            .expect("rows")
            .len(),
        1,
        "a deletion run again announces nothing new"
    );
    assert_eq!(
        stores
            .admin
            .tombstone(UserId::new(), at, &[], &[])
            .await
            .expect("unknown"),
        Tombstoning::NotFound
    );

    // Never listed.
    stores
        .admin
        .tombstone(listed.id, at, &[], &[])
        .await
        .expect("tombstone listed");
    assert!(
        stores
            .admin
            .list(&query(&tag, 10))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn racing_deletions_mark_once(stores: &Stores) {
    let user = stores.users.create(&new_user()).await.expect("create");
    let admin = stores.admin.clone();
    let outcomes = race(4, move |_| {
        let admin = admin.clone();
        async move {
            admin
                .tombstone(user.id, now(), &[], &[])
                .await
                .expect("race")
        }
    })
    .await;
    let marked = outcomes
        .iter()
        .filter(|o| **o == Tombstoning::Marked)
        .count();
    assert_eq!(marked, 1, "{outcomes:?}");
}

async fn purges_only_tombstones(stores: &Stores) {
    let live = stores.users.create(&new_user()).await.expect("create");
    let doomed = stores.users.create(&new_user()).await.expect("create");
    let at = now() + Duration::days(400);
    stores
        .admin
        .tombstone(doomed.id, at, &[], &[])
        .await
        .expect("tombstone");

    let due = stores
        .admin
        .deleted_before(at + Duration::seconds(1), 1_000)
        .await
        .expect("due");
    assert!(due.contains(&doomed.id));
    assert!(!due.contains(&live.id));
    assert!(
        !stores
            .admin
            .deleted_before(at, 1_000)
            .await
            .expect("not yet")
            .contains(&doomed.id)
    );

    assert!(!stores.admin.purge(live.id).await.expect("live"));
    assert!(stores.users.get(live.id).await.expect("get").is_some());
    assert!(stores.admin.purge(doomed.id).await.expect("purge"));
    assert!(!stores.admin.purge(doomed.id).await.expect("again"));
    assert_eq!(
        stores
            .admin
            .tombstone(doomed.id, at, &[], &[])
            .await
            .expect("after purge"),
        Tombstoning::NotFound,
        "purged: the id is unknown"
    );
}
