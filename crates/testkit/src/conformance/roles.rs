//! [`RoleRepository`]: the seeded roles, permissions, idempotent assignment.

use std::sync::Arc;

use latch_domain::{
    Reason, RoleId, UserId,
    model::{Role, builtin, permission},
    ports::RoleRepository,
};

use super::{assert_reason, now, race};

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

pub async fn run(repo: Arc<dyn RoleRepository>) {
    seeded(&*repo).await;
    assigns(repo.clone()).await;
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

async fn assigns(repo: Arc<dyn RoleRepository>) {
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

    assert!(repo.assign(user, default.id, now()).await.expect("assign"));
    assert!(
        !repo
            .assign(user, default.id, now())
            .await
            .expect("assign again")
    );

    // Racing assignments of one role: one inserts, none fails.
    let results = race(8, |_| {
        let repo = repo.clone();
        let role = admin.id;
        async move { repo.assign(user, role, now()).await }
    })
    .await;
    let inserted = results
        .into_iter()
        .map(|r| r.expect("assign is idempotent"))
        .filter(|inserted| *inserted)
        .count();
    assert_eq!(inserted, 1);

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
        repo.assign(user, superadmin.id, now())
            .await
            .expect("assign")
    );
    assert_eq!(
        repo.permissions_of_user(user).await.expect("perms"),
        all_permissions()
    );

    assert!(repo.unassign(user, superadmin.id).await.expect("unassign"));
    assert!(
        !repo
            .unassign(user, superadmin.id)
            .await
            .expect("unassign again")
    );
    assert!(
        !repo
            .permissions_of_user(user)
            .await
            .expect("perms")
            .contains(&permission::KEYS_WRITE.to_owned())
    );

    assert_reason(
        repo.assign(user, RoleId::new(), now()).await,
        Reason::NotFound,
    );
    // Another user's roles are their own.
    assert!(
        repo.roles_of_user(UserId::new())
            .await
            .expect("roles")
            .is_empty()
    );
}
