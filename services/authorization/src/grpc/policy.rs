//! The caller class of every `AuthorizationService` RPC, as written beside
//! each RPC in `proto/latch/authorization/v1/authorization.proto`. Admin
//! RPCs are `User` here: the handler checks the named permission.

use latch_domain::model::permission;
use latch_runtime::auth::{Access, Rule, ServicePolicy};

pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.authorization.v1.AuthorizationService",
    methods: &[
        // user, internal, service account
        (
            "Check",
            Access::UserOrService,
            Rule::SelfOnly { field: "user_id" },
        ),
        // user, admin [roles.read], internal, service account
        (
            "ListUserPermissions",
            Access::UserOrService,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::ROLES_READ,
            },
        ),
        (
            "ListUserRoles",
            Access::UserOrService,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::ROLES_READ,
            },
        ),
        // admin [roles.write] / [roles.read]
        (
            "CreateRole",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "UpdateRole",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "DeleteRole",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "ListRoles",
            Access::User,
            Rule::Permission(permission::ROLES_READ),
        ),
        (
            "CreatePermission",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "DeletePermission",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "ListPermissions",
            Access::User,
            Rule::Permission(permission::ROLES_READ),
        ),
        (
            "GrantPermission",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "RevokePermission",
            Access::User,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        // admin [roles.write], internal
        (
            "AssignRole",
            Access::UserOrInternal,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        (
            "UnassignRole",
            Access::UserOrInternal,
            Rule::Permission(permission::ROLES_WRITE),
        ),
        // internal: a deleted user's part, from identity's outbox
        ("DeleteUserRoles", Access::Internal, Rule::None),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};
