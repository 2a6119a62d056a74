use latch_domain::{
    Reason, Result, UserId,
    events::AuthzScope,
    model::{RoleUpdate, builtin, permission},
    ports::{RoleDirectory, UserDataEraser},
};

use super::*;
use crate::testing::Harness;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn role_scope(name: &str) -> AuthzScope {
    AuthzScope::Role(name.to_owned())
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T>, reason: Reason) {
    match result {
        Err(err) => assert_eq!(err.reason(), reason, "{err:?}"),
        Ok(value) => panic!("expected {reason:?}, got Ok({value:?})"),
    }
}

/// The permissions `role` grants, as stored.
async fn grants(h: &Harness, role: &str) -> Vec<String> {
    let role = h.roles.existing_role(role).await.expect("role");
    h.roles
        .repo
        .permissions_of_role(role.id)
        .await
        .expect("grants")
}

/// A SUPERADMIN, and a manager: an ADMIN who also holds roles.write
/// through a custom role, but is no SUPERADMIN.
struct Cast {
    root: Actor,
    manager: Actor,
    manager_id: UserId,
}

async fn cast(h: &Harness) -> Cast {
    let (root, manager) = (UserId::new(), UserId::new());
    h.roles
        .assign(root, builtin::SUPERADMIN)
        .await
        .expect("root");
    h.roles
        .assign(manager, builtin::ADMIN)
        .await
        .expect("admin");
    h.roles
        .create_role(
            Actor::Machine,
            "ROLE_MANAGER".into(),
            None,
            names(&[permission::ROLES_WRITE, permission::ROLES_READ]),
        )
        .await
        .expect("manager role");
    h.roles
        .assign(manager, "ROLE_MANAGER")
        .await
        .expect("manager");
    h.take_authz().await;
    Cast {
        root: Actor::User(root),
        manager: Actor::User(manager),
        manager_id: manager,
    }
}

