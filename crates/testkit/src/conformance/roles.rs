//! [`RoleRepository`]: the seeded roles, permissions, idempotent
//! assignment; the outbox rows of a write written with it, and only when
//! it changed something.

use std::sync::Arc;

use latch_domain::{
    Reason, RoleId, UserId,
    model::{Role, builtin, permission},
    ports::{NewOutboxMessage, OutboxRepository, RoleRepository},
};

use super::{assert_reason, now, outbox::message, race};

/// A key of this test's own, for the rows of one write.
pub(super) fn unique_key() -> String {
    format!("role-write-{}", uuid::Uuid::new_v4().simple())
}

/// The event row a write takes, under `key`.
pub(super) fn event(key: &str) -> Vec<NewOutboxMessage> {
    vec![message("test.authz_changed", key, now())]
}

/// How many rows were written under `key`.
pub(super) async fn written(outbox: &dyn OutboxRepository, key: &str) -> usize {
    outbox.find_by_key(key).await.expect("outbox rows").len()
}

fn all_permissions() -> Vec<String> {
    let mut all: Vec<String> = [
        permission::USERS_READ,
        permission::USERS_WRITE,
        permission::SESSIONS_READ,
        permission::SESSIONS_WRITE,
        permission::ROLES_READ,
        permission::ROLES_WRITE,
        permission::KEYS_WRITE,
        permission::PROFILES_READ,
        permission::PROFILES_WRITE,
    ]
    .map(String::from)
    .to_vec();
    all.sort();
    all
}

async fn role(repo: &dyn RoleRepository, name: &str) -> Role {
    repo.find_role(name)
        .await
        .expect("find role")
        .unwrap_or_else(|| panic!("role {name} is seeded"))
}

pub async fn run(repo: Arc<dyn RoleRepository>, outbox: Arc<dyn OutboxRepository>) {
    seeded(&*repo).await;
    assigns(repo.clone(), outbox.clone()).await;
    unassigns_all(&*repo, &*outbox).await;
}

async fn seeded(repo: &dyn RoleRepository) {
    let roles = repo.list_roles().await.expect("list");
    for name in [builtin::SUPERADMIN, builtin::ADMIN, builtin::USER] {
        let role = roles
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert!(role.builtin, "{name} is built in");
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "roles are listed by name");
    assert_eq!(repo.find_role("NO_SUCH_ROLE").await.expect("find"), None);

    let superadmin = role(repo, builtin::SUPERADMIN).await;
    assert_eq!(
        repo.permissions_of_role(superadmin.id)
            .await
            .expect("perms"),
        all_permissions()
    );
    let admin = role(repo, builtin::ADMIN).await;
    let expected: Vec<String> = all_permissions()
        .into_iter()
        .filter(|p| p != permission::KEYS_WRITE && p != permission::ROLES_WRITE)
        .collect();
    assert_eq!(
        repo.permissions_of_role(admin.id).await.expect("perms"),
        expected
    );
    let user = role(repo, builtin::USER).await;
    assert!(
        repo.permissions_of_role(user.id)
            .await
            .expect("perms")
            .is_empty()
    );
    assert!(
        repo.permissions_of_role(RoleId::new())
            .await
            .expect("perms")
            .is_empty()
    );
}

async fn assigns(repo: Arc<dyn RoleRepository>, outbox: Arc<dyn OutboxRepository>) {
    let outbox = &*outbox;
    let admin = role(&*repo, builtin::ADMIN).await;
    let superadmin = role(&*repo, builtin::SUPERADMIN).await;
    let default = role(&*repo, builtin::DEFAULT).await;
    let user = UserId::new();
    assert!(repo.roles_of_user(user).await.expect("roles").is_empty());
    assert!(
        repo.permissions_of_user(user)
            .await
            .expect("perms")
            .is_empty()
    );

    let key = unique_key();
    assert!(
        repo.assign(user, default.id, now(), &event(&key))
            .await
            .expect("assign")
    );
    assert_eq!(written(outbox, &key).await, 1, "written with the change");
    let again = unique_key();
    assert!(
        !repo
            .assign(user, default.id, now(), &event(&again))
            .await
            .expect("assign again")
    );
    assert_eq!(written(outbox, &again).await, 0, "no change, no row");

    // Racing assignments of one role: one inserts, none fails, and only
    // the one that inserted writes its row.
    let key = unique_key();
    let results = race(8, |_| {
        let repo = repo.clone();
        let role = admin.id;
        let rows = event(&key);
        async move { repo.assign(user, role, now(), &rows).await }
    })
    .await;
    let inserted = results
        .into_iter()
        .map(|r| r.expect("assign is idempotent"))
        .filter(|inserted| *inserted)
        .count();
    assert_eq!(inserted, 1);
    assert_eq!(written(outbox, &key).await, 1);

    let held: Vec<String> = repo
        .roles_of_user(user)
        .await
        .expect("roles")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        held,
        vec![builtin::ADMIN.to_owned(), builtin::USER.to_owned()]
    );
    assert_eq!(
        repo.permissions_of_user(user).await.expect("perms"),
        repo.permissions_of_role(admin.id).await.expect("perms")
    );

    // Overlapping grants are listed once.
    assert!(
        repo.assign(user, superadmin.id, now(), &[])
            .await
            .expect("assign")
    );
    assert_eq!(
        repo.permissions_of_user(user).await.expect("perms"),
        all_permissions()
    );

    let key = unique_key();
    assert!(
        repo.unassign(user, superadmin.id, &event(&key))
            .await
            .expect("unassign")
    );
    assert_eq!(written(outbox, &key).await, 1);
    let again = unique_key();
    assert!(
        !repo
            .unassign(user, superadmin.id, &event(&again))
            .await
            .expect("unassign again")
    );
    assert_eq!(written(outbox, &again).await, 0);
    assert!(
        !repo
            .permissions_of_user(user)
            .await
            .expect("perms")
            .contains(&permission::KEYS_WRITE.to_owned())
    );

    let refused = unique_key();
    assert_reason(
        repo.assign(user, RoleId::new(), now(), &event(&refused))
            .await,
        Reason::NotFound,
    );
    assert_eq!(written(outbox, &refused).await, 0, "a failed write, no row");
    // Another user's roles are their own.
    assert!(
        repo.roles_of_user(UserId::new())
            .await
            .expect("roles")
            .is_empty()
    );
}

async fn unassigns_all(repo: &dyn RoleRepository, outbox: &dyn OutboxRepository) {
    let (user, other) = (UserId::new(), UserId::new());
    for name in [builtin::USER, builtin::ADMIN] {
        let role = role(repo, name).await;
        for holder in [user, other] {
            repo.assign(holder, role.id, now(), &[])
                .await
                .expect("assign");
        }
    }
    let key = unique_key();
    assert_eq!(
        repo.unassign_all(user, &event(&key))
            .await
            .expect("unassign"),
        2
    );
    assert_eq!(written(outbox, &key).await, 1);
    let again = unique_key();
    assert_eq!(
        repo.unassign_all(user, &event(&again))
            .await
            .expect("again"),
        0
    );
    assert_eq!(written(outbox, &again).await, 0);
    assert_eq!(repo.roles_of_user(other).await.expect("roles").len(), 2);
}
