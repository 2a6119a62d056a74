use latch_domain::{
    SessionId, UserId,
    model::{builtin, permission},
    ports::RoleDirectory,
};
use latch_runtime::{
    auth::{request_as, request_through},
    status::reason_of,
};
use tonic::{Code, Request, Status};

use super::*;
use crate::{Actor, testing::Harness};

/// `message` from `caller` through the policy's rule for `rpc` (as the auth
/// layer applies it), then to the handler `call`.
async fn through<'g, M, R, F>(
    h: &Harness,
    rpc: &str,
    grpc: &'g AuthorizationGrpc,
    call: impl FnOnce(&'g AuthorizationGrpc, Request<M>) -> F,
    caller: Caller,
    message: M,
) -> Result<R, Status>
where
    M: prost::Message,
    F: std::future::Future<Output = Result<R, Status>>,
{
    let request = request_through(&POLICY, rpc, caller, message, h.roles.as_ref()).await?;
    call(grpc, request).await
}

fn check(user_id: &str, permission: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        user_id: user_id.into(),
        permission: permission.into(),
        resource: String::new(),
    }
}

fn assign(user: UserId, role: &str) -> pb::AssignRoleRequest {
    pb::AssignRoleRequest {
        user_id: user.to_string(),
        role: role.into(),
    }
}

#[tokio::test]
async fn users_may_check_only_themselves_and_services_anyone() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let ada = UserId::new();
    let bob = UserId::new();
    h.roles.assign(ada, builtin::SUPERADMIN).await.unwrap();

    let own = through(
        &h,
        "Check",
        &grpc,
        |g, r| g.check(r),
        Caller::for_user(ada, SessionId::generate().unwrap()),
        check("", permission::USERS_READ),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(own.allowed);
    assert!(own.reason.is_empty());

    let other = through(
        &h,
        "Check",
        &grpc,
        |g, r| g.check(r),
        Caller::for_user(bob, SessionId::generate().unwrap()),
        check(&ada.to_string(), permission::USERS_READ),
    )
    .await
    .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);

    let by_service = through(
        &h,
        "Check",
        &grpc,
        |g, r| g.check(r),
        Caller::for_service(),
        check(&bob.to_string(), permission::USERS_READ),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(!by_service.allowed);
    assert!(!by_service.reason.is_empty());

    for bad in [
        check("", permission::USERS_READ),
        check(&bob.to_string(), " "),
    ] {
        let status = grpc
            .check(request_as(Caller::for_service(), bad))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn listing_another_users_roles_needs_roles_read() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let ada = UserId::new();
    let admin = UserId::new();
    h.roles.assign(ada, builtin::USER).await.unwrap();
    h.roles.assign(admin, builtin::ADMIN).await.unwrap();

    let own = through(
        &h,
        "ListUserRoles",
        &grpc,
        |g, r| g.list_user_roles(r),
        Caller::for_user(ada, SessionId::generate().unwrap()),
        pb::ListUserRolesRequest::default(),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(own.roles.len(), 1);
    assert_eq!(own.roles[0].name, "USER");

    let denied = through(
        &h,
        "ListUserPermissions",
        &grpc,
        |g, r| g.list_user_permissions(r),
        Caller::for_user(ada, SessionId::generate().unwrap()),
        pb::ListUserPermissionsRequest {
            user_id: admin.to_string(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&denied).as_deref(), Some("ACCESS_DENIED"));

    let listed = through(
        &h,
        "ListUserPermissions",
        &grpc,
        |g, r| g.list_user_permissions(r),
        Caller::for_user(admin, SessionId::generate().unwrap()),
        pb::ListUserPermissionsRequest {
            user_id: ada.to_string(),
        },
    )
    .await
    .unwrap()
    .into_inner();
    assert!(listed.permissions.is_empty(), "USER grants nothing");
}

#[tokio::test]
async fn services_assign_the_default_role_idempotently() {
    let h = Harness::new().await;
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());
    let ada = UserId::new();
    let first = grpc
        .assign_role(request_as(Caller::for_service(), assign(ada, "USER")))
        .await
        .unwrap()
        .into_inner();
    let second = grpc
        .assign_role(request_as(Caller::for_service(), assign(ada, "USER")))
        .await
        .unwrap()
        .into_inner();
    assert!(first.assigned);
    assert!(!second.assigned);

    let unknown = grpc
        .assign_role(request_as(Caller::for_service(), assign(ada, "WIZARD")))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn only_a_superadmin_hands_out_superadmin() {
    let h = Harness::new().await;
    let manager = UserId::new();
    let root = UserId::new();
    let ada = UserId::new();
    h.roles.assign(root, builtin::SUPERADMIN).await.unwrap();
    // A role manager: holds roles.write (through a custom role a machine
    // made), but is no SUPERADMIN. The layer required roles.write.
    h.roles
        .create_role(
            Actor::Machine,
            "ROLE_MANAGER".into(),
            None,
            vec![permission::ROLES_WRITE.into()],
        )
        .await
        .unwrap();
    h.roles.assign(manager, "ROLE_MANAGER").await.unwrap();
    let grpc = AuthorizationGrpc::new(h.roles.clone(), h.users.clone());

    grpc.assign_role(request_as(
        Caller::for_user(manager, SessionId::generate().unwrap()),
        assign(ada, "ADMIN"),
    ))
    .await
    .unwrap();
    for role in ["SUPERADMIN", "superadmin"] {
        let refused = grpc
            .assign_role(request_as(
                Caller::for_user(manager, SessionId::generate().unwrap()),
                assign(ada, role),
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{role}");
    }
    let refused = grpc
        .unassign_role(request_as(
            Caller::for_user(manager, SessionId::generate().unwrap()),
            pb::UnassignRoleRequest {
                user_id: root.to_string(),
                role: "SUPERADMIN".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    grpc.assign_role(request_as(
        Caller::for_user(root, SessionId::generate().unwrap()),
        assign(ada, "SUPERADMIN"),
    ))
    .await
    .unwrap();
    assert!(h.roles.is_superadmin(ada).await.unwrap());
}
