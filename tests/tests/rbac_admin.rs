//! Role and permission administration over gRPC on both backends: every
//! RPC for a SUPERADMIN; an ADMIN (even one holding `roles.write` through
//! a custom role) refused every escalation; built-in roles, permissions
//! and grants kept; a role in use deleted only when forced; bad input
//! answered with a stable reason and the data read back unchanged.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use latch_domain::{
    UserId,
    model::{builtin, permission},
    ports::RoleRepository,
};
use latch_proto::latch::{
    authorization::v1::{
        AssignRoleRequest, CheckRequest, CreatePermissionRequest, CreateRoleRequest,
        DeletePermissionRequest, DeleteRoleRequest, GrantPermissionRequest, ListPermissionsRequest,
        ListRolesRequest, ListUserPermissionsRequest, RevokePermissionRequest, Role,
        UnassignRoleRequest, UpdateRoleRequest,
        authorization_service_client::AuthorizationServiceClient,
    },
    common::v1::AuthResult,
};
use latch_store::sql::SqlRoles;
use latch_tests::{TestLatchd, assert_refused, bad_field, bearer, e2e, must};
use tonic::{Code, Status, transport::Channel};

e2e!(
    a_superadmin_administers_roles_and_permissions,
    an_admin_cannot_escalate,
    built_ins_keep_their_grants,
    a_role_in_use_is_deleted_only_when_forced,
    bad_input_is_answered_and_changes_nothing
);

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The authorization client, and the requests of one signed-in user.
struct Admin {
    client: AuthorizationServiceClient<Channel>,
    token: String,
}

impl Admin {
    fn of(latchd: &TestLatchd, auth: &AuthResult) -> Self {
        Self {
            client: latchd.authorization(),
            token: auth.access_token.clone(),
        }
    }

    async fn create_role(&mut self, name: &str, permissions: &[&str]) -> Result<Role, Status> {
        let request = CreateRoleRequest {
            name: name.into(),
            description: format!("{name} role"),
            permissions: names(permissions),
        };
        let reply = self
            .client
            .create_role(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().role.expect("role"))
    }

    async fn update_role(
        &mut self,
        name: &str,
        paths: &[&str],
        description: &str,
        permissions: &[&str],
    ) -> Result<Role, Status> {
        let request = UpdateRoleRequest {
            role: Some(Role {
                name: name.into(),
                description: description.into(),
                permissions: names(permissions),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: names(paths),
            }),
        };
        let reply = self
            .client
            .update_role(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().role.expect("role"))
    }

    async fn delete_role(&mut self, name: &str, force: bool) -> Result<(), Status> {
        let request = DeleteRoleRequest {
            role: name.into(),
            force,
        };
        self.client
            .delete_role(bearer(request, &self.token))
            .await
            .map(drop)
    }

    async fn grant(&mut self, role: &str, permission: &str) -> Result<bool, Status> {
        let request = GrantPermissionRequest {
            role: role.into(),
            permission: permission.into(),
        };
        let reply = self
            .client
            .grant_permission(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().granted)
    }

    async fn revoke(&mut self, role: &str, permission: &str) -> Result<bool, Status> {
        let request = RevokePermissionRequest {
            role: role.into(),
            permission: permission.into(),
        };
        let reply = self
            .client
            .revoke_permission(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().revoked)
    }

    async fn create_permission(&mut self, name: &str) -> Result<(), Status> {
        let request = CreatePermissionRequest {
            name: name.into(),
            description: format!("may {name}"),
        };
        self.client
            .create_permission(bearer(request, &self.token))
            .await
            .map(drop)
    }

    async fn delete_permission(&mut self, name: &str) -> Result<(), Status> {
        let request = DeletePermissionRequest {
            permission: name.into(),
        };
        self.client
            .delete_permission(bearer(request, &self.token))
            .await
            .map(drop)
    }

    async fn assign(&mut self, user: &str, role: &str) -> Result<bool, Status> {
        let request = AssignRoleRequest {
            user_id: user.into(),
            role: role.into(),
        };
        let reply = self
            .client
            .assign_role(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().assigned)
    }

