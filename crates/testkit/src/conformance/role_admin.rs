//! [`RoleRepository`] administration: custom roles and permissions, grants,
//! guarded deletions, name-keyed pages; every refused write leaves no trace,
//! its outbox rows included, and every write that changed something leaves
//! its rows.

use std::sync::Arc;

use latch_domain::{
    Reason, Result, RoleId, UserId,
    model::{Permission, Role, RoleDeletion, RoleUpdate, builtin, permission},
    ports::{OutboxRepository, RoleRepository},
};

use super::{
    assert_reason, now, race,
    roles::{event, unique_key, written},
};

fn new_role(name: &str) -> Role {
    Role {
        id: RoleId::new(),
        name: name.to_owned(),
        description: Some(format!("{name} role")),
        builtin: false,
        created_at: now(),
    }
}

fn new_permission(name: &str) -> Permission {
    Permission {
        name: name.to_owned(),
        description: Some(format!("may {name}")),
        builtin: false,
        created_at: now(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn role(repo: &dyn RoleRepository, name: &str) -> Option<Role> {
    repo.find_role(name).await.expect("find role")
}

async fn seeded(repo: &dyn RoleRepository, name: &str) -> Role {
    role(repo, name).await.expect("seeded")
}

async fn granted(repo: &dyn RoleRepository, role: RoleId) -> Vec<String> {
    repo.permissions_of_role(role).await.expect("grants")
}

async fn permission_exists(repo: &dyn RoleRepository, name: &str) -> bool {
    !repo
        .find_permissions(&names(&[name]))
        .await
        .expect("find")
        .is_empty()
}

pub async fn run(repo: Arc<dyn RoleRepository>, outbox: Arc<dyn OutboxRepository>) {
    permissions_are_listed_by_name_in_pages(&*repo).await;
    permissions_are_created_and_deleted_with_their_grants(&*repo, &*outbox).await;
    roles_are_created_updated_and_granted(&*repo, &*outbox).await;
    roles_in_use_are_deleted_only_when_forced(&*repo, &*outbox).await;
    roles_are_listed_by_name_in_pages(&*repo).await;
    a_deletion_racing_assignments_never_drops_one_silently(repo).await;
}

async fn permissions_are_listed_by_name_in_pages(repo: &dyn RoleRepository) {
    let all = repo.list_permissions_after(None, 100).await.expect("list");
    let mut expected = names(&permission::BUILTIN);
    expected.sort();
    let listed: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    assert_eq!(listed, expected);
    assert!(
        all.iter().all(|p| p.builtin),
        "the seeded ones are built in"
    );

    let first = repo.list_permissions_after(None, 4).await.expect("page");
    let last = first.last().map(|p| p.name.as_str());
    let rest = repo.list_permissions_after(last, 100).await.expect("page");
    let paged: Vec<String> = first.iter().chain(&rest).map(|p| p.name.clone()).collect();
    assert_eq!(
        paged, expected,
        "pages follow each other without gap or overlap"
    );

    let found = repo
        .find_permissions(&names(&[permission::USERS_READ, "nope.nope"]))
        .await
        .expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, permission::USERS_READ);
    assert!(repo.find_permissions(&[]).await.expect("none").is_empty());
}

async fn permissions_are_created_and_deleted_with_their_grants(
    repo: &dyn RoleRepository,
    outbox: &dyn OutboxRepository,
) {
    let superadmin = seeded(repo, builtin::SUPERADMIN).await;
    let admin = seeded(repo, builtin::ADMIN).await;
    let invoices = new_permission("invoices.read");
    let key = unique_key();
    repo.create_permission(&invoices, &[superadmin.id], &event(&key))
        .await
        .expect("create");
    assert_eq!(written(outbox, &key).await, 1);
    let stored = repo
        .find_permissions(&names(&["invoices.read"]))
        .await
        .expect("find");
    assert_eq!(stored, vec![invoices.clone()]);
    assert!(granted(repo, superadmin.id).await.contains(&invoices.name));

    let refused = unique_key();
    assert_reason(
        repo.create_permission(&invoices, &[], &event(&refused))
            .await,
        Reason::AlreadyExists,
    );
    // A grant that cannot be made takes the permission with it.
    assert_reason(
        repo.create_permission(
            &new_permission("ghosts.read"),
            &[RoleId::new()],
            &event(&refused),
        )
        .await,
        Reason::NotFound,
    );
    assert!(!permission_exists(repo, "ghosts.read").await);
    assert_eq!(written(outbox, &refused).await, 0);

    let key = unique_key();
    assert!(
        repo.grant(admin.id, &invoices.name, &event(&key))
            .await
            .expect("grant")
    );
    assert_eq!(written(outbox, &key).await, 1);
    // One row per role that granted it, built from the role's name.
    let deleted = unique_key();
    let per_role = |role: &str| Ok(event(&format!("{deleted}:{role}")));
    assert_eq!(
        repo.delete_permission(&invoices.name, &per_role)
            .await
            .expect("delete"),
        Some(names(&[builtin::ADMIN, builtin::SUPERADMIN]))
    );
    for role in [builtin::ADMIN, builtin::SUPERADMIN] {
        assert_eq!(written(outbox, &format!("{deleted}:{role}")).await, 1);
    }
    let none = unique_key();
    let none_per_role = |role: &str| Ok(event(&format!("{none}:{role}")));
    assert!(!permission_exists(repo, &invoices.name).await);
    assert!(!granted(repo, admin.id).await.contains(&invoices.name));
    assert!(!granted(repo, superadmin.id).await.contains(&invoices.name));
    assert_eq!(
        repo.delete_permission(&invoices.name, &none_per_role)
            .await
            .expect("again"),
        None
    );

    // Built-in permissions stay, and so do their grants.
    assert_eq!(
        repo.delete_permission(permission::USERS_READ, &none_per_role)
            .await
            .expect("built in"),
        None
    );
    for role in [builtin::ADMIN, builtin::SUPERADMIN] {
        assert_eq!(written(outbox, &format!("{none}:{role}")).await, 0);
    }
    assert!(permission_exists(repo, permission::USERS_READ).await);
    assert!(
        granted(repo, admin.id)
            .await
            .contains(&permission::USERS_READ.to_owned())
    );
}

async fn roles_are_created_updated_and_granted(
    repo: &dyn RoleRepository,
    outbox: &dyn OutboxRepository,
) {
    repo.create_permission(&new_permission("reports.read"), &[], &[])
        .await
        .expect("permission");
    let auditor = new_role("AUDITOR");
    let key = unique_key();
    repo.create_role(
        &auditor,
        &names(&["reports.read", permission::USERS_READ]),
        &event(&key),
    )
    .await
    .expect("create");
    assert_eq!(written(outbox, &key).await, 1);
    let refused = unique_key();
    assert_eq!(role(repo, "AUDITOR").await, Some(auditor.clone()));
    assert_eq!(
        granted(repo, auditor.id).await,
        names(&["reports.read", permission::USERS_READ])
    );

    assert_reason(
        repo.create_role(&new_role("AUDITOR"), &[], &event(&refused))
            .await,
        Reason::AlreadyExists,
    );
    // An unknown permission refuses the whole role.
    assert_reason(
        repo.create_role(
            &new_role("GHOST"),
            &names(&["ghosts.read"]),
            &event(&refused),
        )
        .await,
        Reason::NotFound,
    );
    assert_eq!(role(repo, "GHOST").await, None);

    let later = now() + chrono::Duration::seconds(5);
    let refused_key = refused;
    let refused = RoleUpdate {
        description: Some(Some("changed".to_owned())),
        permissions: Some(names(&[permission::USERS_READ, "ghosts.read"])),
    };
    assert_reason(
        repo.update_role(auditor.id, &refused, later, &event(&refused_key))
            .await,
        Reason::NotFound,
    );
    assert_eq!(
        role(repo, "AUDITOR").await,
        Some(auditor.clone()),
        "unchanged"
    );
    assert_eq!(
        granted(repo, auditor.id).await,
        names(&["reports.read", permission::USERS_READ])
    );

    let replace = RoleUpdate {
        description: Some(None),
        permissions: Some(names(&[permission::SESSIONS_READ])),
    };
    let key = unique_key();
    assert!(
        repo.update_role(auditor.id, &replace, later, &event(&key))
            .await
            .expect("update")
    );
    assert_eq!(written(outbox, &key).await, 1);
    let stored = role(repo, "AUDITOR").await.expect("kept");
    assert_eq!(stored.description, None);
    assert_eq!(stored.created_at, auditor.created_at);
    assert_eq!(
        granted(repo, auditor.id).await,
        names(&[permission::SESSIONS_READ])
    );
    let describe = RoleUpdate {
        description: Some(Some("reads".to_owned())),
        permissions: None,
    };
    assert!(
        repo.update_role(auditor.id, &describe, later, &[])
            .await
            .expect("update")
    );
    assert_eq!(
        granted(repo, auditor.id).await,
        names(&[permission::SESSIONS_READ])
    );
    assert!(
        !repo
            .update_role(RoleId::new(), &describe, later, &event(&refused_key))
            .await
            .expect("unknown")
    );

    let key = unique_key();
    assert!(
        repo.grant(auditor.id, "reports.read", &event(&key))
            .await
            .expect("grant")
    );
    assert_eq!(written(outbox, &key).await, 1);
    assert!(
        !repo
            .grant(auditor.id, "reports.read", &event(&refused_key))
            .await
            .expect("again")
    );
    assert_reason(
        repo.grant(auditor.id, "ghosts.read", &event(&refused_key))
            .await,
        Reason::NotFound,
    );
    assert_reason(
        repo.grant(RoleId::new(), "reports.read", &event(&refused_key))
            .await,
        Reason::NotFound,
    );
    let key = unique_key();
    assert!(
        repo.revoke(auditor.id, "reports.read", &event(&key))
            .await
            .expect("revoke")
    );
    assert_eq!(written(outbox, &key).await, 1);
    assert!(
        !repo
            .revoke(auditor.id, "reports.read", &event(&refused_key))
            .await
            .expect("again")
    );
    assert_eq!(
        written(outbox, &refused_key).await,
        0,
        "no row from a write that failed or changed nothing"
    );

    let grants = repo
        .grants_of_roles(&[auditor.id, seeded(repo, builtin::USER).await.id])
        .await
        .expect("grants");
    assert_eq!(
        grants,
        vec![(auditor.id, permission::SESSIONS_READ.to_owned())]
    );
    assert!(repo.grants_of_roles(&[]).await.expect("none").is_empty());
}

async fn roles_in_use_are_deleted_only_when_forced(
    repo: &dyn RoleRepository,
    outbox: &dyn OutboxRepository,
) {
    let support = new_role("SUPPORT");
    repo.create_role(&support, &names(&[permission::USERS_READ]), &[])
        .await
        .expect("create");
    let (ada, bob) = (UserId::new(), UserId::new());
    for user in [ada, bob] {
        repo.assign(user, support.id, now(), &[])
            .await
            .expect("assign");
    }

    let refused = unique_key();
    assert_eq!(
        repo.delete_role(support.id, false, &event(&refused))
            .await
            .expect("refused"),
        RoleDeletion::InUse { holders: 2 }
    );
    assert!(role(repo, "SUPPORT").await.is_some());
    assert_eq!(repo.roles_of_user(ada).await.expect("roles").len(), 1);

    let key = unique_key();
    assert_eq!(
        repo.delete_role(support.id, true, &event(&key))
            .await
            .expect("forced"),
        RoleDeletion::Deleted { unassigned: 2 }
    );
    assert_eq!(written(outbox, &key).await, 1);
    assert_eq!(role(repo, "SUPPORT").await, None);
    assert!(repo.roles_of_user(ada).await.expect("roles").is_empty());
    assert!(
        repo.permissions_of_user(bob)
            .await
            .expect("perms")
            .is_empty()
    );
    assert_eq!(
        repo.delete_role(support.id, true, &event(&refused))
            .await
            .expect("gone"),
        RoleDeletion::NotFound
    );

    let unused = new_role("UNUSED");
    repo.create_role(&unused, &[], &[]).await.expect("create");
    assert_eq!(
        repo.delete_role(unused.id, false, &[])
            .await
            .expect("delete"),
        RoleDeletion::Deleted { unassigned: 0 }
    );

    for name in builtin::ALL {
        let seeded = seeded(repo, name).await;
        assert_eq!(
            repo.delete_role(seeded.id, true, &event(&refused))
                .await
                .expect("built in"),
            RoleDeletion::NotFound,
            "{name}"
        );
        assert!(role(repo, name).await.is_some(), "{name}");
    }
    assert_eq!(written(outbox, &refused).await, 0);
}

async fn roles_are_listed_by_name_in_pages(repo: &dyn RoleRepository) {
    let all = repo.list_roles().await.expect("all");
    let expected: Vec<String> = all.iter().map(|r| r.name.clone()).collect();
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = repo
            .list_roles_after(after.as_deref(), 2)
            .await
            .expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        paged.extend(page.into_iter().map(|r| r.name));
    }
    assert_eq!(paged, expected);
}

enum Outcome {
    Deleted(Result<RoleDeletion>),
    Assigned(Result<bool>),
}

async fn a_deletion_racing_assignments_never_drops_one_silently(repo: Arc<dyn RoleRepository>) {
    for round in 0..5 {
        let racer = new_role(&format!("RACER_{round}"));
        repo.create_role(&racer, &[], &[]).await.expect("create");
        let outcomes = race(8, |i| {
            let repo = repo.clone();
            async move {
                if i == 4 {
                    Outcome::Deleted(repo.delete_role(racer.id, false, &[]).await)
                } else {
                    Outcome::Assigned(repo.assign(UserId::new(), racer.id, now(), &[]).await)
                }
            }
        })
        .await;
        let mut assigned = 0;
        let mut deletion = None;
        for outcome in outcomes {
            match outcome {
                Outcome::Deleted(result) => deletion = Some(result.expect("delete")),
                Outcome::Assigned(Ok(true)) => assigned += 1,
                Outcome::Assigned(Ok(false)) => panic!("each user is new"),
                Outcome::Assigned(Err(err)) => assert_eq!(err.reason(), Reason::NotFound),
            }
        }
        match deletion.expect("the deleting task ran") {
            RoleDeletion::Deleted { unassigned } => {
                assert_eq!(unassigned, 0);
                assert_eq!(assigned, 0, "an assignment was taken back unseen");
                assert!(role(&*repo, &racer.name).await.is_none());
            }
            RoleDeletion::InUse { holders } => {
                assert!(
                    holders >= 1 && holders <= assigned,
                    "{holders} of {assigned}"
                );
                assert!(role(&*repo, &racer.name).await.is_some());
            }
            RoleDeletion::NotFound => panic!("the role existed"),
        }
    }
}
