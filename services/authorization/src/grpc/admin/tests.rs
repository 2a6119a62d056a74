use latch_domain::{
    SessionId, UserId,
    model::{builtin, permission},
    ports::{RoleDirectory, RoleRepository},
};
use latch_proto::latch::authorization::v1::authorization_service_server::AuthorizationService;
use latch_runtime::{
    auth::{Caller, request_as},
    status::reason_of,
};
use tonic::Code;
use tonic_types::StatusExt;

use super::*;
use crate::{grpc::AuthorizationGrpc, testing::Harness};

fn as_user(user: UserId) -> Caller {
    Caller::for_user(user, SessionId::generate().unwrap())
}

/// The code, reason and named field of a refusal.
fn refusal(status: &Status) -> (Code, String, Option<String>) {
    let field = status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()));
    (status.code(), reason_of(status).unwrap_or_default(), field)
}

fn invalid(field: &str) -> (Code, String, Option<String>) {
    (
        Code::InvalidArgument,
        "INVALID_ARGUMENT".to_owned(),
        Some(field.to_owned()),
    )
}

fn create(name: &str, permissions: &[&str]) -> pb::CreateRoleRequest {
    pb::CreateRoleRequest {
        name: name.into(),
        description: String::new(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    }
}

fn update(
    name: &str,
    paths: &[&str],
    description: &str,
    permissions: &[&str],
) -> pb::UpdateRoleRequest {
    pb::UpdateRoleRequest {
        role: Some(pb::Role {
            name: name.into(),
            description: description.into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// Every role name, page after page of `size`.
async fn all_roles(grpc: &AuthorizationGrpc, caller: &Caller, size: i32) -> Vec<String> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = grpc
            .list_roles(request_as(
                caller.clone(),
                pb::ListRolesRequest {
                    page_size: size,
                    page_token: page_token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        names.extend(page.roles.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn malformed_requests_name_their_field_and_change_nothing() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let root = UserId::new();
    h.roles.assign(root, builtin::SUPERADMIN).await.unwrap();
    let caller = as_user(root);
    let before = all_roles(&grpc, &caller, 0).await;

    for (request, field) in [
        (create("", &[]), "name"),
        (create("a role", &[]), "name"),
        (create("ROLE", &["Users.Read"]), "permissions"),
        (create("ROLE", &["users"]), "permissions"),
    ] {
        let err = grpc
            .create_role(request_as(caller.clone(), request))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), invalid(field), "{err:?}");
    }
    let too_long = pb::CreateRoleRequest {
        description: "x".repeat(256),
        ..create("ROLE", &[])
    };
    let err = grpc
        .create_role(request_as(caller.clone(), too_long))
        .await
        .unwrap_err();
    assert_eq!(refusal(&err), invalid("description"));

    for (request, field) in [
        (update("ADMIN", &[], "", &[]), "update_mask"),
        (update("ADMIN", &["name"], "", &[]), "update_mask"),
        (update("ADMIN", &["builtin"], "", &[]), "update_mask"),
        (update("", &["description"], "", &[]), "role.name"),
        (
            update("ADMIN", &["permissions"], "", &["x"]),
            "role.permissions",
        ),
        (
            pb::UpdateRoleRequest {
                role: None,
                update_mask: None,
            },
            "role",
        ),
    ] {
        let err = grpc
            .update_role(request_as(caller.clone(), request))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), invalid(field), "{err:?}");
    }

    for (name, field) in [
        ("invoices", "name"),
        ("Invoices.Read", "name"),
        ("a.b.c", "name"),
    ] {
        let err = grpc
            .create_permission(request_as(
                caller.clone(),
                pb::CreatePermissionRequest {
                    name: name.into(),
                    description: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), invalid(field), "{name}");
    }
    for (role, permission, field) in [("", "users.read", "role"), ("ADMIN", "users", "permission")]
    {
        let err = grpc
            .grant_permission(request_as(
                caller.clone(),
                pb::GrantPermissionRequest {
                    role: role.into(),
                    permission: permission.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), invalid(field));
    }
    for (page_size, page_token, field) in [(-1, "", "page_size"), (0, "bm90LW1pbmU", "page_token")]
    {
        let err = grpc
            .list_permissions(request_as(
                caller.clone(),
                pb::ListPermissionsRequest {
                    page_size,
                    page_token: page_token.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), invalid(field));
    }

    assert_eq!(
        all_roles(&grpc, &caller, 0).await,
        before,
        "nothing changed"
    );
    assert_eq!(
        h.roles
            .repo
            .permissions_of_role(h.repo.find_role("ADMIN").await.unwrap().unwrap().id)
            .await
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn roles_are_created_updated_listed_and_deleted_over_grpc() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let root = UserId::new();
    h.roles.assign(root, builtin::SUPERADMIN).await.unwrap();
    let caller = as_user(root);

    let created = grpc
        .create_role(request_as(
            caller.clone(),
            pb::CreateRoleRequest {
                description: "Reads users".into(),
                ..create(
                    "READER",
                    &[permission::USERS_READ, permission::SESSIONS_READ],
                )
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(created.name, "READER");
    assert!(!created.builtin);
    assert_eq!(
        created.permissions,
        [permission::SESSIONS_READ, permission::USERS_READ]
    );

    let updated = grpc
        .update_role(request_as(
            caller.clone(),
            update(
                "READER",
                &["description"],
                "Reads",
                &[permission::KEYS_WRITE],
            ),
        ))
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(updated.description, "Reads");
    assert_eq!(
        updated.permissions,
        [permission::SESSIONS_READ, permission::USERS_READ],
        "only the masked field changes"
    );

    let mut names = all_roles(&grpc, &caller, 2).await;
    assert_eq!(names, ["ADMIN", "READER", "SUPERADMIN", "USER"]);

    let holder = UserId::new();
    h.roles.assign(holder, "READER").await.unwrap();
    let delete = |force| pb::DeleteRoleRequest {
        role: "READER".into(),
        force,
    };
    let err = grpc
        .delete_role(request_as(caller.clone(), delete(false)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).as_deref(), Some("ROLE_IN_USE"));
    assert!(err.message().contains("1 user"), "{err:?}");
    grpc.delete_role(request_as(caller.clone(), delete(true)))
        .await
        .unwrap();
    names.retain(|n| n != "READER");
    assert_eq!(all_roles(&grpc, &caller, 0).await, names);
    assert!(h.roles.role_names(holder).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_below_superadmin_is_held_to_what_it_holds() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let admin = UserId::new();
    h.roles.assign(admin, builtin::ADMIN).await.unwrap();
    let err = grpc
        .create_role(request_as(
            as_user(admin),
            create("SIGNER", &[permission::KEYS_WRITE]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&err).as_deref(), Some("ACCESS_DENIED"));

    // Latch's own services and service accounts are not users.
    for (machine, name) in [
        (Caller::for_service(), "SIGNER_A"),
        (Caller::for_account("ops", false), "SIGNER_B"),
    ] {
        grpc.create_role(request_as(machine, create(name, &[permission::KEYS_WRITE])))
            .await
            .unwrap();
    }
}