    async fn unassign(&mut self, user: &str, role: &str) -> Result<bool, Status> {
        let request = UnassignRoleRequest {
            user_id: user.into(),
            role: role.into(),
        };
        let reply = self
            .client
            .unassign_role(bearer(request, &self.token))
            .await?;
        Ok(reply.into_inner().unassigned)
    }

    /// Every role by name, read two at a time.
    async fn roles(&mut self) -> BTreeMap<String, Role> {
        let mut roles = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListRolesRequest {
                page_size: 2,
                page_token: page_token.clone(),
            };
            let page = must(
                self.client.list_roles(bearer(request, &self.token)).await,
                "list roles",
            )
            .into_inner();
            assert!(page.roles.len() <= 2);
            roles.extend(page.roles);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let listed: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted, "by name, each once");
        roles.into_iter().map(|r| (r.name.clone(), r)).collect()
    }

    /// Every permission by name (with its built-in flag), four at a time.
    async fn permissions(&mut self) -> BTreeMap<String, bool> {
        let mut all = BTreeMap::new();
        let mut page_token = String::new();
        loop {
            let request = ListPermissionsRequest {
                page_size: 4,
                page_token: page_token.clone(),
            };
            let page = must(
                self.client
                    .list_permissions(bearer(request, &self.token))
                    .await,
                "list permissions",
            )
            .into_inner();
            for p in page.permissions {
                assert!(all.insert(p.name, p.builtin).is_none(), "listed once");
            }
            if page.next_page_token.is_empty() {
                return all;
            }
            page_token = page.next_page_token;
        }
    }

    /// The caller's own permissions.
    async fn own_permissions(&mut self) -> Vec<String> {
        let request = ListUserPermissionsRequest::default();
        must(
            self.client
                .list_user_permissions(bearer(request, &self.token))
                .await,
            "own permissions",
        )
        .into_inner()
        .permissions
    }
}

/// The roles `user` holds, read from the tables.
async fn stored_roles(latchd: &TestLatchd, user: &str) -> Vec<String> {
    let user = UserId::parse("user_id", user).expect("user id");
    SqlRoles::new(latchd.infra.db.clone())
        .roles_of_user(user)
        .await
        .expect("roles")
        .into_iter()
        .map(|r| r.name)
        .collect()
}

/// Whether `user` holds `permission`, as Latch's own services ask.
async fn holds(latchd: &TestLatchd, user: &str, permission: &str) -> bool {
    must(
        latchd
            .authorization()
            .check(latchd.internal(CheckRequest {
                user_id: user.into(),
                permission: permission.into(),
                resource: String::new(),
            }))
            .await,
        "check",
    )
    .into_inner()
    .allowed
}

fn permissions_of(roles: &BTreeMap<String, Role>, role: &str) -> Vec<String> {
    roles.get(role).expect("listed").permissions.clone()
}

