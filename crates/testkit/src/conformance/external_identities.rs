//! [`ExternalIdentityRepository`]: one identity per (provider, subject),
//! whoever links it first, and never unlinking a user's last way to sign
//! in, also when two unlinks race.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::{ExternalIdentity, Unlinked},
    ports::{ExternalIdentityRepository, UserRepository},
};
use uuid::Uuid;

use super::{assert_reason, now, race, users::new_user};

fn identity(user: UserId, provider: &str, subject: &str) -> ExternalIdentity {
    ExternalIdentity {
        id: Uuid::now_v7(),
        user_id: user,
        provider: provider.to_owned(),
        subject: subject.to_owned(),
        email: Some(format!("{subject}@example.test")),
        created_at: now(),
        last_used_at: None,
    }
}

/// A user of the same store: with a password (`true`) or without.
async fn user(users: &dyn UserRepository, password: bool) -> UserId {
    let mut user = new_user();
    if !password {
        user.password_hash = None;
    }
    users.create(&user).await.expect("create user").id
}

/// The rows need their user (identity keeps both), so the suite takes the
/// user repository of the same store.
pub async fn run(users: Arc<dyn UserRepository>, repo: Arc<dyn ExternalIdentityRepository>) {
    links_and_finds(&*repo, &*users).await;
    one_owner_per_subject(&*repo, &*users).await;
    touch_records_use(&*repo, &*users).await;
    unlink_only_own(&*repo, &*users).await;
    keeps_the_last_way_in(&*repo, &*users).await;
    racing_unlinks_keep_one(repo.clone(), &*users).await;
    gone_with_the_user(&*repo, &*users).await;
}

async fn links_and_finds(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let owner = user(users, true).await;
    let first = identity(owner, "corp", "sub-1");
    let mut second = identity(owner, "google", "sub-1");
    second.created_at = first.created_at + Duration::seconds(1);
    second.email = None;
    repo.link(&first).await.expect("link");
    repo.link(&second)
        .await
        .expect("link same subject at another provider");

    assert_eq!(
        repo.find("corp", "sub-1").await.expect("find"),
        Some(first.clone())
    );
    assert_eq!(repo.find("corp", "sub-2").await.expect("find"), None);
    assert_eq!(repo.find("other", "sub-1").await.expect("find"), None);
    assert_eq!(
        repo.list_for_user(owner, 10).await.expect("list"),
        vec![first.clone(), second]
    );
    assert_eq!(
        repo.list_for_user(owner, 1).await.expect("list"),
        vec![first]
    );
    assert!(
        repo.list_for_user(UserId::new(), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn one_owner_per_subject(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let (a, b) = (user(users, true).await, user(users, true).await);
    repo.link(&identity(a, "corp", "shared"))
        .await
        .expect("link");
    assert_reason(
        repo.link(&identity(b, "corp", "shared")).await,
        Reason::AlreadyExists,
    );
    assert_reason(
        repo.link(&identity(a, "corp", "shared")).await,
        Reason::AlreadyExists,
    );
    let found = repo.find("corp", "shared").await.expect("find");
    assert_eq!(found.map(|i| i.user_id), Some(a));
    assert!(repo.list_for_user(b, 10).await.expect("list").is_empty());
}

async fn touch_records_use(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let owner = user(users, true).await;
    let linked = identity(owner, "corp", "touched");
    repo.link(&linked).await.expect("link");
    let at = now() + Duration::minutes(5);
    assert!(repo.touch(linked.id, at).await.expect("touch"));
    let found = repo.find("corp", "touched").await.expect("find");
    assert_eq!(found.and_then(|i| i.last_used_at), Some(at));
    assert!(!repo.touch(Uuid::now_v7(), at).await.expect("touch unknown"));
}

async fn unlink_only_own(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let (owner, other) = (user(users, true).await, user(users, true).await);
    let linked = identity(owner, "corp", "own");
    repo.link(&linked).await.expect("link");
    assert_eq!(
        repo.unlink(other, linked.id).await.expect("unlink"),
        Unlinked::NotFound
    );
    assert_eq!(
        repo.unlink(UserId::new(), linked.id).await.expect("unlink"),
        Unlinked::NotFound
    );
    assert!(repo.find("corp", "own").await.expect("find").is_some());
    // With a password, the only identity may go.
    assert_eq!(
        repo.unlink(owner, linked.id).await.expect("unlink"),
        Unlinked::Unlinked
    );
    assert_eq!(repo.find("corp", "own").await.expect("find"), None);
    assert_eq!(
        repo.unlink(owner, linked.id).await.expect("unlink again"),
        Unlinked::NotFound
    );
}

async fn keeps_the_last_way_in(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let owner = user(users, false).await;
    let (first, second) = (
        identity(owner, "corp", "last-1"),
        identity(owner, "google", "last-2"),
    );
    repo.link(&first).await.expect("link");
    repo.link(&second).await.expect("link");
    assert_eq!(
        repo.unlink(owner, first.id).await.expect("unlink"),
        Unlinked::Unlinked
    );
    assert_eq!(
        repo.unlink(owner, second.id).await.expect("unlink"),
        Unlinked::LastSignInMethod
    );
    assert_eq!(
        repo.list_for_user(owner, 10).await.expect("list"),
        vec![second]
    );
}

async fn racing_unlinks_keep_one(
    repo: Arc<dyn ExternalIdentityRepository>,
    users: &dyn UserRepository,
) {
    let owner = user(users, false).await;
    let linked = [
        identity(owner, "corp", "race-1"),
        identity(owner, "google", "race-2"),
    ];
    for one in &linked {
        repo.link(one).await.expect("link");
    }
    let ids = [linked[0].id, linked[1].id];
    let results = race(2, |i| {
        let repo = repo.clone();
        async move { repo.unlink(owner, ids[i]).await }
    })
    .await;
    // A loser may also be told to retry (a busy SQLite writer).
    let unlinked = results
        .iter()
        .filter(|r| matches!(r, Ok(Unlinked::Unlinked)))
        .count();
    assert_eq!(unlinked, 1, "{results:?}");
    assert_eq!(repo.list_for_user(owner, 10).await.expect("list").len(), 1);
}

async fn gone_with_the_user(repo: &dyn ExternalIdentityRepository, users: &dyn UserRepository) {
    let owner = user(users, true).await;
    repo.link(&identity(owner, "corp", "leaving"))
        .await
        .expect("link");
    assert!(users.delete(owner).await.expect("delete user"));
    assert_eq!(repo.find("corp", "leaving").await.expect("find"), None);
}