#[tokio::test]
async fn a_superadmin_administers_roles_and_each_change_is_announced() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    let invoices = h
        .roles
        .create_permission("invoices.read".into(), Some("Read invoices".into()))
        .await?;
    assert!(!invoices.builtin);
    assert!(
        grants(&h, builtin::SUPERADMIN)
            .await
            .contains(&invoices.name)
    );
    assert_eq!(h.take_authz().await, [role_scope(builtin::SUPERADMIN)]);

    let billing = h
        .roles
        .create_role(
            c.root,
            "BILLING".into(),
            Some("Billing desk".into()),
            names(&["invoices.read", permission::USERS_READ, "invoices.read"]),
        )
        .await?;
    assert!(!billing.role.builtin);
    assert_eq!(
        billing.permissions,
        names(&["invoices.read", permission::USERS_READ])
    );
    assert_eq!(h.take_authz().await, [role_scope("BILLING")]);

    let updated = h
        .roles
        .update_role(
            c.root,
            "BILLING",
            RoleUpdate {
                description: Some(None),
                permissions: Some(names(&[permission::KEYS_WRITE])),
            },
        )
        .await?;
    assert_eq!(updated.role.description, None);
    assert_eq!(updated.permissions, names(&[permission::KEYS_WRITE]));
    assert_eq!(
        grants(&h, "BILLING").await,
        names(&[permission::KEYS_WRITE])
    );
    assert_eq!(h.take_authz().await, [role_scope("BILLING")]);

    assert!(
        h.roles
            .grant_permission(c.root, "BILLING", "invoices.read")
            .await?
    );
    assert!(
        !h.roles
            .grant_permission(c.root, "BILLING", "invoices.read")
            .await?
    );
    assert!(
        h.roles
            .revoke_permission(c.root, "BILLING", permission::KEYS_WRITE)
            .await?
    );
    assert!(
        !h.roles
            .revoke_permission(c.root, "BILLING", permission::KEYS_WRITE)
            .await?
    );
    assert_eq!(
        h.take_authz().await,
        [role_scope("BILLING"), role_scope("BILLING")],
        "repeats change nothing and announce nothing"
    );

    let holder = UserId::new();
    assert!(
        h.roles
            .assign_as(c.root, h.users.as_ref(), holder, "BILLING")
            .await?
    );
    assert_eq!(h.take_authz().await, [AuthzScope::User(holder)]);
    h.roles.delete_role(c.root, "BILLING", true).await?;
    assert_eq!(h.take_authz().await, [role_scope("BILLING")]);
    assert!(h.roles.repo.find_role("BILLING").await?.is_none());
    assert!(h.roles.role_names(holder).await?.is_empty());

    h.roles
        .grant_permission(c.root, builtin::ADMIN, "invoices.read")
        .await?;
    h.take_authz().await;
    h.roles.delete_permission("invoices.read").await?;
    let mut announced = h.take_authz().await;
    announced.sort_by_key(|scope| format!("{scope:?}"));
    assert_eq!(
        announced,
        [role_scope(builtin::ADMIN), role_scope(builtin::SUPERADMIN)]
    );
    assert!(
        !grants(&h, builtin::ADMIN)
            .await
            .contains(&"invoices.read".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn a_manager_who_is_no_superadmin_cannot_escalate() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    h.roles
        .create_permission("invoices.read".into(), None)
        .await?;
    h.take_authz().await;

    // No role with what the manager lacks, nor with a SUPERADMIN-only
    // permission, even one the manager holds.
    for wanted in [
        permission::KEYS_WRITE,
        permission::ROLES_WRITE,
        "invoices.read",
    ] {
        assert_refused(
            h.roles
                .create_role(c.manager, "SNEAKY".into(), None, names(&[wanted]))
                .await,
            Reason::AccessDenied,
        );
    }
    assert!(h.roles.repo.find_role("SNEAKY").await?.is_none());

    // What it holds, it may hand on, and take the role itself.
    h.roles
        .create_role(
            c.manager,
            "HELPDESK".into(),
            None,
            names(&[permission::USERS_READ]),
        )
        .await?;
    assert!(
        h.roles
            .grant_permission(c.manager, "HELPDESK", permission::SESSIONS_READ)
            .await?
    );
    assert!(
        h.roles
            .assign_as(c.manager, h.users.as_ref(), c.manager_id, "HELPDESK")
            .await?
    );
    h.take_authz().await;

    // Not through the custom role either.
    for wanted in [
        permission::KEYS_WRITE,
        permission::ROLES_WRITE,
        "invoices.read",
    ] {
        assert_refused(
            h.roles
                .grant_permission(c.manager, "HELPDESK", wanted)
                .await,
            Reason::AccessDenied,
        );
        assert_refused(
            h.roles
                .update_role(
                    c.manager,
                    "HELPDESK",
                    RoleUpdate {
                        description: Some(Some("more".into())),
                        permissions: Some(names(&[permission::USERS_READ, wanted])),
                    },
                )
                .await,
            Reason::AccessDenied,
        );
    }
    assert_eq!(
        grants(&h, "HELPDESK").await,
        names(&[permission::SESSIONS_READ, permission::USERS_READ])
    );
    assert_eq!(
        h.roles.existing_role("HELPDESK").await?.description,
        None,
        "a refused update changes nothing"
    );

    // A role granting a SUPERADMIN-only permission is not the manager's to
    // hand out, take back, strip or delete.
    let other = UserId::new();
    assert_refused(
        h.roles
            .assign_as(c.manager, h.users.as_ref(), other, "ROLE_MANAGER")
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles
            .unassign_as(c.manager, c.manager_id, "ROLE_MANAGER")
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles
            .revoke_permission(c.manager, "ROLE_MANAGER", permission::ROLES_WRITE)
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles.delete_role(c.manager, "ROLE_MANAGER", true).await,
        Reason::AccessDenied,
    );
    assert!(h.roles.role_names(other).await?.is_empty());
    assert_eq!(
        h.roles.role_names(c.manager_id).await?,
        names(&[builtin::ADMIN, "HELPDESK", "ROLE_MANAGER"])
    );

    // SUPERADMIN is untouchable, in any spelling.
    for role in [builtin::SUPERADMIN, "superadmin"] {
        assert_refused(
            h.roles
                .assign_as(c.manager, h.users.as_ref(), other, role)
                .await,
            Reason::AccessDenied,
        );
    }
    assert_refused(
        h.roles
            .grant_permission(c.manager, builtin::SUPERADMIN, permission::USERS_READ)
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles
            .revoke_permission(c.manager, builtin::SUPERADMIN, permission::USERS_READ)
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles
            .update_role(
                c.manager,
                builtin::SUPERADMIN,
                RoleUpdate {
                    description: Some(Some("mine".into())),
                    permissions: None,
                },
            )
            .await,
        Reason::AccessDenied,
    );
    assert_refused(
        h.roles
            .delete_role(c.manager, builtin::SUPERADMIN, false)
            .await,
        Reason::AccessDenied,
    );
    assert!(h.take_authz().await.is_empty(), "refusals announce nothing");

    // The manager's own permissions never grew past what it was given.
    let held = h.roles.user_permissions(c.manager_id).await?;
    assert!(!held.contains(&permission::KEYS_WRITE.to_owned()));
    assert!(!held.contains(&"invoices.read".to_owned()));

    // Machine callers are not users: the auth layer held them to their RPCs.
    h.roles
        .create_role(
            Actor::Machine,
            "SIGNER".into(),
            None,
            names(&[permission::KEYS_WRITE]),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn built_in_roles_and_permissions_keep_what_latch_relies_on() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    h.roles
        .create_permission("invoices.read".into(), None)
        .await?;

    for role in builtin::ALL {
        assert_refused(
            h.roles.delete_role(c.root, role, true).await,
            Reason::BuiltinProtected,
        );
        assert!(h.roles.repo.find_role(role).await?.is_some());
    }
    for name in permission::BUILTIN {
        assert_refused(
            h.roles.delete_permission(name).await,
            Reason::BuiltinProtected,
        );
    }
    assert_refused(
        h.roles
            .revoke_permission(c.root, builtin::ADMIN, permission::USERS_READ)
            .await,
        Reason::BuiltinProtected,
    );
    assert_refused(
        h.roles
            .revoke_permission(c.root, builtin::SUPERADMIN, "invoices.read")
            .await,
        Reason::BuiltinProtected,
    );
    let admin_before = grants(&h, builtin::ADMIN).await;
    assert_refused(
        h.roles
            .update_role(
                c.root,
                builtin::ADMIN,
                RoleUpdate {
                    description: Some(Some("fewer".into())),
                    permissions: Some(names(&[permission::USERS_READ])),
                },
            )
            .await,
        Reason::BuiltinProtected,
    );
    assert_eq!(grants(&h, builtin::ADMIN).await, admin_before);

    // What was added to a built-in role later may go again.
    assert!(
        h.roles
            .grant_permission(c.root, builtin::ADMIN, "invoices.read")
            .await?
    );
    assert!(
        h.roles
            .revoke_permission(c.root, builtin::ADMIN, "invoices.read")
            .await?
    );
    // A description is no grant.
    let renamed = h
        .roles
        .update_role(
            c.root,
            builtin::SUPERADMIN,
            RoleUpdate {
                description: Some(Some("Root".into())),
                permissions: None,
            },
        )
        .await?;
    assert_eq!(renamed.role.description.as_deref(), Some("Root"));
    assert!(renamed.permissions.contains(&"invoices.read".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_role_in_use_is_deleted_only_when_forced() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    h.roles
        .create_role(
            c.root,
            "SUPPORT".into(),
            None,
            names(&[permission::USERS_READ]),
        )
        .await?;
    let (ada, bob) = (UserId::new(), UserId::new());
    h.roles.assign(ada, "SUPPORT").await?;
    h.roles.assign(bob, "SUPPORT").await?;
    h.take_authz().await;

    let err = h
        .roles
        .delete_role(c.root, "SUPPORT", false)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::RoleInUse);
    assert!(err.message().contains("2 user"), "{err:?}");
    assert_eq!(h.roles.role_names(ada).await?, names(&["SUPPORT"]));
    assert!(h.take_authz().await.is_empty());

    h.roles.delete_role(c.manager, "SUPPORT", true).await?;
    assert!(h.roles.role_names(ada).await?.is_empty());
    assert!(h.roles.user_permissions(bob).await?.is_empty());
    assert_eq!(h.take_authz().await, [role_scope("SUPPORT")]);
    Ok(())
}

#[tokio::test]
async fn unknowns_and_duplicates_are_answered_and_change_nothing() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    assert_refused(
        h.roles
            .grant_permission(c.root, "NOPE", permission::USERS_READ)
            .await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles
            .grant_permission(c.root, builtin::USER, "nope.read")
            .await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles
            .revoke_permission(c.root, builtin::USER, "nope.read")
            .await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles.delete_role(c.root, "NOPE", true).await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles.delete_permission("nope.read").await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles
            .update_role(c.root, "NOPE", RoleUpdate::default())
            .await,
        Reason::NotFound,
    );
    assert_refused(
        h.roles
            .assign_as(c.manager, h.users.as_ref(), UserId::new(), "NOPE")
            .await,
        Reason::NotFound,
    );
    let ghost = UserId::new();
    h.users.gone(ghost);
    let err = h
        .roles
        .assign_as(c.root, h.users.as_ref(), ghost, builtin::USER)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert!(err.message().contains("user"), "{err:?}");
    assert!(h.roles.role_names(ghost).await?.is_empty());
    h.take_authz().await;
    let err = h
        .roles
        .create_role(c.root, "GHOSTS".into(), None, names(&["ghosts.read"]))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert!(err.message().contains("ghosts.read"), "{err:?}");
    assert!(h.roles.repo.find_role("GHOSTS").await?.is_none());

    assert_refused(
        h.roles
            .create_role(c.root, builtin::ADMIN.into(), None, Vec::new())
            .await,
        Reason::AlreadyExists,
    );
    assert_refused(
        h.roles
            .create_role(c.root, "admin".into(), None, Vec::new())
            .await,
        Reason::InvalidArgument,
    );
    assert_refused(
        h.roles
            .create_permission(permission::USERS_READ.into(), None)
            .await,
        Reason::AlreadyExists,
    );
    assert!(h.take_authz().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn assignments_and_erasure_are_announced_per_user() -> Result<()> {
    let h = Harness::new().await;
    let ada = UserId::new();
    assert!(h.roles.assign(ada, builtin::USER).await?);
    assert!(!h.roles.assign(ada, builtin::USER).await?);
    assert!(h.roles.assign(ada, builtin::ADMIN).await?);
    assert!(h.roles.unassign(ada, builtin::ADMIN).await?);
    assert!(!h.roles.unassign(ada, builtin::ADMIN).await?);
    assert_eq!(h.roles.erase_user(ada).await?, 1);
    assert_eq!(h.roles.erase_user(ada).await?, 0);
    assert_eq!(h.take_authz().await, vec![AuthzScope::User(ada); 4]);
    Ok(())
}

#[tokio::test]
async fn a_bus_that_is_down_fails_no_change_and_loses_no_event() -> Result<()> {
    let h = Harness::new().await;
    let c = cast(&h).await;
    h.bus.fail(true);
    h.roles
        .create_role(c.root, "QUIET".into(), None, Vec::new())
        .await?;
    let holder = UserId::new();
    assert!(
        h.roles
            .assign_as(c.root, h.users.as_ref(), holder, "QUIET")
            .await?
    );
    assert!(h.roles.repo.find_role("QUIET").await?.is_some());
    assert!(h.take_authz().await.is_empty(), "nothing got through");

    // The rows wait in the outbox and go once the bus is back.
    h.bus.fail(false);
    h.clock.advance(chrono::Duration::seconds(1));
    let mut announced = h.take_authz().await;
    announced.sort_by_key(|scope| format!("{scope:?}"));
    assert_eq!(announced, [role_scope("QUIET"), AuthzScope::User(holder)]);
    Ok(())
}

#[tokio::test]
async fn listings_go_by_name_a_page_at_a_time() -> Result<()> {
    let h = Harness::new().await;
    for name in ["A_ONE", "B_TWO"] {
        h.roles
            .create_role(
                Actor::Machine,
                name.into(),
                None,
                names(&[permission::USERS_READ]),
            )
            .await?;
    }
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = h.roles.list_roles(after.as_deref(), 2).await?;
        assert!(page.items.len() <= 2);
        listed.extend(page.items);
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let listed_names: Vec<&str> = listed.iter().map(|r| r.role.name.as_str()).collect();
    assert_eq!(
        listed_names,
        ["ADMIN", "A_ONE", "B_TWO", "SUPERADMIN", "USER"],
        "by name, every role once"
    );
    let whole = h.roles.list_roles(None, 5).await?;
    assert_eq!(whole.items.len(), 5);
    assert_eq!(
        whole.next_after, None,
        "a full last page says it is the last"
    );
    let a_one = listed
        .iter()
        .find(|r| r.role.name == "A_ONE")
        .expect("listed");
    assert_eq!(a_one.permissions, names(&[permission::USERS_READ]));
    let superadmin = listed
        .iter()
        .find(|r| r.role.builtin && r.role.name == "SUPERADMIN");
    assert_eq!(
        superadmin.map(|r| r.permissions.len()),
        Some(permission::BUILTIN.len())
    );

    let first = h.roles.list_permissions(None, 5).await?;
    let rest = h
        .roles
        .list_permissions(first.next_after.as_deref(), 5)
        .await?;
    assert_eq!(rest.next_after, None);
    let all: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|p| p.name.clone())
        .collect();
    let mut expected = names(&permission::BUILTIN);
    expected.sort();
    assert_eq!(all, expected);
    Ok(())
}