async fn a_superadmin_administers_roles_and_permissions(latchd: TestLatchd) {
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let clerk = latchd.signed_up("clerk@example.com").await;
    let mut a = Admin::of(&latchd, &root);

    must(
        a.create_permission("invoices.read").await,
        "create permission",
    );
    let permissions = a.permissions().await;
    assert_eq!(permissions.len(), permission::BUILTIN.len() + 1);
    assert_eq!(permissions.get("invoices.read"), Some(&false));
    assert!(permission::BUILTIN.iter().all(|p| permissions[*p]));
    assert!(
        permissions_of(&a.roles().await, builtin::SUPERADMIN).contains(&"invoices.read".into()),
        "SUPERADMIN holds every permission, new ones too"
    );

    let billing = must(
        a.create_role("BILLING", &["invoices.read"]).await,
        "create role",
    );
    assert!(!billing.builtin);
    assert_eq!(billing.permissions, ["invoices.read"]);
    let updated = must(
        a.update_role("BILLING", &["description"], "Invoices desk", &[])
            .await,
        "update",
    );
    assert_eq!(updated.description, "Invoices desk");
    assert_eq!(updated.permissions, ["invoices.read"], "not in the mask");

    assert!(must(
        a.grant("BILLING", permission::USERS_READ).await,
        "grant"
    ));
    assert!(!must(
        a.grant("BILLING", permission::USERS_READ).await,
        "again"
    ));
    assert!(must(a.revoke("BILLING", "invoices.read").await, "revoke"));
    assert!(!must(a.revoke("BILLING", "invoices.read").await, "again"));
    assert!(must(
        a.grant("BILLING", "invoices.read").await,
        "grant back"
    ));
    let replaced = must(
        a.update_role(
            "BILLING",
            &["permissions"],
            "",
            &[permission::SESSIONS_READ],
        )
        .await,
        "replace",
    );
    assert_eq!(replaced.permissions, [permission::SESSIONS_READ]);
    assert_eq!(replaced.description, "Invoices desk");

    assert!(must(a.assign(&clerk.user_id, "BILLING").await, "assign"));
    assert!(holds(&latchd, &clerk.user_id, permission::SESSIONS_READ).await);
    assert!(must(
        a.unassign(&clerk.user_id, "BILLING").await,
        "unassign"
    ));
    assert!(!holds(&latchd, &clerk.user_id, permission::SESSIONS_READ).await);

    must(a.delete_role("BILLING", false).await, "delete unused role");
    assert!(!a.roles().await.contains_key("BILLING"));
    must(
        a.grant(builtin::ADMIN, "invoices.read").await,
        "grant to ADMIN",
    );
    must(
        a.delete_permission("invoices.read").await,
        "delete permission",
    );
    let roles = a.roles().await;
    for role in [builtin::ADMIN, builtin::SUPERADMIN] {
        assert!(
            !permissions_of(&roles, role).contains(&"invoices.read".into()),
            "{role} lost it with the permission"
        );
    }
    assert!(!a.permissions().await.contains_key("invoices.read"));
}

async fn an_admin_cannot_escalate(latchd: TestLatchd) {
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let admin = latchd.with_role("admin@example.org", builtin::ADMIN).await;
    // An ADMIN who also manages roles: roles.write, given by a SUPERADMIN.
    let manager = latchd
        .with_role("manager@example.org", builtin::ADMIN)
        .await;
    let bystander = latchd.signed_up("bystander@example.com").await;
    let mut r = Admin::of(&latchd, &root);
    must(
        r.create_role(
            "ROLE_MANAGER",
            &[permission::ROLES_WRITE, permission::ROLES_READ],
        )
        .await,
        "manager role",
    );
    must(r.assign(&manager.user_id, "ROLE_MANAGER").await, "manager");
    must(r.create_permission("invoices.read").await, "permission");
    let before = r.roles().await;

    // A plain ADMIN holds no roles.write at all.
    let mut a = Admin::of(&latchd, &admin);
    for wanted in [permission::KEYS_WRITE, permission::ROLES_WRITE] {
        assert_refused(
            a.create_role("SNEAKY", &[wanted]).await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
    }

    let mut m = Admin::of(&latchd, &manager);
    // Nothing it lacks, nothing SUPERADMIN-only, even what it holds.
    for wanted in [
        permission::KEYS_WRITE,
        permission::ROLES_WRITE,
        "invoices.read",
    ] {
        assert_refused(
            m.create_role("SNEAKY", &[permission::USERS_READ, wanted])
                .await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
    }
    // What it holds it may pass on, and take itself.
    must(
        m.create_role("HELPDESK", &[permission::USERS_READ]).await,
        "helpdesk",
    );
    assert!(must(m.assign(&manager.user_id, "HELPDESK").await, "self"));
    // Not through the custom role either.
    for wanted in [
        permission::KEYS_WRITE,
        permission::ROLES_WRITE,
        "invoices.read",
    ] {
        assert_refused(
            m.grant("HELPDESK", wanted).await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
        assert_refused(
            m.update_role(
                "HELPDESK",
                &["description", "permissions"],
                "more",
                &[permission::USERS_READ, wanted],
            )
            .await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
    }
    // Roles granting SUPERADMIN-only permissions, SUPERADMIN first.
    for role in ["ROLE_MANAGER", builtin::SUPERADMIN] {
        assert_refused(
            m.assign(&bystander.user_id, role).await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
        assert_refused(
            m.delete_role(role, true).await,
            Code::PermissionDenied,
            "ACCESS_DENIED",
        );
    }
    assert_refused(
        m.unassign(&root.user_id, builtin::SUPERADMIN).await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    assert_refused(
        m.revoke("ROLE_MANAGER", permission::ROLES_WRITE).await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    assert_refused(
        m.grant(builtin::SUPERADMIN, permission::USERS_READ).await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    assert_refused(
        m.revoke(builtin::SUPERADMIN, "invoices.read").await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    assert_refused(
        m.update_role(builtin::SUPERADMIN, &["description"], "mine", &[])
            .await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );

    // Read back: nothing moved but the one role it was allowed to make.
    let mut after = r.roles().await;
    let helpdesk = after.remove("HELPDESK").expect("helpdesk");
    assert_eq!(helpdesk.permissions, [permission::USERS_READ]);
    assert_eq!(helpdesk.description, "HELPDESK role");
    assert_eq!(after, before);
    assert_eq!(stored_roles(&latchd, &bystander.user_id).await, ["USER"]);
    assert_eq!(
        stored_roles(&latchd, &root.user_id).await,
        ["SUPERADMIN", "USER"]
    );
    let own = m.own_permissions().await;
    assert!(!own.contains(&permission::KEYS_WRITE.into()), "{own:?}");
    assert!(!own.contains(&"invoices.read".into()), "{own:?}");
}

async fn built_ins_keep_their_grants(latchd: TestLatchd) {
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let mut r = Admin::of(&latchd, &root);
    let before = r.roles().await;
    for role in builtin::ALL {
        for force in [false, true] {
            assert_refused(
                r.delete_role(role, force).await,
                Code::FailedPrecondition,
                "BUILTIN_PROTECTED",
            );
        }
    }
    for name in permission::BUILTIN {
        assert_refused(
            r.delete_permission(name).await,
            Code::FailedPrecondition,
            "BUILTIN_PROTECTED",
        );
    }
    assert_refused(
        r.revoke(builtin::ADMIN, permission::USERS_READ).await,
        Code::FailedPrecondition,
        "BUILTIN_PROTECTED",
    );
    assert_refused(
        r.revoke(builtin::SUPERADMIN, permission::KEYS_WRITE).await,
        Code::FailedPrecondition,
        "BUILTIN_PROTECTED",
    );
    assert_refused(
        r.update_role(builtin::ADMIN, &["permissions"], "", &[])
            .await,
        Code::FailedPrecondition,
        "BUILTIN_PROTECTED",
    );
    assert_eq!(r.roles().await, before, "nothing changed");
    assert_eq!(
        permissions_of(&before, builtin::SUPERADMIN).len(),
        permission::BUILTIN.len()
    );
    assert_eq!(permissions_of(&before, builtin::ADMIN).len(), 7);
    assert!(permissions_of(&before, builtin::USER).is_empty());
    let permissions = r.permissions().await;
    assert_eq!(permissions.len(), permission::BUILTIN.len());
    assert!(permissions.values().all(|builtin| *builtin));
}

async fn a_role_in_use_is_deleted_only_when_forced(latchd: TestLatchd) {
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let ada = latchd.signed_up("ada@example.com").await;
    let bob = latchd.signed_up("bob@example.com").await;
    let mut r = Admin::of(&latchd, &root);
    must(
        r.create_role("SUPPORT", &[permission::USERS_READ]).await,
        "role",
    );
    for user in [&ada, &bob] {
        must(r.assign(&user.user_id, "SUPPORT").await, "assign");
    }

    let refused = r.delete_role("SUPPORT", false).await.unwrap_err();
    assert_eq!(
        (refused.code(), latch_tests::reason(&refused).as_str()),
        (Code::FailedPrecondition, "ROLE_IN_USE")
    );
    assert!(refused.message().contains("2 user"), "{refused:?}");
    assert!(r.roles().await.contains_key("SUPPORT"));
    assert_eq!(
        stored_roles(&latchd, &ada.user_id).await,
        ["SUPPORT", "USER"]
    );

    must(r.delete_role("SUPPORT", true).await, "forced");
    assert!(!r.roles().await.contains_key("SUPPORT"));
    for user in [&ada, &bob] {
        assert_eq!(stored_roles(&latchd, &user.user_id).await, ["USER"]);
    }
    assert_refused(
        r.delete_role("SUPPORT", true).await,
        Code::NotFound,
        "NOT_FOUND",
    );
}

async fn bad_input_is_answered_and_changes_nothing(latchd: TestLatchd) {
    let root = latchd
        .with_role("root@example.org", builtin::SUPERADMIN)
        .await;
    let plain = latchd.signed_up("plain@example.com").await;
    let mut r = Admin::of(&latchd, &root);
    must(
        r.create_role("AUDITOR", &[permission::USERS_READ]).await,
        "role",
    );
    let roles = r.roles().await;
    let permissions = r.permissions().await;

    // A user without roles.write is refused by the auth layer.
    let mut p = Admin::of(&latchd, &plain);
    assert_refused(
        p.create_role("MINE", &[]).await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    assert_refused(
        p.create_permission("mine.read").await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );

    // Unknown things are NOT_FOUND.
    for result in [
        r.grant("NOPE", permission::USERS_READ).await,
        r.grant("AUDITOR", "nope.read").await,
        r.revoke("AUDITOR", "nope.read").await,
        r.assign(&UserId::new().to_string(), "AUDITOR").await,
        r.assign(&plain.user_id, "NOPE").await,
    ] {
        assert_refused(result, Code::NotFound, "NOT_FOUND");
    }
    assert_refused(
        r.delete_permission("nope.read").await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_refused(
        r.create_role("GHOSTS", &["ghosts.read"]).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_refused(
        r.update_role("NOPE", &["description"], "x", &[]).await,
        Code::NotFound,
        "NOT_FOUND",
    );

    // Malformed input names its field.
    for (result, field) in [
        (r.create_role("a role", &[]).await, "name"),
        (r.create_role("BAD", &["Users.Read"]).await, "permissions"),
        (
            r.update_role("AUDITOR", &["name"], "", &[]).await,
            "update_mask",
        ),
        (r.update_role("AUDITOR", &[], "", &[]).await, "update_mask"),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(bad_field(&err).as_deref(), Some(field), "{err:?}");
    }
    for (name, field) in [
        ("invoices", "name"),
        ("Invoices.read", "name"),
        ("in.voi.ces", "name"),
    ] {
        let err = r.create_permission(name).await.unwrap_err();
        assert_eq!(bad_field(&err).as_deref(), Some(field), "{name}");
    }
    let err = r.grant("AUDITOR", "users").await.unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("permission"));
    let err = r.assign("not-a-user-id", "AUDITOR").await.unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("user_id"));
    let err = r
        .client
        .list_roles(bearer(
            ListRolesRequest {
                page_size: 0,
                page_token: "forged".into(),
            },
            &r.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("page_token"));

    // Duplicates: a second create is refused, a second grant is no change.
    assert_refused(
        r.create_role("AUDITOR", &[]).await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    assert_refused(
        r.create_permission(permission::USERS_READ).await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    assert!(!must(
        r.grant("AUDITOR", permission::USERS_READ).await,
        "dup"
    ));

    assert_eq!(r.roles().await, roles, "no role changed");
    assert_eq!(r.permissions().await, permissions, "no permission changed");
    assert_eq!(stored_roles(&latchd, &plain.user_id).await, ["USER"]);
}
